"""What a user checks of a camera's recordings and live view: clips that decode without a warning, clip
lengths, frames recorded against the time covered, the audio kept; frames a live viewer decoded.

Shared by the zoo's end-to-end tests and `bench/zoo.py` (which prints the same rows as a table).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import av.logging

from tests.support import whep
from tests.support.media import FFMPEG, decode_warnings, probe


def index_of(root: Path, camera_id: str) -> list[dict[str, Any]]:
    """The index lines of a camera's closed clips, oldest first."""
    entries = []
    for index in sorted((root / camera_id).glob("*/index.jsonl")):
        entries += [json.loads(line) for line in index.read_text().splitlines() if line.strip()]
    return sorted(entries, key=lambda e: e["start"])


@dataclass
class RecordingRow:
    """One camera's recordings, as a user would check them."""

    camera: str
    clips: int = 0
    shortest: float = 0.0  # seconds
    longest: float = 0.0
    damaged: int = 0  # clips with a line at -v warning
    warnings: list[str] = field(default_factory=list)  # the first few such lines
    frames: int = 0  # in the clips
    expected: int = 0  # frames the camera sent in the time the clips cover
    audio: str = "none"  # the clips' audio codec
    video: str = ""
    gaps: int = 0  # holes between consecutive clips (over half a frame)

    @property
    def frames_ratio(self) -> float:
        return self.frames / self.expected if self.expected else 0.0


def assess_recording(root: Path, camera_id: str, fps: float) -> RecordingRow:
    row = RecordingRow(camera_id)
    index = index_of(root, camera_id)
    if not index:
        return row
    row.clips = len(index)
    durations = [entry["duration"] for entry in index]
    row.shortest, row.longest = min(durations), max(durations)
    row.frames = sum(entry["frames"] for entry in index)
    for entry in index:
        folder = root / camera_id / time.strftime("%Y-%m-%d", time.gmtime(entry["start"]))
        lines = decode_warnings(folder / entry["file"])
        if lines:
            row.damaged += 1
            row.warnings += [f"{entry['file']}: {line}" for line in lines[:2]]
    for before, after in itertools.pairwise(index):
        hole = after["start"] - (before["start"] + before["duration"])
        if hole > 0.5 / fps:
            row.gaps += 1
    row.expected = round(sum(durations) * fps)  # the time the clips cover, gaps between them left out
    first = root / camera_id / time.strftime("%Y-%m-%d", time.gmtime(index[0]["start"])) / index[0]["file"]
    streams = probe(first)["streams"]
    row.video = next((s["codec_name"] for s in streams if s["codec_type"] == "video"), "")
    row.audio = next((s["codec_name"] for s in streams if s["codec_type"] == "audio"), "none")
    return row


@dataclass
class LiveRow:
    """One live viewer of a camera (an aiortc viewer decoding with PyAV)."""

    camera: str
    status: int = 0  # WHEP's answer
    reason: str = ""  # the error WHEP gave, if any
    decoded: int = 0  # frames decoded
    expected: int = 0  # those and the frames missing between them (by their timestamps; the GOP a new
    # viewer gets first is squeezed, its frames one tick apart)
    warnings: list[str] = field(default_factory=list)  # the decoder's warnings
    first_frame: float | None = None  # seconds from the offer to the first decoded frame
    audio: str = ""  # the audio the relay said it sends ("" for none)
    sound_seconds: float = 0.0  # audio decoded
    sound_span: float = 0.0  # from the first to the end of the last audio frame, by their timestamps

    @property
    def result(self) -> str:
        if self.status != 201:
            return f"{self.status} {self.reason[:60]}"
        if not self.decoded:
            return "no frame"
        sound = f", {self.audio} {self.sound_seconds:.1f}/{self.sound_span:.1f} s" if self.audio else ""
        warnings = f", {len(self.warnings)} warnings" if self.warnings else ""
        return f"{self.decoded}/{self.expected} frames{sound}{warnings}"


