"""The camera zoo end to end: live-encoding cameras set up the way real ones send (several slices a
picture with parameter sets before every slice, B-frames, H.265 slices, G.711/AAC/Opus audio, a clock
that restarts, a detailed 1080p scene with 250-600 KB keyframes), recorded and watched by one
`vsnative serve`. One zoo server and one recording run serve every check below (what a user checks:
clips decode without a warning, their length, frames against the time covered, the audio kept, live
view decodes every frame or says why it cannot show the camera).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aioice.ice
import av
import pytest

from tests.support.camera import FakeCamera
from tests.support.media import make_detailed_1080
from tests.support.service import Service, write_settings
from tests.support.zoo import FPS, GOP, ZOO, ZooCamera
from tests.support.zoo import ZooServer as Server
from tests.support.zoo_check import (
    LiveRow,
    PlaybackRow,
    RecordingRow,
    assess_playback,
    assess_recording,
    watch,
)
from vsnative.webrtc.ice import offer_host_addresses

pytestmark = pytest.mark.slow
CLIP_SECONDS = 5.0
RECORD_SECONDS = 24.0
WATCH_SECONDS = 4.0
DETAIL = ZooCamera("file-1080-detail", "h264", "", width=1920, height=1080)  # replayed from a file
CAMERAS = [*ZOO.values(), DETAIL]
CLIP_AUDIO = {"pcm_mulaw": "aac", "pcm_alaw": "aac", "aac": "aac", "opus": "opus", None: "none"}


@dataclass
class ZooRun:
    recordings: dict[str, RecordingRow]
    playback: dict[str, PlaybackRow]
    pictures: dict[str, tuple[str, int, int]]  # X-Vsn-Snapshot, width, height of snapshot.jpg
    live: dict[str, LiveRow]
    agents: dict[str, dict[str, Any]]
    sent: dict[str, dict[str, int]]
    log: str


async def watch_all(service: Service) -> dict[str, LiveRow]:
    rows = {}
    for camera in CAMERAS:  # one at a time: a 2-core machine decodes one viewer well, not six
        rows[camera.name] = await watch(f"{service.base}/api/cameras/{camera.name}/whep", WATCH_SECONDS, FPS)
    return rows


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooRun]:
    folder = tmp_path_factory.mktemp("zoo")
    detail = make_detailed_1080(folder)
    saved = aioice.ice.get_host_addresses
    offer_host_addresses(["127.0.0.1"])
    try:
        with Server(list(ZOO.values())) as server, FakeCamera({"/detail": str(detail)}) as file_camera:
            cameras = [{"id": c.name, "rtspUrl": server.url(c.path)} for c in ZOO.values()]
            cameras.append({"id": DETAIL.name, "rtspUrl": file_camera.url("/detail")})
            pipeline = {
                "defaults": {
                    "streamers": [
                        {"type": "mp4Recorder", "clipSeconds": CLIP_SECONDS},
                        {"type": "webrtc", "maxViewers": 2},
                    ]
                }
            }
            settings = write_settings(folder / "settings", cameras, pipeline)
            service = Service(settings, folder / "rec", "--webrtc-host-addresses", "127.0.0.1").start()
            try:
                service.wait_for(
                    lambda: (
                        all(a["state"] == "running" for a in service.agents().values())
                        and len(service.agents()) == len(CAMERAS)
                    ),
                    30,
                    "every zoo camera running",
                )
                started = time.monotonic()
                live = asyncio.run(watch_all(service))
                time.sleep(max(0.0, RECORD_SECONDS - (time.monotonic() - started)))
                agents = service.agents()
                pictures = {c.name: picture(service, c.name) for c in CAMERAS}
                # recording stopped (excluded): each camera's playlist ends, and is played whole
                for camera in CAMERAS:
                    exclude(service, camera.name)
                service.wait_for(lambda: not service.agents(), 30, "every agent stopped")
                sent = server.stats()  # (what they sent while connected: all of it now)
                playback = {c.name: assess_playback(service.base, folder / "rec", c.name) for c in CAMERAS}
            finally:
                service.stop()
            recordings = {c.name: assess_recording(folder / "rec", c.name, FPS) for c in CAMERAS}
            yield ZooRun(recordings, playback, pictures, live, agents, sent, service.log())
    finally:
        aioice.ice.get_host_addresses = saved


@pytest.mark.parametrize("camera", CAMERAS, ids=lambda c: c.name)
def test_every_clip_decodes_cleanly_is_cut_at_keyframes_and_holds_every_frame(
    zoo: ZooRun, camera: ZooCamera
) -> None:
    row = zoo.recordings[camera.name]
    assert row.clips >= 3, row
    assert row.damaged == 0, row.warnings  # nothing at ffmpeg -v warning (conceal, corrupt, error...)
    assert row.video == camera.codec
    # a clip is clipSeconds up to one GOP more; only the last one (closed at shutdown) may be shorter
    assert row.longest <= CLIP_SECONDS + GOP / FPS + 0.01, row
    assert row.gaps == 0, f"{camera.name}: a hole between consecutive clips of one connection"
    assert row.frames == pytest.approx(row.expected, rel=0.03), row
    counters = zoo.agents[camera.name]["counters"]
    assert counters["lost"]["framer"] == 0
    assert counters["lost"]["recorder"] == 0
    assert zoo.agents[camera.name]["healthy"]


def exclude(service: Service, camera_id: str) -> None:
    body = json.dumps({"excluded": True}).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{service.base}/api/cameras/{camera_id}", body, {"Content-Type": "application/json"}, method="PATCH"
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        assert resp.status == 200


def picture(service: Service, camera_id: str) -> tuple[str, int, int]:
    """The camera's snapshot.jpg as the grid gets it: which it is (picture or placeholder) and its size."""
    with urllib.request.urlopen(f"{service.base}/api/cameras/{camera_id}/snapshot.jpg", timeout=10) as resp:  # noqa: S310
        kind, data = resp.headers["X-Vsn-Snapshot"], resp.read()
    with av.open(io.BytesIO(data), "r", format="jpeg_pipe") as jpeg:
        frame = next(jpeg.decode(video=0))
    return kind, frame.width, frame.height


