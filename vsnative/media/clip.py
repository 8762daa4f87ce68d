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


class GatedFile:
    """A clip's file as FFmpeg writes it, through PyAV's Python I/O, with a gate: once `cut`, every write
    goes nowhere. (FFmpeg's own `file:` and `pipe:` protocols keep a descriptor of their own, a `dup` of
    any we pass, so only this layer can stop its writes for sure.) Measured, remuxing 640x360 packets: 3.4
    to 4.0 µs a packet through it against 3.4 to 4.2 through `pipe:`, the same within noise; the bytes
    are the same as through a path (fragmented MP4 never seeks), and each write reaches the kernel at once
    (no Python buffer), as with `flush_packets`."""

    def __init__(self, path: Path) -> None:
        self._raw = open(path, "xb", buffering=0)  # noqa: SIM115 - closed by the ClipWriter
        self._cut = False

    def write(self, data: bytes) -> int:
        if self._cut:
            return len(data)
        view = memoryview(data)
        while view:  # a regular file may take less than asked (a full disk answers with an error)
            written = self._raw.write(view)
            if not written:
                raise OSError("the clip's file took no bytes")
            view = view[written:]
        return len(data)

    def cut(self) -> None:
        self._cut = True

    def close(self) -> None:
        self._raw.close()


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
    ) -> None:
        """`tracks`: what the clip holds, when it differs from the session's (converted audio); `token`:
        the fencing token of the lease it is written under."""
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
        self._frame_ticks = 0
        self._cut = float("inf")  # seconds (in the session's timeline) where the next clip starts
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = GatedFile(self.part)
        try:
            self._out: OutputContainer = av.open(self._file, "w", format="mp4", options=dict(MP4_OPTIONS))
        except BaseException:
            self._file.close()
            raise
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
    def duration(self) -> float:
        """Seconds covered by the video written so far (the last frame counted for one frame interval)."""
        return float((self._last_video_dts - self.first_dts + self._frame_ticks) * self._video_tb)

    def close(self) -> ClipInfo:
        """Finish the file and rename `.part` to its final name."""
        try:
            self._out.close()
        finally:
            self._file.close()
        os.replace(self.part, self.path)
        size = self.path.stat().st_size
        return ClipInfo(self.path, self.start_wallclock, self.duration, self.frames, size, self.token)

    def abandon(self) -> None:
        """Close after a write error, keeping what reached the disk under the `.part` name."""
        with contextlib.suppress(av.error.FFmpegError, OSError):
            self._out.close()
        self._file.close()

    def fence_off(self) -> None:
        """Stop at once, writing not one more byte to the file: the file is cut off before the muxer is
        closed (what it still holds and its trailer go nowhere). The `.part` keeps every fragment written
        while the lease was ours, for the camera's next owner to finalise."""
        self._file.cut()
        self.abandon()
