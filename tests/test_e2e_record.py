"""End to end: `vsnative serve` records real RTSP cameras (GStreamer's server) into clean 5-second clips."""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.camera import FakeCamera, free_port
from tests.support.garbage import GarbageServer
from tests.support.media import decode_errors, probe, video_packets
from tests.support.service import Service, write_settings
from vsnative.recordings import clip_start

pytestmark = pytest.mark.slow
FPS = 25
GOP_SECONDS = 2.0
CLIP_SECONDS = 5.0
FAST_RETRY = {
    "defaults": {"framers": {"rtsp": {"openTimeoutSeconds": 3, "readTimeoutSeconds": 3, "stallSeconds": 4}}}
}


def index_of(root: Path, camera_id: str) -> list[dict[str, Any]]:
    entries = []
    for index in sorted((root / camera_id).glob("*/index.jsonl")):
        entries += [json.loads(line) for line in index.read_text().splitlines() if line.strip()]
    return sorted(entries, key=lambda e: e["start"])


def clips_of(root: Path, camera_id: str) -> list[Path]:
    return sorted((root / camera_id).glob("*/*.mp4"))


def assert_clean_clip(path: Path, codec: str) -> list[dict[str, str]]:
    """A clip starts with a keyframe at 0, decodes without a single error and has no hole inside."""
    assert decode_errors(path) == "", path
    packets = video_packets(path)
    assert packets, path
    assert "K" in packets[0]["flags"], f"{path} does not start with a keyframe"
    assert float(packets[0]["pts_time"]) == pytest.approx(0.0, abs=1e-3)
    times = sorted(float(p["pts_time"]) for p in packets)
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert max(steps, default=0) < 2.5 / FPS, f"{path} hides a gap of {max(steps):.3f} s"
    video = [s for s in probe(path)["streams"] if s["codec_type"] == "video"]
    assert video[0]["codec_name"] == codec
    return packets


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def service_factory(tmp_path: Path, recordings: Path) -> Iterator[Any]:
    started: list[Service] = []

    def make(cameras: list[dict[str, Any]], pipeline: dict[str, Any] | None = None) -> Service:
        settings = write_settings(tmp_path / "settings", cameras, pipeline)
        service = Service(settings, recordings)
        started.append(service)
        return service.start()

    yield make
    for service in started:
        service.stop()


