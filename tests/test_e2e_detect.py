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

from tests.conftest import SHARED, shared_file
from tests.support.camera import FakeCamera
from tests.support.media import decode_errors, ffmpeg
from tests.support.mqtt import Broker, Subscriber
from tests.support.onnx_models import red_square_model
from tests.support.scene import FPS, GOP_SECONDS, SCRIPT, scene_video
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


def events_of(service: Service, query: str) -> list[dict[str, Any]]:
    status, body = get(service, f"/api/events?{query}")
    assert status == 200, body[:200]
    found: list[dict[str, Any]] = json.loads(body)["events"]
    return found


def test_red_square_is_one_tracked_event_per_pass_with_box_snapshot_and_clip(
    served: Any, tmp_path: Path
) -> None:
    """The camera loops a 5 s video of a square sliding right, then jumping back to the left: one object
    per pass (it moves 60 px between keyframes, more than half its side), so one event per pass, which
    starts and ends with the pass (before: one event per keyframe, cut by the cooldown)."""
    names = tmp_path / "names.txt"
    names.write_text("red square\n")
    model = red_square_model(tmp_path / "red.onnx", "yolov8")
    video = red_square_video(tmp_path / "red.h264", seconds=5)
    detector = {"type": "onnxYolo", "model": str(model), "classNames": str(names)}
    pipeline = {
        "defaults": {
            "streamers": [
                {"type": "mp4Recorder", "clipSeconds": 2},
                {"type": "detector", "detector": detector, "tracking": {"endSeconds": 2.5}},
            ],
        }
    }
    service = served({"/red": str(video)}, [{"id": "cam", "mount": "/red"}], pipeline)
    # an event in progress: the API says so, and its clip link says "not yet"
    service.wait_for(lambda: events_of(service, "camera=cam&inProgress=true"), 20, "an event in progress")
    (going,) = events_of(service, "camera=cam&inProgress=true")
    assert going["end"] is None
    status, body, headers = fetch(service, f"/api/events/{going['id']}/clip.mp4")
    assert status == 202, body[:200]
    assert json.loads(body)["status"] == "in progress"
    assert int(headers["Retry-After"]) >= 2
    (tracked,) = service.agents()["cam"]["detection"]["objects"]  # the square, tracked, with its event
    assert (tracked["label"], tracked["eventId"]) == ("red square", going["id"])
    # passes of 5 s: three are over, each one event
    service.wait_for(lambda: len(events_of(service, "camera=cam&inProgress=false")) >= 3, 40, "3 ended")
    events = events_of(service, "camera=cam")
    assert len(events) <= 4  # (the fourth pass may have begun)
    third, second, first = events_of(service, "camera=cam&inProgress=false")[-3:]
    for event in (first, second, third):
        assert event["label"] == "red square"
        assert event["confidence"] > 0.9
        assert event["endReason"] == "gone"
    assert first["id"] == going["id"]  # the event that was in progress is the one that ended
    # seen on the keyframes at 0..4 s of the video: 4 s long, one pass after the other (the first pass
    # is left out: until the camera's first RTCP sender report, a second or so in, pictures are dated by
    # their arrival, which the RTSP server's first burst delays)
    for event in (second, third):
        assert abs(event["duration"] - 4.0) < 0.1, event
    assert abs(third["start"] - second["start"] - 5.0) < 0.1
    x1, y1, x2, y2 = (second["box"][0] * W, second["box"][1] * H, second["box"][2] * W, second["box"][3] * H)
    assert abs(y1 - Y) <= 4
    assert abs(y2 - (Y + SIDE)) <= 4
    assert abs((x2 - x1) - SIDE) <= 4
    status, jpeg = get(service, f"/api/events/{second['id']}/snapshot.jpg")
    assert status == 200
    sx1, sy1, sx2, sy2 = red_box(jpeg, tmp_path)  # the best picture's square is where the box says
    assert max(abs(sx1 - x1), abs(sy1 - y1), abs(sx2 - x2), abs(sy2 - y2)) <= 6
    # the clip covers the whole event once its clips are closed; 202 until then
    deadline = time.monotonic() + 30
    while (answer := fetch(service, f"/api/events/{second['id']}/clip.mp4"))[0] == 202:
        assert time.monotonic() < deadline, "the event's clip never became ready"
        assert json.loads(answer[1])["status"] == "recording"
        time.sleep(int(answer[2]["Retry-After"]))
    status, clip, headers = answer
    assert status == 200
    clip_start = float(headers["X-Vsn-Start-Unix"])
    assert clip_start <= second["start"] - 5 + 2.1  # 5 s before (to the clip it falls in: clipSeconds 2)
    assert clip_start + float(headers["X-Vsn-Duration"]) >= second["end"] + 5 - 0.1
    (tmp_path / "event.mp4").write_bytes(clip)
    assert decode_errors(tmp_path / "event.mp4") == ""
    # events fall on the clips' timeline: an event's start (a keyframe) is dated the way the recorder
    # dates that picture, a whole number of frames into its clip (before: its arrival, 0.2 s off)
    index = [
        json.loads(line)
        for day in sorted((service.recordings_dir / "cam").glob("*/index.jsonl"))
        for line in day.read_text().splitlines()
    ]
    (clip_of,) = [e for e in index if e["start"] - 1e-3 <= second["start"] < e["start"] + e["duration"]]
    frames = (second["start"] - clip_of["start"]) * 25
    assert abs(frames - round(frames)) < 0.05, (second["start"], clip_of)
    assert events_of(service, "label=cat") == []
    assert get(service, "/api/events/nope")[0] == 404
    assert get(service, "/api/events?limit=0")[0] == 400
    assert get(service, "/api/events?inProgress=maybe")[0] == 400
    # detection is visible: its state, what it analysed, how long the model takes, the events
    shown = service.agents()["cam"]["detection"]
    assert shown["state"] == "running"
    assert shown["framesAnalysed"] >= 16
    assert shown["detections"] >= 16
    assert shown["eventsStarted"] >= 2
    assert shown["eventsEnded"] >= 2
    assert 0 < shown["inferenceP50Ms"] < 1000
    assert shown["alerts"]["events"] == shown["eventsStarted"]
    assert shown["alerts"]["dropped"] == 0
    status, metrics = get(service, "/metrics")
    text = metrics.decode()
    assert 'vsnative_camera_detector_up{camera="cam"} 1' in text
    assert 'vsnative_camera_frames_analysed_total{camera="cam"} ' in text
    assert 'vsnative_camera_events_total{camera="cam"} ' in text
    assert 'vsnative_camera_tracked_objects{camera="cam"} ' in text
    assert 'vsnative_camera_alerts_total{camera="cam",outcome="published"}' in text
    assert 'vsnative_camera_inference_seconds{camera="cam"}' in text


