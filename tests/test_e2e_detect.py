"""Detection end to end: a fake RTSP camera streams a moving red square (and another a real photograph);
`serve` decodes keyframes, runs ONNX detectors, and the events API shows what was found."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.conftest import SHARED
from tests.support.camera import FakeCamera
from tests.support.media import decode_errors, ffmpeg
from tests.support.onnx_models import red_square_model
from tests.support.service import Service, write_settings

pytestmark = pytest.mark.slow
W, H, SIDE, Y = 640, 360, 80, 100


def red_square_video(path: Path, seconds: int = 8) -> Path:
    """A 80x80 red square sliding 60 px/s along y=100 over a grey-green background, keyframe every 1 s."""
    graph = (
        f"color=c=0x788c78:s={W}x{H}:r=25:d={seconds}[bg];color=c=0xEB191E:s={SIDE}x{SIDE}:r=25:d={seconds}[sq];"
        f"[bg][sq]overlay=x='mod(t*60\\,{W - SIDE})':y={Y}"
    )
    ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            graph,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-keyint_min",
            "25",
            "-sc_threshold",
            "0",
            "-bf",
            "0",
            "-bsf:v",
            "h264_mp4toannexb,h264_metadata=aud=insert",
            "-f",
            "h264",
            str(path),
        ]
    )
    return path


def photo_video(path: Path, rgb: np.ndarray, seconds: int = 4) -> Path:
    h, w = rgb.shape[:2]
    frames = np.ascontiguousarray(rgb[: h - h % 2, : w - w % 2]).tobytes() * (25 * seconds)
    ffmpeg(
        [
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{w - w % 2}x{h - h % 2}",
            "-r",
            "25",
            "-i",
            "-",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-bf",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-bsf:v",
            "h264_mp4toannexb,h264_metadata=aud=insert",
            "-f",
            "h264",
            str(path),
        ],
        frames,
    )
    return path


def get(service: Service, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(service.base + path, timeout=30) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def fetch(service: Service, path: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(service.base + path, timeout=30) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def red_box(jpeg: bytes, tmp: Path) -> tuple[int, int, int, int]:
    path = tmp / "snap.jpg"
    path.write_bytes(jpeg)
    with av.open(str(path)) as c:
        rgb = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(np.int16)
    mask = (rgb[:, :, 0] > 170) & (rgb[:, :, 1] < 60) & (rgb[:, :, 2] < 60)
    # the solid square has 80 red pixels per row and column; drawn lines and label text have far fewer
    xs = np.nonzero(mask.sum(axis=0) >= SIDE // 2)[0]
    ys = np.nonzero(mask.sum(axis=1) >= SIDE // 2)[0]
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Any]:
    started: list[Any] = []

    def start(mounts: dict[str, str], cameras: list[dict[str, Any]], pipeline: dict[str, Any]) -> Service:
        camera = FakeCamera(mounts).start()
        started.append(camera)
        for cam in cameras:
            cam["rtspUrl"] = camera.url(cam.pop("mount"))
        settings = write_settings(tmp_path / "settings", cameras, pipeline)
        service = Service(settings, tmp_path / "recordings").start()
        started.append(service)
        return service

    yield start
    for thing in reversed(started):
        thing.stop()


def test_red_square_events_with_boxes_snapshots_and_clips(served: Any, tmp_path: Path) -> None:
    names = tmp_path / "names.txt"
    names.write_text("red square\n")
    model = red_square_model(tmp_path / "red.onnx", "yolov8")
    video = red_square_video(tmp_path / "red.h264")
    detector = {"type": "onnxYolo", "model": str(model), "classNames": str(names)}
    pipeline = {
        "defaults": {
            "streamers": [
                {"type": "mp4Recorder", "clipSeconds": 2},
                {"type": "detector", "detector": detector},
            ],
            "alerts": {"cooldownSeconds": 1},
        }
    }
    service = served({"/red": str(video)}, [{"id": "cam", "mount": "/red"}], pipeline)
    # the clip link of an event just announced says "not yet" (before: 404, or a clip ending before it)
    service.wait_for(lambda: json.loads(get(service, "/api/events?camera=cam")[1])["events"], 20, "an event")
    first = json.loads(get(service, "/api/events?camera=cam")[1])["events"][-1]
    status, body, headers = fetch(service, f"/api/events/{first['id']}/clip.mp4")
    assert status == 202, body[:200]
    assert int(headers["Retry-After"]) >= 2
    assert json.loads(body)["status"] == "recording"
    service.wait_for(lambda: service.agents()["cam"]["counters"]["clips"] >= 4, 30, "clips")
    deadline = time.monotonic() + 30
    while (answer := fetch(service, f"/api/events/{first['id']}/clip.mp4"))[0] == 202:
        assert time.monotonic() < deadline, "the event's clip never became ready"
        time.sleep(int(answer[2]["Retry-After"]))
    status, _, headers = answer
    assert status == 200
    covered = float(headers["X-Vsn-Start-Unix"]) + float(headers["X-Vsn-Duration"])
    assert float(headers["X-Vsn-Start-Unix"]) <= first["timestamp"]  # (recording began a second before it)
    assert covered >= first["timestamp"] + 5 - 0.1  # the whole window after the event
    status, body = get(service, "/api/events?camera=cam")
    assert status == 200
    events = json.loads(body)["events"]
    assert len(events) >= 3
    for event in events[:3]:
        assert event["label"] == "red square"
        assert event["confidence"] > 0.9
        x1, y1, x2, y2 = (event["box"][0] * W, event["box"][1] * H, event["box"][2] * W, event["box"][3] * H)
        assert abs(y1 - Y) <= 4
        assert abs(y2 - (Y + SIDE)) <= 4
        assert abs((x2 - x1) - SIDE) <= 4
        status, jpeg = get(service, f"/api/events/{event['id']}/snapshot.jpg")
        assert status == 200
        sx1, sy1, sx2, sy2 = red_box(jpeg, tmp_path)  # the square in the snapshot is where the box says
        assert max(abs(sx1 - x1), abs(sy1 - y1), abs(sx2 - x2), abs(sy2 - y2)) <= 6
    # events fall on the clips' timeline: an event (detected on a keyframe) is dated the way the recorder
    # dates that picture, a whole number of frames into its clip (before: its arrival, 0.2 s off)
    index = [
        json.loads(line)
        for day in sorted((service.recordings_dir / "cam").glob("*/index.jsonl"))
        for line in day.read_text().splitlines()
    ]
    # (the camera's first RTCP sender report comes a second or two after connecting: until then both
    # are dated by arrival, so the first clip is left out)
    checked = 0
    for event in events:
        clip_of = [
            e for e in index[1:] if e["start"] - 1e-3 <= event["timestamp"] < e["start"] + e["duration"]
        ]
        if clip_of:
            frames = (event["timestamp"] - clip_of[0]["start"]) * 25
            assert abs(frames - round(frames)) < 0.05, (event["timestamp"], clip_of[0])
            checked += 1
    assert checked >= 2
    oldest = events[-1]
    status, clip = get(service, f"/api/events/{oldest['id']}/clip.mp4")
    assert status == 200, clip[:200]
    (tmp_path / "event.mp4").write_bytes(clip)
    assert decode_errors(tmp_path / "event.mp4") == ""
    assert get(service, "/api/events?label=cat")[1] == b'{"events": []}'
    assert get(service, "/api/events/nope")[0] == 404
    assert get(service, "/api/events?limit=0")[0] == 400
    # detection is visible: its state, what it analysed, how long the model takes, what became of alerts
    shown = service.agents()["cam"]["detection"]
    assert shown["state"] == "running"
    assert shown["framesAnalysed"] >= len(events)
    assert shown["detections"] >= len(events)
    assert 0 < shown["inferenceP50Ms"] < 1000
    alerts = shown["alerts"]
    assert alerts["published"] >= len(events)
    assert alerts["published"] + alerts["suppressed"] + alerts["dropped"] >= shown["detections"] - 1
    status, metrics = get(service, "/metrics")
    text = metrics.decode()
    assert 'vsnative_camera_detector_up{camera="cam"} 1' in text
    assert 'vsnative_camera_frames_analysed_total{camera="cam"} ' in text
    assert 'vsnative_camera_alerts_total{camera="cam",outcome="published"}' in text
    assert 'vsnative_camera_inference_seconds{camera="cam"}' in text


def test_pretrained_yolo_finds_the_cup_in_a_real_photograph(served: Any, tmp_path: Path) -> None:
    model = SHARED / "models" / "yolov3-tiny-coco-v5-320.onnx"
    if not model.exists():
        pytest.skip(f"{model} absent (the shared folder is not beside this checkout)")
    from skimage import data

    video = photo_video(tmp_path / "coffee.h264", data.coffee())  # type: ignore[no-untyped-call]
    detector = {"type": "onnxYolo", "model": str(model), "classNames": str(SHARED / "models" / "coco.names")}
    pipeline = {"defaults": {"streamers": [{"type": "detector", "detector": detector}]}}
    service = served({"/coffee": str(video)}, [{"id": "kitchen", "mount": "/coffee"}], pipeline)
    deadline = time.monotonic() + 30
    labels: set[str] = set()
    while time.monotonic() < deadline and "cup" not in labels:
        time.sleep(0.5)
        labels = {e["label"] for e in json.loads(get(service, "/api/events?camera=kitchen")[1])["events"]}
    assert "cup" in labels


def test_bad_model_disables_detection_but_recording_carries_on(served: Any, tmp_path: Path) -> None:
    video = red_square_video(tmp_path / "red.h264")
    detector = {"type": "onnxYolo", "model": str(tmp_path / "missing.onnx")}
    pipeline = {
        "defaults": {
            "streamers": [
                {"type": "mp4Recorder", "clipSeconds": 1},
                {"type": "detector", "detector": detector},
            ]
        }
    }
    service = served({"/red": str(video)}, [{"id": "cam", "mount": "/red"}], pipeline)
    service.wait_for(lambda: service.agents()["cam"]["counters"]["clips"] >= 2, 30, "recording")
    assert "detector disabled" in service.log()
    assert "missing.onnx not found" in service.log()
    shown = service.agents()["cam"]["detection"]  # the API says so too, with the reason
    assert shown["state"] == "disabled"
    assert "missing.onnx not found" in shown["reason"]
    assert 'vsnative_camera_detector_up{camera="cam"} 0' in get(service, "/metrics")[1].decode()