class _Warnings(logging.Handler):
    """Collects what FFmpeg's video decoders log (PyAV hands it to the `libav.<codec>` loggers)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name in ("libav.h264", "libav.hevc"):  # not what other codecs of this process say
            self.lines.append(f"{record.name}: {record.getMessage()}")


async def watch(url: str, seconds: float, fps: float) -> LiveRow:
    """Watch one camera for `seconds` with a decoding aiortc viewer (video and, if relayed, audio)."""
    row = LiveRow(url.rsplit("/", 2)[-2])
    handler = _Warnings()
    libav = logging.getLogger("libav")
    libav.addHandler(handler)
    av.logging.set_level(av.logging.WARNING)
    viewer = whep.Viewer(url, audio=True)
    try:
        async with aiohttp.ClientSession() as session:
            resp = await viewer.connect(session)
            row.status = resp.status
            body: str = resp.body  # type: ignore[attr-defined]
            if resp.status != 201:
                row.reason = json.loads(body).get("error", body) if body.startswith("{") else body
                return row
            await asyncio.sleep(seconds)
            async with session.get(url.rsplit("/whep", 1)[0] + "/viewers") as listing:
                mine = [v for v in (await listing.json())["viewers"] if viewer.location.endswith(v["id"])]
            row.audio = mine[0]["audio"]["codec"] if mine and mine[0]["audio"] else ""
            if viewer.location:
                async with session.delete(
                    url.rsplit("/whep", 1)[0] + "/whep/" + viewer.location.rsplit("/", 1)[1]
                ):
                    pass
        frames = viewer.frames
        row.decoded = len(frames)
        if frames:
            row.first_frame = frames[0][0] - viewer.offered_at
            ticks = 90_000 / fps
            row.expected = row.decoded + sum(  # frame timestamps are RTP's: 32 bits that wrap
                max(0, round(((b[1] - a[1]) % (1 << 32)) / ticks) - 1) for a, b in itertools.pairwise(frames)
            )
        sound = viewer.sound
        if sound:
            rate = sound[0][3]
            row.sound_seconds = sum(samples for _, _, samples, _ in sound) / rate
            row.sound_span = ((sound[-1][1] + sound[-1][2] - sound[0][1]) % (1 << 32)) / rate
        row.warnings = handler.lines[:]
    finally:
        libav.removeHandler(handler)
        av.logging.set_level(None)
        await viewer.close()
    return row


@dataclass
class PlaybackRow:
    """A camera's recordings played as one HLS playlist (GET vod.m3u8: the init sections by byte range,
    the clips' fragments on one timeline), read whole over HTTP by FFmpeg and decoded at -v warning."""

    camera: str
    listed: int = 0  # clips in the playlist
    ended: bool = False  # a VOD playlist (EXT-X-ENDLIST): the camera records no more
    frames: int = 0  # video frames FFmpeg decoded from it
    expected: int = 0  # video frames of the clips it lists (the index's)
    warnings: list[str] = field(default_factory=list)


def assess_playback(base: str, root: Path, camera_id: str) -> PlaybackRow:
    """`base`: the API of a service that no longer records the camera (its playlist ends)."""
    row = PlaybackRow(camera_id)
    url = f"{base}/api/cameras/{camera_id}/vod.m3u8?start=0&end={time.time():.3f}"
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - loopback
        text = resp.read().decode()
    names = [line.rsplit("/", 1)[1] for line in text.splitlines() if line.startswith("vod/")]
    frames = {entry["file"]: entry["frames"] for entry in index_of(root, camera_id)}
    row.listed, row.ended = len(names), text.endswith("#EXT-X-ENDLIST\n")
    row.expected = sum(frames.get(name, 0) for name in names)
    proc = subprocess.run(
        [
            FFMPEG,
            "-nostdin",
            "-v",
            "warning",
            "-i",
            url,
            "-map",
            "0:v:0",
            "-f",
            "null",
            "-progress",
            "pipe:1",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    row.warnings = [line for line in proc.stderr.splitlines() if line.strip()][:6]
    if proc.returncode:
        row.warnings.append(f"(exit {proc.returncode})")
    counts = [line for line in proc.stdout.splitlines() if line.startswith("frame=")]
    row.frames = int(counts[-1].split("=")[1]) if counts else 0
    return row