@pytest.mark.parametrize("camera", CAMERAS, ids=lambda c: c.name)
def test_every_camera_plays_back_as_one_playlist_without_a_warning(zoo: ZooRun, camera: ZooCamera) -> None:
    """GET vod.m3u8 of a camera that records no more, read whole over HTTP by FFmpeg and decoded at
    -v warning: every clip listed, every frame decoded, nothing concealed or out of order. (With every clip
    restarting at 0 behind a discontinuity, FFmpeg dropped a third of the frames of each camera with
    audio: "DTS 0 < 536399 out of order".)"""
    row = zoo.playback[camera.name]
    assert row.ended, row
    assert row.listed == zoo.recordings[camera.name].clips >= 3, row
    assert not row.warnings, row.warnings
    assert row.frames == row.expected, row


@pytest.mark.parametrize("camera", CAMERAS, ids=lambda c: c.name)
def test_every_camera_has_its_picture_in_the_grid(zoo: ZooRun, camera: ZooCamera) -> None:
    """Its latest keyframe decoded (sliced x264, OpenH264, x265, 1080p alike), scaled for a grid tile."""
    kind, width, height = zoo.pictures[camera.name]
    assert kind == "picture", camera.name
    assert width == min(camera.width, 640)
    assert abs(width / height - camera.width / camera.height) < 0.02, (width, height)


@pytest.mark.parametrize("camera", CAMERAS, ids=lambda c: c.name)
def test_the_cameras_audio_is_in_the_clips(zoo: ZooRun, camera: ZooCamera) -> None:
    assert zoo.recordings[camera.name].audio == CLIP_AUDIO[camera.audio]


def test_frames_recorded_match_what_the_cameras_sent(zoo: ZooRun) -> None:
    """The cameras' own count: every access unit they handed their payloader while connected is in a
    clip, but for the ones before the first keyframe and after the last clip closed (a few seconds)."""
    for camera in ZOO.values():
        sent = zoo.sent[camera.path]["frames"]
        recorded = zoo.recordings[camera.name].frames
        assert sent - 4 * GOP <= recorded <= sent, (camera.name, recorded, sent)
    assert zoo.sent[ZOO["x264-restart"].path]["restarts"] >= 2


@pytest.mark.parametrize("camera", [c for c in CAMERAS if c.live_view], ids=lambda c: c.name)
def test_live_view_decodes_every_frame_and_relays_webrtc_audio(zoo: ZooRun, camera: ZooCamera) -> None:
    row = zoo.live[camera.name]
    assert row.status == 201, row.reason
    assert row.decoded >= WATCH_SECONDS * FPS * 0.8, row.result
    assert row.decoded == row.expected, f"{camera.name}: a viewer lost frames: {row.result}"
    assert not row.warnings, row.warnings
    assert row.first_frame is not None
    assert row.first_frame < 1.5
    if camera.audio in ("pcm_mulaw", "pcm_alaw", "opus"):
        assert row.audio == camera.audio
        assert row.sound_span >= WATCH_SECONDS * 0.5
        assert row.sound_seconds >= 0.95 * row.sound_span, row.result  # no hole in the sound
    else:
        assert row.audio == ""


@pytest.mark.parametrize("camera", [c for c in CAMERAS if not c.live_view], ids=lambda c: c.name)
def test_live_view_says_why_it_cannot_show_a_camera(zoo: ZooRun, camera: ZooCamera) -> None:
    row = zoo.live[camera.name]
    assert row.status == 409
    assert ("B-frames" if camera.bframes else "H.264 only") in row.reason
    status = zoo.agents[camera.name]["liveView"]
    assert status["available"] is False
    assert status["reason"] == row.reason


def test_the_log_says_what_became_of_each_cameras_audio_once(zoo: ZooRun) -> None:
    lines = [json.loads(line) for line in zoo.log.splitlines() if line.startswith("{")]
    assert not [line for line in lines if "Traceback" in json.dumps(line)]
    for camera in CAMERAS:
        said = [line["msg"] for line in lines if line["msg"].startswith(f"camera {camera.name}: audio")]
        assert len(said) == 1, said
        if camera.audio in ("pcm_mulaw", "pcm_alaw"):
            assert "converted to AAC" in said[0]
            assert "relayed as is to live view" in said[0]
        elif camera.audio == "aac":
            assert "not relayed" in said[0]
    assert not [line for line in lines if "timestamp jump of 0.000" in line["msg"]]
    statuses = {c.name: zoo.agents[c.name]["liveView"]["audio"] for c in CAMERAS if c.audio == "aac"}
    assert all(s["relayed"] is False and "not a WebRTC codec" in s["reason"] for s in statuses.values())
