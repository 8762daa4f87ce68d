"""Camera health events: the watches' debounce and once-per-spell rules, the events store's kinds (and
an older database gaining them), the alert bus storing and sending them, and retention's space events."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.alerters.test_bus import Receiver, drain
from tests.test_recordings import T0, make_clip
from vsnative.alerters.bus import AlertBus, AlertsConfig
from vsnative.alerters.webhook import WebhookAlerter, WebhookConfig
from vsnative.events import EventStore
from vsnative.health_events import (
    DETECTOR_RECOVERED_SECONDS,
    RETENTION_NOTICE_SECONDS,
    CameraWatch,
    HealthConfig,
    HealthKind,
    Notice,
    StorageWatch,
)
from vsnative.parts import Part, PartState
from vsnative.recordings import RetentionConfig, sweep

CONFIG = HealthConfig(offlineAfterSeconds=10, onlineAfterSeconds=3)


def kinds(notices: list[Notice]) -> list[tuple[str, bool]]:
    return [(n.kind.value, n.announce) for n in notices]


def run_watch(watch: CameraWatch, timeline: list[tuple[float, bool]], **observed: Any) -> list[Notice]:
    """Observe once a second from the first moment to the last of `timeline` ((t, streaming) steps)."""
    notices: list[Notice] = []
    states = dict(timeline)
    streaming = False
    for t in range(int(timeline[0][0]), int(timeline[-1][0]) + 1):
        streaming = states.get(t, streaming)
        notices += watch.observe(float(t), streaming, **observed)
    return notices


def test_a_camera_first_seen_sets_availability_but_is_no_event() -> None:
    watch = CameraWatch("cam", "Front", CONFIG, now=0.0)
    notices = run_watch(watch, [(0, False), (1, True), (5, True)], recording_ok=True)
    assert kinds(notices) == [("camera_online", False)]
    assert watch.online is True


def test_offline_is_said_after_the_debounce_with_the_reason_and_online_when_video_is_back() -> None:
    watch = CameraWatch("cam", "Front", CONFIG, now=0.0)
    run_watch(watch, [(0, True), (4, True)], recording_ok=True)
    # a reconnect of 5 s says nothing
    assert run_watch(watch, [(5, False), (10, True), (20, True)], recording_ok=True, reason="x") == []
    down = run_watch(
        watch, [(21, False), (30, False), (31, False)], recording_ok=False, reason="camera unreachable"
    )
    assert kinds(down) == [("camera_offline", True)]
    assert down[0].message == "camera unreachable"
    assert down[0].camera_id == "cam"
    assert down[0].camera_name == "Front"
    assert watch.online is False
    # still down: said once; back for 2 s: not yet; 3 s: camera_online
    assert run_watch(watch, [(32, False), (60, False)], recording_ok=False) == []
    up = run_watch(watch, [(61, True), (63, True)], recording_ok=True)
    assert kinds(up) == []
    assert kinds(run_watch(watch, [(64, True)], recording_ok=True)) == [("camera_online", True)]


def test_a_camera_that_never_streams_is_said_offline() -> None:
    watch = CameraWatch("cam", "Front", CONFIG, now=0.0)
    notices = run_watch(
        watch, [(0, False), (12, False)], recording_ok=False, reason="wrong username or password"
    )
    assert kinds(notices) == [("camera_offline", True)]
    assert notices[0].message == "wrong username or password"


def test_recording_stalled_only_while_video_comes_in() -> None:
    watch = CameraWatch("cam", "Front", CONFIG, now=0.0)
    run_watch(watch, [(0, True), (4, True)], recording_ok=True)
    stalled = run_watch(watch, [(5, True), (8, True)], recording_ok=False)
    assert kinds(stalled) == [("recording_stalled", True)]
    assert kinds(run_watch(watch, [(9, True), (10, True)], recording_ok=True)) == [
        ("recording_resumed", True)
    ]
    # the camera going away stops recording too: only camera_offline is said
    notices = run_watch(watch, [(11, False), (30, False)], recording_ok=False, reason="camera unreachable")
    assert kinds(notices) == [("camera_offline", True)]
    back = run_watch(watch, [(31, True), (40, True)], recording_ok=None)  # a camera with no recorder
    assert kinds(back) == [("camera_online", True)]


def test_detector_failed_once_per_failure_spell() -> None:
    watch = CameraWatch("cam", "Front", CONFIG, now=0.0)
    detector = Part("detector", "cam")
    assert kinds(run_watch(watch, [(0, True), (4, True)], recording_ok=True, detector=detector)) == [
        ("camera_online", False)
    ]
    notices: list[Notice] = []
    for t in range(5, 40):  # crash-looping: failed, running (restarted), failed again...
        if t % 2:
            detector.fail(ValueError("bad tensor"))
        else:
            detector.set(PartState.RUNNING)
        notices += watch.observe(float(t), True, True, detector=detector)
    assert kinds(notices) == [("detector_failed", True)]
    assert "ValueError: bad tensor" in notices[0].message
    detector.set(PartState.RUNNING)
    ran = int(DETECTOR_RECOVERED_SECONDS) + 2
    assert run_watch(watch, [(40, True), (40 + ran, True)], recording_ok=True, detector=detector) == []
    detector.set(PartState.DISABLED, "the model's outputs match no layout")
    again = watch.observe(float(41 + ran), True, True, detector=detector)
    assert kinds(again) == [("detector_failed", True)]
    assert "disabled" in again[0].message


def test_a_detector_that_failed_and_came_back_between_two_looks_has_failed() -> None:
    watch = CameraWatch("cam", "Front", CONFIG, now=0.0)
    detector = Part("detector", "cam")
    watch.observe(0.0, True, True, detector=detector)
    detector.fail(RuntimeError("boom"))
    detector.set(PartState.RUNNING)  # restarted before the watch looked again
    notices = watch.observe(1.0, True, True, detector=detector)
    assert kinds(notices) == [("detector_failed", True)]
    assert notices[0].message == "the detector failed: RuntimeError: boom"


def test_storage_watch_rate_limits_retention_forced_and_says_storage_low_once() -> None:
    watch = StorageWatch()
    first = watch.observe(0.0, {"cam": 3}, free=10, min_free=5, oldest_hours=20.0)
    assert kinds(first) == [("retention_forced", True)]
    assert first[0].camera_id == "cam"
    assert first[0].message.startswith("3 clips deleted")
    assert "20.0 h" in first[0].message
    assert watch.observe(60.0, {"cam": 2}, free=10, min_free=5) == []  # within the hour: counted
    later = watch.observe(RETENTION_NOTICE_SECONDS + 1, {"cam": 1}, free=10, min_free=5)
    assert [n.message.split(" clips")[0] for n in later] == ["3"]  # 2 + 1 since the last notice
    low = watch.observe(RETENTION_NOTICE_SECONDS + 2, {}, free=4, min_free=5)
    assert kinds(low) == [("storage_low", True)]
    assert low[0].camera_id is None
    assert watch.observe(RETENTION_NOTICE_SECONDS + 3, {}, free=3, min_free=5) == []
    assert watch.observe(RETENTION_NOTICE_SECONDS + 4, {}, free=6, min_free=5) == []  # recovered
    assert kinds(watch.observe(RETENTION_NOTICE_SECONDS + 5, {}, free=4, min_free=5)) == [
        ("storage_low", True)
    ]


def test_retention_reports_clips_deleted_for_space_per_camera(tmp_path: Path) -> None:
    for i in range(4):
        make_clip(tmp_path, f"cam{i % 2}", T0 + i * 6)
    make_clip(tmp_path, "old", T0 - 10 * 86400)
    free = shutil.disk_usage(tmp_path).free
    report = sweep(tmp_path, RetentionConfig(maxAgeHours=48, minFreeBytes=free * 10), now=T0)
    assert report.forced == {"cam0": 2, "cam1": 2}  # the old camera's clip went for its age, not space
    assert report.reasons == {"age": 1, "disk": 4}
    assert report.free is not None
    assert report.free < free * 10
    assert sweep(tmp_path / "absent", RetentionConfig()).free is None


def test_events_store_lists_by_kind_and_an_older_database_gains_the_kind(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    old = sqlite3.connect(path)  # the first release's table, with one detection in it
    old.execute(
        "CREATE TABLE events (id TEXT PRIMARY KEY, camera TEXT NOT NULL, label TEXT NOT NULL, "
        "confidence REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL, "
        "ts REAL NOT NULL, snapshot TEXT)"
    )
    old.execute("INSERT INTO events VALUES ('d1', 'cam', 'person', 0.9, 0, 0, 1, 1, 100.0, NULL)")
    old.commit()
    old.close()
    store = EventStore(path)
    notice = Notice(HealthKind.CAMERA_OFFLINE, "cam", "camera unreachable", 200.0, event_id="h1")
    from vsnative.events import Event

    store.add(Event.of_notice(notice))
    store.add(Event.of_notice(Notice(HealthKind.STORAGE_LOW, None, "1 GB free", 300.0, event_id="h2")))
    assert [e.id for e in store.query()] == ["h2", "h1", "d1"]
    assert [e.id for e in store.query(kinds={"detection"})] == ["d1"]
    assert [e.id for e in store.query(camera="cam", kinds={"camera_offline", "camera_online"})] == ["h1"]
    offline = store.get("h1")
    assert offline is not None
    public = offline.public()
    assert public["kind"] == "camera_offline"
    assert public["message"] == "camera unreachable"
    assert public["clipUrl"] is None
    assert public["label"] is None
    storage = store.get("h2")
    assert storage is not None
    assert storage.public()["cameraId"] is None
    detection = store.get("d1")
    assert detection is not None
    assert detection.public()["kind"] == "detection"
    store.close()


async def test_the_bus_stores_a_health_event_and_sends_it_but_not_a_first_availability(
    tmp_path: Path, receiver_url: Any
) -> None:
    receiver = Receiver()
    hook = WebhookAlerter(WebhookConfig(url=await receiver_url(receiver)), tmp_path)
    store = EventStore(tmp_path / "events.db")
    bus = AlertBus(AlertsConfig(cooldownSeconds=30), [hook], store)
    assert bus.notify(Notice(HealthKind.CAMERA_ONLINE, "cam", "video is back", announce=False))
    assert bus.notify(Notice(HealthKind.CAMERA_OFFLINE, "cam", "camera unreachable", 1000.0, "Front"))
    assert bus.notify(Notice(HealthKind.CAMERA_OFFLINE, "cam", "again: no cooldown", 1001.0, "Front"))
    await drain(bus)
    assert [p["message"] for p in receiver.received] == ["camera unreachable", "again: no cooldown"]
    payload = receiver.received[0]
    assert payload["kind"] == "camera_offline"
    assert payload["cameraName"] == "Front"
    stored = store.query(kinds={"camera_offline", "camera_online"})
    assert [e.message for e in stored] == ["again: no cooldown", "camera unreachable"]
    assert {e.id for e in stored} == {p["eventId"] for p in receiver.received}
    assert bus.stats()["notices"] == 3
    store.close()


async def test_a_full_queue_counts_the_health_event_it_lost() -> None:
    bus = AlertBus(AlertsConfig(queueSize=1), [], None)
    assert bus.notify(Notice(HealthKind.CAMERA_OFFLINE, "cam", "a"))
    assert not bus.notify(Notice(HealthKind.CAMERA_ONLINE, "cam", "b"))
    assert bus.stats()["dropped"] == 1
    await asyncio.sleep(0)


@pytest.mark.parametrize("kind", list(HealthKind))
def test_every_kind_payload_is_plain_json(kind: HealthKind) -> None:
    import orjson

    payload = Notice(kind, "cam", "m", event_id="e").payload()
    assert orjson.loads(orjson.dumps(payload))["kind"] == kind.value