def test_records_h264_h265_and_audio_and_isolates_bad_cameras(
    camera: FakeCamera, service_factory: Any, recordings: Path, tmp_path: Path
) -> None:
    with (
        FakeCamera({"/locked": str(Path(camera.mounts["/h264-1080"]))}, auth="admin:secret") as locked,
        GarbageServer() as garbage,
    ):
        cameras = [
            {"id": "cam720", "rtspUrl": camera.url("/h264", "viewer:goodpass")},
            {"id": "cam1080", "rtspUrl": camera.url("/h264-1080")},
            {"id": "cam265", "rtspUrl": camera.url("/h265")},
            {"id": "camudp", "rtspUrl": camera.url("/h264-1080")},
            {"id": "badauth", "rtspUrl": locked.url("/locked", "admin:wrongpass")},
            {"id": "nowhere", "rtspUrl": f"rtsp://admin:nopass@127.0.0.1:{free_port()}/x"},
            {"id": "garbage", "rtspUrl": f"rtsp://127.0.0.1:{garbage.port}/x"},
            {"id": "typo", "framerType": "gocv", "rtspUrl": "rtsp://u:typopass@127.0.0.1/x"},
            {"id": "off", "excluded": True, "rtspUrl": camera.url("/h264")},
        ]
        pipeline = {**FAST_RETRY, "cameras": {"camudp": {"framers": {"rtsp": {"transport": "udp"}}}}}
        service = service_factory(cameras, pipeline)
        good = ("cam720", "cam1080", "cam265", "camudp")
        service.wait_for(
            lambda: all(service.agents()[c]["state"] == "running" for c in good), 20, "cameras running"
        )
        started = time.time()
        service.wait_for(
            lambda: (
                service.agents()["badauth"]["failure"] == "unauthorized"
                and service.agents()["nowhere"]["failure"] == "unreachable"
                and service.agents()["garbage"]["failure"] in ("malformed_stream", "unreachable")
            ),
            20,
            "bad cameras classified",
        )
        agents = service.agents()
        assert "off" not in agents
        assert agents["typo"]["state"] == "failed"
        assert agents["typo"]["failure"] == "config_error"
        assert agents["badauth"]["state"] == "failed"
        # a person reads what is wrong; FFmpeg's own words stay in the detail (and the log)
        assert agents["badauth"]["lastError"] == "wrong username or password"
        assert "/locked" in agents["badauth"]["lastErrorDetail"]
        assert agents["nowhere"]["lastError"] == "camera unreachable"
        assert agents["garbage"]["lastError"] in ("not an RTSP video stream", "camera unreachable")
        assert "Errno" not in agents["nowhere"]["lastError"]
        assert agents["nowhere"]["state"] in ("retrying", "starting")
        assert all(agents[c]["healthy"] for c in good)
        time.sleep(max(0.0, 20 - (time.time() - started)))
        api_text = json.dumps(service.get("/api/agents")) + json.dumps(service.get("/api/health"))
        assert service.terminate() == 0
    log = service.log()
    for secret in ("goodpass", "wrongpass", "nopass", "typopass", "secret@"):
        assert secret not in log, f"{secret} leaked into the log"
        assert secret not in api_text, f"{secret} leaked into the API"
    assert "Traceback" not in log
    for lines in log.splitlines():
        json.loads(lines)  # every log line is JSON

    for cam_id, codec in (("cam720", "h264"), ("cam1080", "h264"), ("cam265", "hevc"), ("camudp", "h264")):
        clips = clips_of(recordings, cam_id)
        index = index_of(recordings, cam_id)
        assert len(clips) >= 3, f"{cam_id}: {clips}"
        assert [e["file"] for e in index] == [c.name for c in clips]
        assert not list((recordings / cam_id).rglob("*.part")), "shutdown left a clip open"
        for clip, entry in zip(clips, index, strict=True):
            packets = assert_clean_clip(clip, codec)
            assert entry["frames"] == len(packets)
            assert entry["duration"] <= CLIP_SECONDS + GOP_SECONDS + 0.01
        # consecutive clips cover the recording with no missing frame
        for before, after in itertools.pairwise(index):
            assert after["start"] - before["start"] == pytest.approx(before["duration"], abs=0.5 / FPS)
        total = index[-1]["start"] + index[-1]["duration"] - index[0]["start"]
        assert sum(e["frames"] for e in index) == pytest.approx(total * FPS, abs=1)
        assert total >= 18
    streams = probe(clips_of(recordings, "cam720")[0])["streams"]
    audio = [s for s in streams if s["codec_type"] == "audio"]
    assert audio
    assert audio[0]["codec_name"] == "aac"
    assert not (recordings / "badauth").exists()
    assert not (recordings / "off").exists()


def test_camera_restart_gap_falls_between_clips(
    camera: FakeCamera, service_factory: Any, recordings: Path
) -> None:
    service = service_factory([{"id": "cam", "rtspUrl": camera.url("/h264")}], FAST_RETRY)
    service.wait_for(lambda: service.agents()["cam"]["counters"]["clips"] >= 1, 20, "first clip")
    time.sleep(2)
    camera.stop()
    outage_start = time.time()
    service.wait_for(lambda: service.agents()["cam"]["state"] == "retrying", 15, "agent notices the outage")
    time.sleep(2)
    camera.start()
    outage_end = time.time()
    service.wait_for(lambda: service.agents()["cam"]["state"] == "running", 30, "agent reconnects")
    reconnected = service.agents()["cam"]["counters"]["clips"]
    service.wait_for(
        lambda: service.agents()["cam"]["counters"]["clips"] >= reconnected + 1, 20, "recording resumes"
    )
    assert service.agents()["cam"]["counters"]["reconnects"] >= 1
    assert service.terminate() == 0

    index = index_of(recordings, "cam")
    for clip in clips_of(recordings, "cam"):
        assert_clean_clip(clip, "h264")
    before = [e for e in index if e["start"] + e["duration"] <= outage_start + 0.5]
    after = [e for e in index if e["start"] >= outage_end - 0.5]
    assert before, index
    assert after, index
    assert len(before) + len(after) == len(index), "a clip spans the outage"
    assert after[0]["start"] - (before[-1]["start"] + before[-1]["duration"]) >= 2


