"""Immutable values that carry compressed media from a framer to its streamers, and H.26x helpers."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal, NamedTuple

import av
from av.container import OutputContainer
from av.stream import Stream

TrackKind = Literal["video", "audio"]
VIDEO_CODECS = frozenset({"h264", "hevc"})


class CodecTemplate:
    """A private copy of one stream's codec parameters (incl. extradata), usable to add output streams.

    PyAV copies parameters only from a Stream, and an input stream dies with its container on reconnect;
    so we copy into a stream of a never-written in-memory container that lives as long as this object.
    """

    __slots__ = ("_holder", "stream")

    def __init__(self, source: Stream) -> None:
        self._holder: OutputContainer = av.open(io.BytesIO(), "w", format="mp4")
        self.stream: Stream = self._holder.add_stream_from_template(source)


@dataclass(frozen=True, slots=True)
class MediaTrack:
    """One elementary stream of a camera session."""

    index: int
    kind: TrackKind
    codec: str
    time_base: Fraction
    width: int = 0
    height: int = 0
    sample_rate: int = 0
    channels: int = 0
    extradata: bytes = b""
    template: CodecTemplate | None = field(default=None, compare=False, repr=False)
    tick: float = field(init=False, compare=False, repr=False)  # seconds per time_base unit, as a float

    def __post_init__(self) -> None:
        object.__setattr__(self, "tick", float(self.time_base))


class SenderReports:
    """What a camera's RTCP sender reports say of its clock, once FFmpeg has one (the framer sets it):
    `start`, the wall-clock time (epoch seconds) at which pts 0 was filmed. None: none came (yet)."""

    __slots__ = ("start",)

    def __init__(self) -> None:
        self.start: float | None = None


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What one connection to a camera delivers. A new connection makes a new StreamInfo (session)."""

    session: int
    tracks: tuple[MediaTrack, ...]
    opened_at: float  # wall clock, seconds since the epoch
    audio_left_out: str = ""  # the camera's audio that no track carries, and why
    reports: SenderReports = field(default_factory=SenderReports, compare=False, repr=False)
    video_index: int = field(init=False, compare=False, repr=False)  # the video track's index, or -1

    def __post_init__(self) -> None:
        index = next((i for i, track in enumerate(self.tracks) if track.kind == "video"), -1)
        object.__setattr__(self, "video_index", index)

    @property
    def audio(self) -> MediaTrack | None:
        return next((track for track in self.tracks if track.kind == "audio"), None)

    @property
    def video(self) -> MediaTrack:
        if self.video_index < 0:
            raise LookupError("stream has no video track")
        return self.tracks[self.video_index]


class EncodedPacket(NamedTuple):
    """One compressed access unit (video: Annex-B) with its timing. Never share an av.Packet instead.

    A NamedTuple rather than a frozen dataclass: as immutable, and made three times faster (one is made
    per packet of every camera, in the framer's thread)."""

    info: StreamInfo
    track: int
    data: bytes
    pts: int
    dts: int
    keyframe: bool
    wallclock: float  # when the framer received it, seconds since the epoch
    duration: int = 0

    @property
    def time_base(self) -> Fraction:
        return self.info.tracks[self.track].time_base

    @property
    def is_video(self) -> bool:
        return self.track == self.info.video_index

    def seconds(self, ticks: int) -> float:
        """A duration in this packet's time base, in seconds (float math: this runs per packet)."""
        return ticks * self.info.tracks[self.track].tick


START_CODE = re.compile(b"\x00\x00\x01")  # a regex finds it twice as fast as bytes.find in slice data


def nal_units(data: bytes) -> list[memoryview]:
    """The NAL units of an Annex-B access unit (3- and 4-byte start codes), as views of `data`."""
    view = memoryview(data)
    starts = [match.start() for match in START_CODE.finditer(data)]
    units: list[memoryview] = []
    for i, start in enumerate(starts):
        begin, end = start + 3, len(data)
        if i + 1 < len(starts):
            end = starts[i + 1]
            if data[end - 1] == 0:  # the leading zero of a 4-byte start code
                end -= 1
        if end > begin:
            units.append(view[begin:end])
    return units


def nal_types(data: bytes, codec: str) -> list[int]:
    """NAL unit types of an Annex-B access unit."""
    if codec == "hevc":
        return [(unit[0] >> 1) & 0x3F for unit in nal_units(data)]
    return [unit[0] & 0x1F for unit in nal_units(data)]


_PARAMETER_SETS = {"h264": frozenset({7, 8}), "hevc": frozenset({32, 33, 34})}


def annexb_extradata(extradata: bytes, codec: str) -> bytes:
    """Codec extradata as Annex-B parameter sets (converting avcC/hvcC), or b"" when there is none."""
    if not extradata:
        return b""
    if extradata.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
        return extradata
    out = bytearray()
    try:
        if codec == "h264" and extradata[0] == 1:
            pos = 6
            for count_pos in range(2):
                count = extradata[pos - 1] & (0x1F if count_pos == 0 else 0xFF)
                for _ in range(count):
                    size = int.from_bytes(extradata[pos : pos + 2], "big")
                    out += b"\x00\x00\x00\x01" + extradata[pos + 2 : pos + 2 + size]
                    pos += 2 + size
                pos += 1
        elif codec == "hevc" and extradata[0] == 1:
            arrays = extradata[22]
            pos = 23
            for _ in range(arrays):
                count = int.from_bytes(extradata[pos + 1 : pos + 3], "big")
                pos += 3
                for _ in range(count):
                    size = int.from_bytes(extradata[pos : pos + 2], "big")
                    out += b"\x00\x00\x00\x01" + extradata[pos + 2 : pos + 2 + size]
                    pos += 2 + size
    except IndexError:
        return b""
    return bytes(out)


def with_parameter_sets(data: bytes, codec: str, parameter_sets: bytes) -> bytes:
    """Prefix a keyframe with the Annex-B parameter sets unless it already carries an SPS."""
    if not parameter_sets or codec not in _PARAMETER_SETS:
        return data
    sps, aud = (7, 9) if codec == "h264" else (33, 35)
    types = nal_types(data[:4096], codec)
    if sps in types:
        return data
    if types and types[0] == aud:  # keep the access unit delimiter first
        second = data.find(b"\x00\x00\x01", data.find(b"\x00\x00\x01") + 3)
        if second > 0:
            if data[second - 1] == 0:
                second -= 1
            return data[:second] + parameter_sets + data[second:]
    return parameter_sets + data
