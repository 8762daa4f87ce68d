"""End to end: camera health events from a real `vsnative serve`. The camera's RTSP server (GStreamer) is
stopped: `camera_offline` is stored, listed by `/api/events?kind=`, sent to a webhook and to MQTT with the
retained availability `offline`, within the debounce; started again: `camera_online`, and recording goes on.
A disk retention cannot free says `storage_low`, and clips deleted for space say `retention_forced`."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.camera import FakeCamera
from tests.support.media import Media
from tests.support.mqtt import Broker, Subscriber
from tests.support.service import Service, write_settings
from tests.test_e2e_record import FAST_RETRY, index_of

pytestmark = pytest.mark.slow
OFFLINE_AFTER, ONLINE_AFTER = 3.0, 2.0
# the stream's end is seen at once (TCP closed) or after the read timeout (3 s), then the debounce
NOTICED_WITHIN = 3.0 + OFFLINE_AFTER + 3.0


def events(service: Service, query: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = service.get(f"/api/events?{query}")["events"]
    return found


def metrics(service: Service) -> str:
    with urllib.request.urlopen(service.base + "/metrics", timeout=5) as resp:  # noqa: S310 - loopback
        text: str = resp.read().decode()
        return text


def test_camera_offline_and_online_reach_the_api_and_mqtt(
    media: Media, broker: Broker, tmp_path: Path
) -> None:
    camera = FakeCamera({"/cam": str(media.h264_720)}).start()
    pipeline = {
        "defaults": {
            **FAST_RETRY["defaults"],
            "alerters": [{"type": "mqtt", "port": broker.port}],
            "health": {"offlineAfterSeconds": OFFLINE_AFTER, "onlineAfterSeconds": ONLINE_AFTER},
        }
    }
    settings = write_settings(tmp_path / "settings", [{"id": "cam", "rtspUrl": camera.url("/cam")}], pipeline)
    recordings = tmp_path / "recordings"
    service = Service(settings, recordings)
    try:
        with Subscriber(broker.port, "vsnative/cam/#") as mqtt:
            service.start()
            # first seen streaming: availability online (retained), and no event
            mqtt.wait_for("vsnative/cam/availability", b"online", 0, 30)
            assert events(service, "kind=health") == []
            assert service.agents()["cam"]["health"]["availability"] == "online"

            camera.stop()
            stopped = time.monotonic()
            offline = mqtt.wait_for("vsnative/cam/availability", b"offline", stopped, NOTICED_WITHIN + 2)
            with Subscriber(broker.port, "vsnative/cam/availability") as late:  # what Home Assistant reads
                kept = late.wait_for("vsnative/cam/availability", None, 0, 5)
            assert kept.retain
            assert kept.payload == b"offline"
            assert offline.at - stopped >= OFFLINE_AFTER - 0.5  # debounced, not at the first error
            assert offline.at - stopped <= NOTICED_WITHIN
            service.wait_for(lambda: events(service, "kind=camera_offline"), 5, "camera_offline stored")
            (stored,) = events(service, "kind=camera_offline&camera=cam")
            assert stored["message"] in ("camera unreachable", "the camera closed the stream")
            assert stored["cameraId"] == "cam"
            assert service.agents()["cam"]["health"]["availability"] == "offline"
            assert 'vsnative_camera_online{camera="cam"} 0' in metrics(service)
            on_mqtt = [json.loads(m.payload) for m in mqtt.received("vsnative/cam/events")]
            assert [(e["kind"], e["eventId"]) for e in on_mqtt] == [("camera_offline", stored["id"])]
            clips_before = len(index_of(recordings, "cam"))

            camera.start()  # the same port: the camera is back
            restarted = time.monotonic()
            mqtt.wait_for("vsnative/cam/availability", b"online", restarted, 30)
            service.wait_for(lambda: events(service, "kind=camera_online"), 5, "camera_online stored")
            listed = events(service, "camera=cam&kind=health")
            assert [e["kind"] for e in listed] == ["camera_online", "camera_offline"]  # newest first
            assert listed[0]["timestamp"] > listed[1]["timestamp"]
            assert events(service, "kind=detection") == []
            assert 'vsnative_camera_online{camera="cam"} 1' in metrics(service)
            service.wait_for(
                lambda: len(index_of(recordings, "cam")) >= clips_before + 1, 20, "clips after the restart"
            )
            with pytest.raises(urllib.error.HTTPError) as bad:
                service.get("/api/events?kind=bogus")
            assert bad.value.code == 400
            assert "unknown event kind" in bad.value.read().decode()
            assert service.terminate() == 0
        assert "Traceback" not in service.log()
    finally:
        service.stop()
        camera.stop()


class Hook:
    """A webhook receiver (http.server, in a thread) that keeps every JSON body it is sent."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hook:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_full_disk_says_storage_low_and_retention_forced(tmp_path: Path) -> None:
    """minFreeBytes above the disk's size: retention deletes every closed clip (for space, not age) and
    still cannot meet the floor. Each is said once, however many sweeps follow."""
    with Hook() as hook:
        pipeline = {
            "defaults": {
                "framers": {"random": {"width": 160, "height": 120, "fps": 10, "gopSeconds": 0.5}},
                "streamers": [{"type": "mp4Recorder", "clipSeconds": 1}],
                "alerters": [{"type": "webhook", "url": hook.url}],
            },
            "retention": {"minFreeBytes": 10**18},
        }
        cameras = [{"id": "synth", "framerType": "random"}]
        settings = write_settings(tmp_path / "settings", cameras, pipeline)
        service = Service(settings, tmp_path / "recordings", env={"VSN_RETENTION_SECONDS": "1"})
        try:
            service.start()
            service.wait_for(lambda: events(service, "kind=retention_forced"), 20, "retention_forced")
            (low,) = events(service, "kind=storage_low")
            assert low["cameraId"] is None
            assert "under minFreeBytes" in low["message"]
            (forced,) = events(service, "kind=retention_forced")
            assert forced["cameraId"] == "synth"
            assert "deleted before their age" in forced["message"]
            time.sleep(3)  # three more sweeps, each deleting: nothing more is said
            assert len(events(service, "kind=storage_low,retention_forced")) == 2
            assert sorted(p["kind"] for p in hook.received) == ["retention_forced", "storage_low"]
            assert service.agents()["synth"]["healthy"]  # the camera still records
            assert service.terminate() == 0
        finally:
            service.stop()
