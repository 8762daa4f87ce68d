"""A camera zoo: live-encoding RTSP cameras set up the way real cameras send (GStreamer encoders, live).

Each `ZooCamera` says what it sends (codec, slices, B-frames, audio, timestamp restarts, keyframe size)
and how GStreamer makes it; `ZooServer` serves any of them from one GStreamer RTSP server process
(`zoo_camera.py`, run by Debian's python3). Pictures are small (640x360) so a 2-core machine runs the
whole zoo at once, except the detailed 1080p camera whose point is its 150-400 KB keyframes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.camera import SYSTEM_PYTHON, FakeCamera

SCRIPT = Path(__file__).with_name("zoo_camera.py")
FPS = 25
GOP = 50  # frames: a keyframe every 2 s, as most IP cameras are set
RAW = f"video/x-raw,width=640,height=360,framerate={FPS}/1"
BALL = f"videotestsrc is-live=true pattern=ball ! {RAW}"
PAY264 = (
    "h264parse config-interval=-1 ! video/x-h264,alignment=au ! rtph264pay config-interval=-1 name=pay0 pt=96"
)
PAY265 = (
    "h265parse config-interval=-1 ! video/x-h265,alignment=au ! rtph265pay config-interval=-1 name=pay0 pt=96"
)
TONE = "audiotestsrc is-live=true wave=sine freq=440 volume=0.3 ! audioconvert ! audioresample"
G711 = f"{TONE} ! audio/x-raw,rate=8000,channels=1"
AUDIO = {
    "pcm_mulaw": f"{G711} ! mulawenc ! rtppcmupay name=pay1 pt=0",
    "pcm_alaw": f"{G711} ! alawenc ! rtppcmapay name=pay1 pt=8",
    "aac": f"{TONE} ! audio/x-raw,rate=16000,channels=1 ! voaacenc bitrate=32000 ! aacparse "
    "! rtpmp4gpay name=pay1 pt=97",
    "opus": f"{TONE} ! audio/x-raw,rate=48000,channels=1 ! opusenc bitrate=32000 "
    "! rtpopuspay name=pay1 pt=98",
}
X264 = f"x264enc speed-preset=ultrafast key-int-max={GOP} bitrate=800"
WRAPS_IN_5_S = (1 << 32) - 5 * 90_000  # an RTP timestamp offset whose 32 bits wrap 5 s into the stream


@dataclass(frozen=True)
class ZooCamera:
    name: str
    codec: str  # as PyAV/ffprobe name it: h264, hevc
    video: str  # gst-launch description ending in the payloader pay0
    audio: str | None = None  # the audio codec sent (ffprobe's name), None for none
    bframes: bool = False
    restart_seconds: float = 0.0  # timestamps restart from zero this often (at a keyframe)
    width: int = 640
    height: int = 360

    @property
    def path(self) -> str:
        return f"/{self.name}"

    @property
    def launch(self) -> str:
        return self.video + (f" {AUDIO[self.audio]}" if self.audio else "")

    @property
    def live_view(self) -> bool:
        """Whether a browser's WebRTC can show it as it is (H.264 without B-frames)."""
        return self.codec == "h264" and not self.bframes


ZOO = {
    camera.name: camera
    for camera in (
        # x264's sliced threads (4 slices a picture), parameter sets before every IDR slice: PyAV demuxes
        # each keyframe as 4 packets with one timestamp; with G.711 µ-law, most IP cameras' audio
        ZooCamera(
            "x264-sliced",
            "h264",
            f"{BALL} ! {X264} tune=zerolatency threads=4 sliced-threads=true ! {PAY264}",
            audio="pcm_mulaw",
        ),
        # OpenH264 with 4 slices; its RTP timestamps wrap (32 bits) 5 s in, as every camera's do each 13 h
        ZooCamera(
            "openh264-slices",
            "h264",
            f"{BALL} ! openh264enc slice-mode=n-slices num-slices=4 gop-size={GOP} "
            f"rate-control=bitrate bitrate=800000 ! {PAY264} timestamp-offset={WRAPS_IN_5_S}",
            audio="opus",
        ),
        ZooCamera(
            "x264-bframes",
            "h264",
            f"{BALL} ! {X264} bframes=2 b-adapt=false ! video/x-h264,profile=main ! {PAY264}",
            audio="aac",
            bframes=True,
        ),
        ZooCamera(
            "x265-slices",
            "hevc",
            f"{BALL} ! x265enc speed-preset=ultrafast tune=zerolatency key-int-max={GOP} bitrate=600 "
            f"option-string=slices=4 ! {PAY265}",
            audio="pcm_alaw",
        ),
        ZooCamera(
            "x264-restart",
            "h264",
            f"{BALL} ! {X264} tune=zerolatency ! {PAY264}",
            restart_seconds=7.0,
        ),
    )
}


class ZooServer(FakeCamera):
    """One GStreamer RTSP server on 127.0.0.1 with the given zoo cameras."""

    def __init__(self, cameras: list[ZooCamera], port: int | None = None) -> None:
        super().__init__({camera.path: camera.name for camera in cameras}, port=port)
        self.cameras = cameras

    def command(self) -> list[str]:
        args = [SYSTEM_PYTHON, str(SCRIPT), "--port", str(self.port)]
        for camera in self.cameras:
            spec = {"path": camera.path, "launch": camera.launch, "restartSeconds": camera.restart_seconds}
            args += ["--camera", json.dumps(spec)]
        return args

    def stats(self, timeout: float = 5.0) -> dict[str, dict[str, int]]:
        """Per camera path: video access units sent so far (frames, keyframes) and timestamp restarts."""
        assert self.proc is not None
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(b"stats\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        buffer = b""
        while time.monotonic() < deadline:
            buffer += self.proc.stdout.read() or b""
            for line in buffer.splitlines():
                if line.startswith(b"STATS "):
                    stats: dict[str, dict[str, int]] = json.loads(line[6:])
                    return stats
            time.sleep(0.02)
        raise RuntimeError("the zoo server did not answer stats")
