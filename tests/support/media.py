"""Test media made on the fly with Debian's ffmpeg (never committed): Annex-B H.26x with AUDs, ADTS AAC."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FFMPEG = "/usr/bin/ffmpeg"
FFPROBE = "/usr/bin/ffprobe"


@dataclass(frozen=True)
class Media:
    h264_720: Path
    h264_1080: Path
    h265_720: Path
    aac: Path


def ffmpeg(args: list[str], data: bytes | None = None) -> None:
    """Run Debian's ffmpeg quietly (overwriting outputs), optionally feeding `data` on stdin."""
    subprocess.run([FFMPEG, "-v", "error", "-y", *args], input=data, check=True, timeout=300)


def copy_quietly(source: str, out: Path, options: list[str] | None = None) -> None:
    """`ffmpeg -v error [options] -i <source> -c copy <out>`, as a user checks a playlist or a clip:
    FFmpeg must succeed and say nothing."""
    result = subprocess.run(
        [FFMPEG, "-v", "error", *(options or []), "-i", source, "-c", "copy", "-y", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


GOP_2S = ["-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-bf", "0"]  # at 25 fps, no B-frames
ANNEXB_H264 = ["-bsf:v", "h264_mp4toannexb,h264_metadata=aud=insert", "-f", "h264"]  # AUDs: rtsp_camera


def make_media(folder: Path, seconds: int = 10) -> Media:
    """25 fps test patterns with a 2 s GOP (keyframe every 50 frames) and no B-frames, like an IP camera."""
    media = Media(folder / "720.h264", folder / "1080.h264", folder / "720.h265", folder / "tone.aac")
    if not media.h264_720.exists():
        ffmpeg(
            [
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size=1280x720:rate=25:duration={seconds}",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-profile:v",
                "baseline",
                "-b:v",
                "2M",
                *GOP_2S,
                *ANNEXB_H264,
                str(media.h264_720),
            ]
        )
    if not media.h264_1080.exists():
        ffmpeg(
            [
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size=1920x1080:rate=25:duration={seconds}",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-profile:v",
                "main",
                "-b:v",
                "4M",
                *GOP_2S,
                *ANNEXB_H264,
                str(media.h264_1080),
            ]
        )
    if not media.h265_720.exists():
        ffmpeg(
            [
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size=1280x720:rate=25:duration={seconds}",
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-b:v",
                "1M",
                "-x265-params",
                "keyint=50:min-keyint=50:bframes=0:scenecut=0:log-level=error",
                "-bsf:v",
                "hevc_mp4toannexb,hevc_metadata=aud=insert",
                "-f",
                "hevc",
                str(media.h265_720),
            ]
        )
    if not media.aac.exists():
        ffmpeg(
            [
                "-f",
                "lavfi",
                "-i",
                f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                "-c:a",
                "aac",
                "-b:a",
                "64k",
                "-f",
                "adts",
                str(media.aac),
            ]
        )
    return media


def make_detailed_1080(folder: Path, seconds: int = 8) -> Path:
    """A detailed 1080p25 scene (fixed noise over a moving test pattern; 4 Mb/s-class with 250-600 KB
    keyframes, as real 1080p cameras send) in 4 slices a picture, 2 s GOP, no B-frames. Encoding it
    live would take a whole core of a 2-core machine, so it is encoded once and replayed."""
    path = folder / "1080-detail.h264"
    if not path.exists():
        ffmpeg(
            [
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size=1920x1080:rate=25:duration={seconds},noise=alls=30:allf=u",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-b:v",
                "6M",
                "-maxrate",
                "8M",
                "-bufsize",
                "16M",
                *GOP_2S,
                "-x264-params",
                "slices=4",
                *ANNEXB_H264,
                str(path),
            ]
        )
    return path


def probe(path: Path) -> dict[str, Any]:
    """ffprobe's format and streams of a file, as JSON."""
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def decode_warnings(path: Path) -> list[str]:
    """What `ffmpeg -v warning -i clip -f null -` prints: nothing for a clip that decodes cleanly.
    (`-v error` says nothing of a keyframe split across two files; `-v warning` says `concealing`.)"""
    proc = subprocess.run(
        [FFMPEG, "-nostdin", "-v", "warning", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    if proc.returncode:
        lines.append(f"(exit {proc.returncode})")
    return lines


def decode_errors(path: Path) -> str:
    """The decode warnings of a file as one text: empty for a clip that decodes cleanly."""
    return "\n".join(decode_warnings(path))


def video_packets(path: Path) -> list[dict[str, str]]:
    """The video packets of a file (pts_time, dts_time, flags) via ffprobe."""
    out = subprocess.run(
        [
            FFPROBE,
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,dts_time,flags",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    packets: list[dict[str, str]] = json.loads(out).get("packets", [])
    return packets
