"""MP4 clip muxing: remux packets into a fragmented MP4 (`.part` until closed). Blocking: threads only."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import av
from av.container import OutputContainer
from av.stream import Stream

from vsnative.media.packets import EncodedPacket, MediaTrack, StreamInfo

PART_SUFFIX = ".part"
# delay_moov: the moov goes out with the first fragment, when each track's first timestamp is known, so an
# edit list keeps the audio where it belongs (with a moov written empty at once, every track of a clip
# starts at 0 and the audio was shifted by up to one audio frame: 128 ms for AAC made from G.711)
MP4_OPTIONS = {"movflags": "frag_keyframe+empty_moov+delay_moov+default_base_moof", "flush_packets": "1"}


def descriptors_of(key: tuple[int, int]) -> list[int]:
    """This process's open descriptors of the file (st_dev, st_ino) `key`, from /proc/self/fd (Linux)."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            stat = os.stat(f"/proc/self/fd/{name}")
        except OSError:
            continue  # closed meanwhile, or not a file
        if (stat.st_dev, stat.st_ino) == key:
            found.append(int(name))
    return found


@dataclass(frozen=True, slots=True)
class ClipInfo:
    """A closed clip: where it is and what it covers."""

    path: Path
    start: float  # wall clock of the first frame, seconds since the epoch
    duration: float  # seconds
    frames: int  # video frames
    size: int  # bytes
    token: int | None = None  # the fencing token of the lease it was written under


class ClipWriter:
    """Writes one clip. Timestamps are rebased so the clip starts at 0; video decides the clip's start."""

    def __init__(
        self,
        path: Path,
        first: EncodedPacket,
        start_wallclock: float,
        tracks: tuple[MediaTrack, ...] | None = None,
        token: int | None = None,
        frame_ticks: int = 0,
    ) -> None:
        """`tracks`: what the clip holds, when it differs from the session's (converted audio); `token`:
        the fencing token of the lease it is written under; `frame_ticks`: the video's frame interval as
        the clip before it measured it (a clip of one frame, cut at a stop, lasts that long, not 0 s)."""
        if not (first.is_video and first.keyframe):
            raise ValueError("a clip starts with a video keyframe")
        self.path = path
        self.part = path.with_name(path.name + PART_SUFFIX)
        self.info: StreamInfo = first.info
        self.start_wallclock = start_wallclock
        self.token = token
        self.frames = 0
        self.first_dts = first.dts
        self._video = first.track
        self._video_tb = first.time_base
        self._last_video_dts = first.dts
        self._frame_ticks = frame_ticks
        self._cut = float("inf")  # seconds (in the session's timeline) where the next clip starts
        path.parent.mkdir(parents=True, exist_ok=True)
        self._out: OutputContainer = av.open(str(self.part), "w", format="mp4", options=dict(MP4_OPTIONS))
        # the exact start and the token, inside the file (its moov, written with the first fragment): what
        # a crash recovery of the `.part` needs (media/recover.py)
        self._out.metadata["comment"] = f"vsnative start={start_wallclock:.6f}" + (
            f" token={token}" if token is not None else ""
        )
        self._streams: list[Stream] = []
        self._offsets: list[int] = []
        tracks = tracks or self.info.tracks
        self._time_bases = [track.time_base for track in tracks]
        start_seconds = first.dts * first.time_base
        for track in tracks:
            if track.template is not None:
                stream = self._out.add_stream_from_template(track.template.stream)
            else:
                stream = self._out.add_mux_stream(track.codec, width=track.width, height=track.height)
            stream.time_base = track.time_base
            self._streams.append(stream)
            self._offsets.append(round(start_seconds / track.time_base))
        self.write(first)
        stat = os.stat(self.part)  # the file FFmpeg writes, whatever becomes of its name (see fence_off)
        self._key = (stat.st_dev, stat.st_ino)

    def write(self, packet: EncodedPacket) -> None:
        """Mux one packet (this runs for every packet of every camera: kept lean)."""
        track = packet.track
        offset = self._offsets[track]
        dts = packet.dts - offset
        if dts < 0:  # audio from before the clip's first video frame
            return
        pts = packet.pts - offset
        out = av.Packet(packet.data)
        out.dts = dts
        out.pts = pts if pts > dts else dts
        out.time_base = self._time_bases[track]
        out.is_keyframe = packet.keyframe
        out.stream = self._streams[track]
        if track == self._video:
            if self.frames:
                self._frame_ticks = packet.dts - self._last_video_dts
            self._last_video_dts = packet.dts
            self.frames += 1
        self._out.mux(out)

    def cut_at(self, keyframe: EncodedPacket) -> None:
        """The next clip starts at this keyframe: from now on only audio from before it is written here."""
        self._cut = keyframe.dts * keyframe.info.tracks[keyframe.track].tick

    def before_cut(self, packet: EncodedPacket) -> bool:
        return packet.dts * packet.info.tracks[packet.track].tick < self._cut

    def past_cut(self, packet: EncodedPacket, seconds: float) -> bool:
        return packet.dts * packet.info.tracks[packet.track].tick >= self._cut + seconds

    @property
    def frame_ticks(self) -> int:
        """The video's latest frame interval (its time base's ticks; 0 before a second frame)."""
        return self._frame_ticks

    @property
    def duration(self) -> float:
        """Seconds covered by the video written so far (the last frame counted for one frame interval)."""
        return float((self._last_video_dts - self.first_dts + self._frame_ticks) * self._video_tb)

    def close(self) -> ClipInfo:
        """Finish the file and rename `.part` to its final name."""
        self._out.close()
        os.replace(self.part, self.path)
        size = self.path.stat().st_size
        return ClipInfo(self.path, self.start_wallclock, self.duration, self.frames, size, self.token)

    def abandon(self) -> None:
        """Close after a write error, keeping what reached the disk under the `.part` name."""
        with contextlib.suppress(av.error.FFmpegError, OSError):
            self._out.close()

    def fence_off(self) -> None:
        """Stop at once, writing not one more byte to the file: FFmpeg's descriptor of it is pointed at
        /dev/null before the muxer is closed, so what it still holds and its trailer go nowhere. The `.part`
        keeps every fragment written while the lease was ours, for the camera's next owner to finalise.

        FFmpeg `dup`s whatever descriptor it is given, so its own is found by the file's inode in
        /proc/self/fd; the mux thread, which runs this, is the only one that writes or closes it. (Writing
        through PyAV's Python I/O instead, which could simply drop the bytes, cost 5% more CPU per recorded
        camera, measured side by side: each write takes the GIL back from the framer threads.)"""
        null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        try:
            for fd in descriptors_of(self._key):
                os.dup2(null, fd, inheritable=False)
        finally:
            os.close(null)
        self.abandon()