def test_a_scene_of_real_photos_gives_one_event_per_appearance_with_its_start_and_end(
    served: Any, tmp_path: Path, broker: Broker
) -> None:
    """The shared yolov3-tiny on a camera made of real photos with scripted appearances (support/scene.py):
    a cup in view all along (a parked object: one event, ended as stationary), a person for 10 s, a cat
    for 8 s, the person again for 6 s. Each appearance is one event whose start and end lie within a GOP
    of the truth; MQTT says new and end for each and keeps a retained count per label (before: one event
    per cooldown, no end, and a cup or parked car alerting every cooldown for ever)."""
    model = SHARED / "models" / "yolov3-tiny-coco-v5-320.onnx"
    shared_file(model)
    video = scene_video(tmp_path / "scene.h264")
    detector = {
        "type": "onnxYolo",
        "model": str(model),
        "classNames": str(SHARED / "models" / "coco.names"),
        "labels": ["person", "cat", "cup"],
    }
    upper, lower = [[0, 0], [1, 0], [1, 0.5], [0, 0.5]], [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]
    detecting = {
        "type": "detector",
        "detector": detector,
        "zones": [{"name": "shelf", "points": upper}, {"name": "floor", "points": lower}],
        "tracking": {"endSeconds": 3, "stationarySeconds": 12},
    }
    pipeline = {
        "defaults": {
            "streamers": [{"type": "mp4Recorder", "clipSeconds": 4}, detecting],
            "alerters": [{"type": "snapshot"}, {"type": "mqtt", "port": broker.port}],
        }
    }
    with Subscriber(broker.port, "vsnative/kitchen/#") as mqtt:
        service = served({"/scene": f"{video},fps={FPS}"}, [{"id": "kitchen", "mount": "/scene"}], pipeline)
        # the second appearance of the person ends 36 s into the scene, 3 s (endSeconds) later it is over
        service.wait_for(
            lambda: len(events_of(service, "camera=kitchen&inProgress=false")) >= 4, 75, "4 events over"
        )
        time.sleep(2)  # nothing more comes before the scene loops (the person again at 44 s)
        produced = sorted(events_of(service, "camera=kitchen&kind=detection"), key=lambda e: e["start"])
        messages = [json.loads(m.payload) for m in mqtt.received("vsnative/kitchen/events")]
        people = [m.payload for m in mqtt.received("vsnative/kitchen/person")]
    truth = sorted(SCRIPT, key=lambda a: a.start)
    table = [
        (a.label, a.start, a.end, e["label"], e["start"], e["end"], e["endReason"])
        for a, e in zip(truth, produced, strict=False)
    ]
    assert [e["label"] for e in produced] == [a.label for a in truth], table
    # the scene's time 0 on the recording's timeline, from the person's first appearance (the cup's start,
    # the first picture, is dated by arrival: the camera's first RTCP sender report comes later)
    zero = produced[1]["start"] - truth[1].start
    cup, *moving = zip(truth, produced, strict=True)
    for appearance, event in moving:
        assert abs(event["start"] - zero - appearance.start) <= GOP_SECONDS + 0.05, table
        # its end is the last picture it was seen in: the keyframe before it left
        assert abs(event["end"] - zero - appearance.end) <= GOP_SECONDS + 0.05, table
        assert event["endReason"] == "gone", table
        assert not event["stationary"]
    assert produced[1]["zones"] == ["floor"]
    _, parked = cup
    assert parked["endReason"] == "stationary"
    assert parked["stationary"]
    assert 12 <= parked["duration"] <= 12 + GOP_SECONDS + 1.5  # (its start dated by arrival, above)
    assert parked["zones"] == ["shelf"]
    assert [e["id"] for e in events_of(service, "camera=kitchen&zone=shelf")] == [parked["id"]]
    # still in view, and stationary, in the API
    (still,) = service.agents()["kitchen"]["detection"]["objects"]
    assert (still["label"], still["stationary"], still["eventId"]) == ("cup", True, None)
    for event in produced:
        status, jpeg = get(service, f"/api/events/{event['id']}/snapshot.jpg")
        assert status == 200
        assert jpeg[:2] == b"\xff\xd8"
    # MQTT: new then end for each event (updates only when the picture got better), in order
    for event in produced:
        types = [m["type"] for m in messages if m["eventId"] == event["id"]]
        assert types[0] == "new", types
        assert types[-1] == "end", types
        assert set(types) <= {"new", "update", "end"}
        (end,) = [m for m in messages if m["eventId"] == event["id"] and m["type"] == "end"]
        assert (end["start"], end["end"], end["label"]) == (event["start"], event["end"], event["label"])
    # the person count, retained: 0 at start (a count a killed agent left is stale), 1 while in view, 0
    # when gone, twice (what Home Assistant counts)
    assert people == [b"0", b"1", b"0", b"1", b"0"]
    with Subscriber(broker.port, "vsnative/kitchen/cup") as late:
        message = late.wait_for("vsnative/kitchen/cup", None, 0, 10)
    assert (message.payload, message.retain) == (b"1", True)  # the parked cup is still there


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