def test_kill9_keeps_closed_clips_and_completed_fragments(
    camera: FakeCamera, service_factory: Any, recordings: Path
) -> None:
    service = service_factory([{"id": "cam", "rtspUrl": camera.url("/h264")}])
    service.wait_for(lambda: service.agents()["cam"]["counters"]["clips"] >= 1, 20, "first clip closed")
    time.sleep(3.5)  # the next clip has one completed 2 s fragment on disk
    assert service.proc is not None
    os.kill(service.proc.pid, signal.SIGKILL)
    service.proc.wait(timeout=10)

    closed = clips_of(recordings, "cam")
    assert closed
    for clip in closed:
        assert_clean_clip(clip, "h264")
    parts = list((recordings / "cam").rglob("*.mp4.part"))
    assert len(parts) == 1
    kept = video_packets(parts[0])
    assert len(kept) >= GOP_SECONDS * FPS, f"only {len(kept)} frames survived in {parts[0]}"
    assert "K" in kept[0]["flags"]

    # started again, the camera's agent finalises what the killed one left: a normal clip, indexed
    service.start()
    service.wait_for(lambda: service.agents()["cam"]["counters"]["recovered"] == 1, 20, "recovery")
    assert not parts[0].exists()
    final = parts[0].with_name(parts[0].name.removesuffix(".part"))
    entry = next(e for e in index_of(recordings, "cam") if e["file"] == final.name)
    assert entry["recovered"] is True
    assert entry["frames"] == len(assert_clean_clip(final, "h264")) >= GOP_SECONDS * FPS
    named = clip_start(final)
    assert named is not None
    assert 0 <= entry["start"] - named.timestamp() < 1  # its exact start, from its own metadata
    listed = service.get("/api/cameras/cam/clips")["clips"]
    assert any(c["url"].endswith(final.name) for c in listed)
    assert service.terminate() == 0


def test_frozen_camera_is_detected_and_not_reported_healthy(
    camera: FakeCamera, service_factory: Any, recordings: Path
) -> None:
    """A camera that keeps its connection open but sends nothing (SIGSTOP): the read timeout fires."""
    service = service_factory([{"id": "cam", "rtspUrl": camera.url("/h264")}], FAST_RETRY)
    service.wait_for(lambda: service.agents()["cam"]["healthy"], 20, "agent healthy")
    assert camera.proc is not None
    os.kill(camera.proc.pid, signal.SIGSTOP)
    try:
        frozen = time.monotonic()
        service.wait_for(lambda: not service.agents()["cam"]["healthy"], 10, "agent unhealthy")
        service.wait_for(lambda: service.agents()["cam"]["state"] != "running", 10, "agent leaves running")
        assert time.monotonic() - frozen < 3 + 4 + 2  # read timeout 3 s, stall window 4 s
        health = service.get("/api/health")
        assert health["healthyAgents"] == 0
    finally:
        os.kill(camera.proc.pid, signal.SIGCONT)
    service.wait_for(lambda: service.agents()["cam"]["healthy"], 30, "agent recovers")
    assert service.terminate() == 0
    for clip in clips_of(recordings, "cam"):
        assert_clean_clip(clip, "h264")
