"""Whole pictures from demuxed video packets: joins the packets of one access unit and dates them.

FFmpeg's RTSP demuxer cuts the H.264/H.265 stream into packets with its parser, which starts a new
packet at every parameter set that follows a slice. Cameras and encoders that repeat the parameter
sets before every slice of a keyframe (x264's sliced threads, OpenH264 and x265 with several slices,
GStreamer's `rtph264pay config-interval=-1`) therefore arrive as several packets per keyframe, all with
the picture's timestamp and all flagged key: `[AUD SPS PPS IDR-slice] [SPS PPS IDR-slice] ...`. An MP4
sample and a WebRTC frame must be one whole picture, so the parts are joined here by the codecs' own
rules: a picture starts at an access unit delimiter or at its first slice (`first_mb_in_slice == 0`,
`first_slice_segment_in_pic_flag`); parameter sets and SEI sent on their own open the next picture.
Parameter sets repeated inside the joined picture are left out when they are byte for byte ones it
already carries.

When a picture is complete is only known when the next one starts. The demuxer's parser itself hands
over each picture only once the next one begins (one frame late), and the parts of a split keyframe but
the last come at once; so keyframes are held until the next picture starts (one frame more, once per
GOP), and other pictures are delivered at once. A camera seen to split other pictures too gets all its
pictures held from then on (one frame of latency), and the picture it damaged is counted as lost.

Timestamps: the first packets of a connection may lack a decode timestamp (FFmpeg knows it only after a
few pictures when the stream reorders, B-frames). Those pictures wait until one comes with a dts; theirs
are then filled in backwards, one frame interval apart, so decode order is kept.
"""

from __future__ import annotations

import collections
import logging
import struct
from dataclasses import dataclass

from vsnative.media.packets import EncodedPacket, StreamInfo, with_parameter_sets

log = logging.getLogger(__name__)
MAX_UNDATED = 64  # pictures without a dts waiting for one (about 2.5 s at 25 fps); past it they are dated
# from their pts when it increases, else dropped (counted)
_PARAMETER_SETS = {"h264": frozenset({7, 8}), "hevc": frozenset({32, 33, 34})}
# a 4-byte start code, a NAL header and the byte after it, twice: a delimiter (2 bytes in H.264, 3 in H.265)
# and the slice after it, or a slice and what follows
_H264_HEAD = struct.Struct(">IBBIBB").unpack_from
_HEVC_HEAD = struct.Struct(">IHBIHB").unpack_from


def first_slice(data: bytes, hevc: bool) -> tuple[int, bool, bool]:
    """(NAL type of the first slice, or -1 without one; whether that slice begins a picture; whether an
    access unit delimiter precedes it). Reads only the NAL headers before the first slice.

    Runs per packet: the usual layouts (4-byte start codes; a picture that starts with its slice, or with
    a delimiter, whose size is fixed, then its slice) are read with one struct unpack, a third of the cost
    of searching for the start codes (measured: 0.57 against 1.47 us here)."""
    if len(data) >= 14:
        if hevc:
            code, header, byte, code2, header2, byte2 = _HEVC_HEAD(data)
            kind = (header >> 9) & 0x3F
            if code == 1:
                if kind < 32:
                    return kind, byte >= 0x80, False
                if kind == 35 and code2 == 1 and (kind := (header2 >> 9) & 0x3F) < 32:
                    return kind, byte2 >= 0x80, True
        else:
            code, header, byte, code2, header2, byte2 = _H264_HEAD(data)
            kind = header & 0x1F
            if code == 1:
                if 0 < kind < 6:
                    return kind, kind != 3 and kind != 4 and byte >= 0x80, False
                if kind == 9 and code2 == 1 and 0 < (kind := header2 & 0x1F) < 6:
                    return kind, kind != 3 and kind != 4 and byte2 >= 0x80, True
    aud = False
    # anything else (parameter sets or SEI first, odd start codes): walk the NAL units up to a slice
    find = data.find
    size = len(data)
    pos = find(b"\x00\x00\x01")
    while 0 <= pos < size - 3:
        head = pos + 3
        byte = data[head]
        if hevc:
            kind = (byte >> 1) & 0x3F
            if kind < 32:  # VCL: first_slice_segment_in_pic_flag is the first bit after the 2-byte header
                return kind, head + 2 < size and data[head + 2] >= 0x80, aud
            aud = aud or kind == 35
        else:
            kind = byte & 0x1F
            if 1 <= kind <= 5:  # VCL: first_mb_in_slice is ue(v), 0 coded as a single 1 bit
                return kind, kind != 3 and kind != 4 and head + 1 < size and data[head + 1] >= 0x80, aud
            aud = aud or kind == 9
        pos = find(b"\x00\x00\x01", head)
    return -1, False, aud


def is_keyframe(kind: int, hevc: bool) -> bool:
    """An IDR picture (H.264) or an IRAP picture (H.265: BLA, IDR, CRA)."""
    return 16 <= kind <= 23 if hevc else kind == 5


@dataclass(slots=True)
class _Picture:
    parts: list[bytes]
    pts: int | None
    dts: int | None
    keyframe: bool
    wallclock: float
    duration: int


class AccessUnits:
    """Turns one session's demuxed video packets into whole, dated pictures (`ready`, in order)."""

    def __init__(
        self, info: StreamInfo, track: int, frame_ticks: int, parameter_sets: bytes = b"", camera: str = ""
    ) -> None:
        self.info = info
        self.camera = camera  # for the log
        self.parameter_sets = parameter_sets  # from the SDP: put before keyframes that lack them
        self.track = track
        self.codec = info.tracks[track].codec
        self.hevc = self.codec == "hevc"
        self.ready: collections.deque[EncodedPacket] = collections.deque()
        self.lost = 0  # pictures that could not be delivered whole or in order
        self.hold_all = False  # every picture waits for the next (the camera splits more than keyframes)
        self._pending: _Picture | None = None
        self._prefix = b""  # parameter sets or SEI sent on their own, for the next picture
        self._undated: list[_Picture] = []
        self._last_dts: int | None = None
        self._last_pts = -(1 << 62)
        self._last_stamp = -1  # pts of the last picture delivered
        self._step = frame_ticks  # the frame interval in ticks (learnt from the stream)
        self._reorders = False  # pts and dts differ: the stream has B-frames

    def push(self, data: bytes, pts: int | None, dts: int | None, wallclock: float, duration: int) -> None:
        """One demuxed packet; whole pictures are appended to `ready`. Kept lean: runs per packet."""
        kind, first, aud = first_slice(data, self.hevc)
        last = self._last_dts
        if (
            (aud or first)
            and dts is not None
            and last is not None
            and self._pending is None
            and not (self.hold_all or self._prefix or self._undated)
            and not (16 <= kind <= 23 if self.hevc else kind == 5)
        ):  # the common case: a whole dated picture that is not a keyframe, nothing held before it
            self._emit(data, pts, dts, False, wallclock, duration)
            return
        if kind < 0:  # parameter sets, SEI or a delimiter alone: they open the next picture
            self._complete()
            self._prefix += data
            return
        pending = self._pending
        stamp = pts if pts is not None else dts
        if not (aud or first):  # a later slice of a picture
            if pending is not None and (stamp is None or pending.pts is None or stamp == pending.pts):
                pending.parts.append(data)
                if pending.pts is None:
                    pending.pts = pts
                if pending.dts is None:
                    pending.dts = dts
                return
            if pending is None and stamp is not None and stamp == self._last_stamp:
                # a part of a picture already delivered: this camera splits more than its keyframes
                self.lost += 1
                if not self.hold_all:
                    self.hold_all = True
                    log.info(
                        "camera %s: pictures arrive in several packets; each is held until the next "
                        "starts (one frame of latency); one picture was damaged",
                        self.camera,
                    )
                return
            if pending is None:  # joined in the middle of a picture (the connection's first packet)
                return
        self._complete()
        keyframe = is_keyframe(kind, self.hevc)
        parts = [self._prefix + data] if self._prefix else [data]
        self._prefix = b""
        self._pending = _Picture(parts, pts, dts, keyframe, wallclock, duration)
        if not (keyframe or self.hold_all):
            self._complete()

    def flush(self) -> None:
        """The session ended: deliver what is held."""
        self._complete()
        if self._undated:
            self._give_up_dating()

    # --- completing and dating ---------------------------------------------------------------------
    def _complete(self) -> None:
        picture = self._pending
        if picture is None:
            return
        self._pending = None
        if picture.dts is None:
            if self._last_dts is None:  # the connection's first pictures: wait for one with a dts
                self._undated.append(picture)
                if len(self._undated) > MAX_UNDATED:
                    self._give_up_dating()
                return
            picture.dts = self._next_dts(picture.pts)
        elif self._undated:
            self._backfill(picture.dts)
        self._deliver(picture, picture.dts)

    def _next_dts(self, pts: int | None) -> int:
        """A dts for a picture without one, after dated pictures."""
        last = self._last_dts if self._last_dts is not None else 0
        if pts is not None and not self._reorders and pts > last:
            return pts
        return last + self._step

    def _backfill(self, dts: int) -> None:
        """Date the waiting pictures backwards from the first dated one: each by its pts where that comes
        before the next one's dts (a stream without B-frames: dts = pts), else one frame interval before
        it (B-frames: decode order kept, pts >= dts)."""
        undated, self._undated = self._undated, []
        dated = []
        for picture in reversed(undated):
            pts = picture.pts
            dts = pts if pts is not None and pts < dts else dts - self._step
            dated.append(dts)
        for picture, dts in zip(undated, reversed(dated), strict=True):
            self._deliver(picture, dts)

    def _give_up_dating(self) -> None:
        """No dts came: pictures whose pts increase are dated by it, the rest cannot be ordered."""
        undated, self._undated = self._undated, []
        for picture in undated:
            if picture.pts is not None and picture.pts > self._last_pts and not self._reorders:
                self._deliver(picture, picture.pts)
            else:
                self.lost += 1

    def _deliver(self, picture: _Picture, dts: int) -> None:
        parts = picture.parts
        if picture.keyframe:
            data = with_parameter_sets(self._join(parts), self.codec, self.parameter_sets)
        else:
            data = parts[0] if len(parts) == 1 else self._join(parts)
        self._emit(data, picture.pts, dts, picture.keyframe, picture.wallclock, picture.duration)

    def _emit(
        self, data: bytes, pts: int | None, dts: int, keyframe: bool, wallclock: float, duration: int
    ) -> None:
        """A whole, dated picture to `ready` (and what the stream's timing shows of it noted)."""
        if pts is None:
            pts = dts
        elif pts != dts:
            self._reorders = True
        last = self._last_dts
        if last is not None and 0 < dts - last < 4 * self._step:
            self._step = dts - last
        self._last_dts = dts
        if pts > self._last_pts:
            self._last_pts = pts
        self._last_stamp = pts
        self.ready.append(EncodedPacket(self.info, self.track, data, pts, dts, keyframe, wallclock, duration))

    def _join(self, parts: list[bytes]) -> bytes:
        """The parts of one picture as one access unit, leaving out parameter sets it already carries
        (byte for byte: a different PPS between slices is kept). Runs for keyframes and split pictures."""
        seen: set[bytes] = set()
        kinds = _PARAMETER_SETS[self.codec]
        shift, mask = (1, 0x3F) if self.hevc else (0, 0x1F)
        out: list[bytes] = []
        for data in parts:
            find = data.find
            pos = find(b"\x00\x00\x01")
            kept = 0  # data[kept:cut] is copied before a parameter set left out
            while 0 <= pos < len(data) - 3:
                kind = (data[pos + 3] >> shift) & mask
                if (kind < 32) if self.hevc else (1 <= kind <= 5):
                    break  # the slices: the rest of this part goes as it is
                nxt = find(b"\x00\x00\x01", pos + 3)
                start = pos - 1 if pos and data[pos - 1] == 0 else pos
                end = len(data) if nxt < 0 else (nxt - 1 if data[nxt - 1] == 0 else nxt)
                if kind in kinds:
                    unit = data[pos + 3 : end]
                    if unit in seen:
                        out.append(data[kept:start])
                        kept = end
                    else:
                        seen.add(unit)
                pos = nxt
            out.append(data[kept:] if kept else data)
        return b"".join(out)
