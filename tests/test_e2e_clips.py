"""Recordings through the API: clip listing with gaps, Range downloads, traversal refused, exports without
re-encoding, bearer-token auth, Prometheus metrics — on a real RTSP camera recorded by `serve`."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.camera import FakeCamera
from tests.support.media import copy_quietly, decode_errors, video_packets
from tests.support.service import Service, write_settings
from vsnative.events import Event, EventStore
from vsnative.media.export import ExportError, export

pytestmark = pytest.mark.slow
TOKEN = "t0ken-for-the-tests-only"  # noqa: S105 - a test token
FPS = 25


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback test URL
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, media: Any) -> Iterator[tuple[Service, Path]]:
    """`serve` with auth on, recording one RTSP camera (H.264 + AAC) for about 20 s, still running."""
    tmp = tmp_path_factory.mktemp("clips")
    camera = FakeCamera({"/cam": f"{media.h264_720},audio={media.aac}"}).start()
    settings = write_settings(tmp / "settings", [{"id": "cam", "rtspUrl": camera.url("/cam")}])
    service = Service(settings, tmp / "recordings", env={"VSN_API_TOKEN": TOKEN})
    service.get = lambda path: json.loads(fetch(service.base + path, auth())[2])  # type: ignore[method-assign]
    service.start()
    try:
        service.wait_for(lambda: service.agents()["cam"]["counters"]["clips"] >= 3, 40, "three clips")
        yield service, tmp / "recordings"
    finally:
        service.stop()
        camera.stop()


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def listing(service: Service, start: float, end: float) -> dict[str, Any]:
    status, _, body = fetch(f"{service.base}/api/cameras/cam/clips?start={start}&end={end}", auth())
    assert status == 200, body
    result: dict[str, Any] = json.loads(body)
    return result


def test_auth_is_required_everywhere_but_health(recorded: tuple[Service, Path]) -> None:
    service, _ = recorded
    for path in ("/api/agents", "/api/cameras", "/api/cameras/cam/clips", "/metrics", "/api/openapi.json"):
        status, headers, body = fetch(service.base + path)
        assert status == 401, path
        assert json.loads(body)["error"] == "missing or wrong bearer token"
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert fetch(service.base + path, {"Authorization": "Bearer wrong"})[0] == 401
        assert fetch(service.base + path, auth())[0] == 200, path
    assert fetch(service.base + "/api/health")[0] == 200


def test_answers_are_what_the_openapi_document_says(recorded: tuple[Service, Path]) -> None:
    """The JSON answers of a recording service, checked against the document it serves (generated from the
    models the handlers answer through): a field the document does not describe, or one missing, fails."""
    service, _ = recorded
    document = json.loads(fetch(service.base + "/api/openapi.json", auth())[2])
    for path, template in [
        ("/api/agents", "/api/agents"),
        ("/api/agents/cam", "/api/agents/{camera_id}"),
        ("/api/cameras", "/api/cameras"),
        ("/api/cameras/cam", "/api/cameras/{camera_id}"),
        ("/api/cameras/cam/clips", "/api/cameras/{camera_id}/clips"),
        ("/api/cameras/cam/viewers", "/api/cameras/{camera_id}/viewers"),
        ("/api/cluster", "/api/cluster"),
        ("/api/cluster/scale", "/api/cluster/scale"),
        ("/api/health", "/api/health"),
        ("/api/events?kind=health", "/api/events"),
    ]:
        status, _, body = fetch(service.base + path, auth())
        assert status == 200, (path, body[:300])
        ok = document["paths"][template]["get"]["responses"]["200"]
        schema = ok["content"]["application/json"]["schema"]
        validator = jsonschema.Draft202012Validator({**schema, "components": document["components"]})
        found = validator.iter_errors(json.loads(body))
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]
        assert not errors, (path, errors[:5])
    agent = json.loads(fetch(service.base + "/api/agents/cam", auth())[2])
    assert agent["counters"]["clips"] >= 3  # the answer is the agent's, not an empty shell
    assert agent["video"]["codec"] == "h264"


def test_clip_listing_marks_gaps_and_serves_ranges(recorded: tuple[Service, Path]) -> None:
    service, root = recorded
    now = time.time()
    result = listing(service, now - 120, now)
    clips = result["clips"]
    assert len(clips) >= 3
    assert result["gaps"][0]["start"] == result["start"]  # nothing was recorded before the service started
    for before, after in itertools.pairwise(clips):
        assert after["startUnix"] == pytest.approx(before["startUnix"] + before["duration"], abs=0.05)
    iso_result = listing(service, now - 120, now)  # the same range as ISO 8601 gives the same clips
    iso_start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 120)) + "Z"
    status, _, body = fetch(f"{service.base}/api/cameras/cam/clips?start={iso_start}&end={now}", auth())
    assert status == 200
    assert [c["url"] for c in json.loads(body)["clips"]] == [c["url"] for c in iso_result["clips"]]

    url = service.base + clips[0]["url"]
    path = root / "cam" / clips[0]["url"].split("/clips/")[1]
    whole = path.read_bytes()
    status, headers, body = fetch(url, auth())
    assert (status, body, headers["Content-Type"]) == (200, whole, "video/mp4")
    status, headers, body = fetch(url, {**auth(), "Range": "bytes=100-1099"})
    assert status == 206
    assert body == whole[100:1100]
    assert headers["Content-Range"] == f"bytes 100-1099/{len(whole)}"
    assert fetch(url + f"?access_token={TOKEN}")[0] == 200  # for <video src> links


@pytest.mark.parametrize(
    "path",
    [
        "/api/cameras/cam/clips/..%2F..%2Fsettings/cameras.json",
        "/api/cameras/cam/clips/2026-01-01/..%2F..%2F..%2Fsettings%2Fcameras.json",
        "/api/cameras/..%2Fsettings/clips/2026-01-01/00-00-00.mp4",
        "/api/cameras/cam/clips/2026-01-01/evil.mp4",
        "/api/cameras/cam/clips/%2Fetc/passwd",
    ],
)
def test_paths_outside_the_recordings_are_refused(recorded: tuple[Service, Path], path: str) -> None:
    service, _ = recorded
    status, _, body = fetch(service.base + path, auth())
    assert status == 404
    assert b"root:" not in body
    assert b"rtspUrl" not in body


def test_symlink_out_of_the_recordings_is_refused(recorded: tuple[Service, Path]) -> None:
    service, root = recorded
    day = next((root / "cam").iterdir())
    link = day / "23-59-59.mp4"
    link.symlink_to("/etc/passwd")
    try:
        status, _, body = fetch(f"{service.base}/api/cameras/cam/clips/{day.name}/23-59-59.mp4", auth())
        assert status == 404
        assert b"root:" not in body
    finally:
        link.unlink()


def test_export_across_three_clips_is_a_remux(recorded: tuple[Service, Path], tmp_path: Path) -> None:
    service, root = recorded
    now = time.time()
    clips = listing(service, now - 120, now)["clips"][:3]
    start = clips[0]["startUnix"] + 1.0  # mid-GOP: the export starts at the keyframe before
    end = clips[2]["startUnix"] + 2.5
    status, headers, body = fetch(
        f"{service.base}/api/cameras/cam/export.mp4?start={start}&end={end}", auth()
    )
    assert status == 200, body[:200]
    out = tmp_path / "export.mp4"
    out.write_bytes(body)
    true_start = float(headers["X-Vsn-Start-Unix"])
    assert start - 2.0 - 0.01 <= true_start <= start  # the keyframe at or before the start (2 s GOP)
    assert decode_errors(out) == ""
    packets = video_packets(out)
    assert "K" in packets[0]["flags"]
    assert len(packets) == pytest.approx((end - true_start) * FPS, abs=1)  # every frame of the range
    # no re-encoding: the exported video payloads are the clips' payloads, in order
    source = []
    for clip in clips:
        with av.open(str(root / "cam" / clip["url"].split("/clips/")[1])) as inp:
            for p in inp.demux(inp.streams.video[0]):
                at = clip["startUnix"] + float(p.dts * p.time_base) if p.dts is not None else None
                if p.size and at is not None and true_start - 1e-3 <= at < end:
                    source.append(bytes(p))
    with av.open(str(out)) as exported:
        assert exported.streams.audio, "the AAC track is kept"
        payloads = [bytes(p) for p in exported.demux(exported.streams.video[0]) if p.size]
    assert payloads == source


def test_the_vod_playlist_plays_the_clips_as_they_are(recorded: tuple[Service, Path], tmp_path: Path) -> None:
    """HLS over the clips on disk: one init section for the clips of one connection, each clip's fragments
    placed on one timeline, their exact starts, read whole by FFmpeg through the API (token carried into
    every segment URI), every frame there, video and audio on one timeline."""
    service, _ = recorded
    now = time.time()
    clips = listing(service, now - 120, now)["clips"]
    end = clips[-1]["startUnix"] + clips[-1]["duration"]
    url = f"{service.base}/api/cameras/cam/vod.m3u8?start={now - 120}&end={end}&access_token={TOKEN}"
    status, headers, body = fetch(url)
    assert status == 200, body[:200]
    assert headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
    text = body.decode()
    assert text.startswith("#EXTM3U\n")
    assert text.count("#EXT-X-MAP:") == 1  # one camera, one connection: one media
    assert "#EXT-X-DISCONTINUITY\n" not in text
    dates = [
        line.split(":", 1)[1] for line in text.splitlines() if line.startswith("#EXT-X-PROGRAM-DATE-TIME:")
    ]
    assert dates == [c["start"] for c in clips]  # each clip's exact start, to the millisecond
    uris = [line for line in text.splitlines() if line and not line.startswith("#")]
    places = itertools.accumulate([0.0] + [c["duration"] for c in clips[:-1]])
    assert uris == [
        f"vod/{round(at * 1e6)}/" + c["url"].split("/clips/", 1)[1] + f"?access_token={TOKEN}"
        for c, at in zip(clips, places, strict=True)
    ]
    out = tmp_path / "vod.mp4"
    copy_quietly(url, out)
    assert decode_errors(out) == ""
    packets = video_packets(out)
    assert len(packets) == sum(c["frames"] for c in clips)  # no picture lost or repeated
    times = [float(p["pts_time"]) for p in packets]
    assert times[0] < 0.1
    assert abs(times[-1] - sum(c["duration"] for c in clips)) < 0.1  # one timeline, the clips end to end
    with av.open(str(out)) as played:
        assert played.streams.audio, "the AAC track is kept"
    assert fetch(url.replace(f"access_token={TOKEN}", "access_token=wrong"))[0] == 401
    long_ago = f"{service.base}/api/cameras/cam/vod.m3u8?start=1000&end=2000&access_token={TOKEN}"
    assert fetch(long_ago)[0] == 404
    assert fetch(f"{service.base}/api/cameras/nope/vod.m3u8?access_token={TOKEN}")[0] == 404


def test_snapshot_is_the_cameras_latest_picture_decoded_once_per_keyframe(
    recorded: tuple[Service, Path], tmp_path: Path
) -> None:
    service, _ = recorded
    url = f"{service.base}/api/cameras/cam/snapshot.jpg"
    before = service.get("/api/agents?scope=local")["agents"][0]["snapshots"]["decodes"]
    answers = [fetch(url, auth()) for _ in range(5)]  # within one 2 s GOP mostly
    after = service.get("/api/agents?scope=local")["agents"][0]["snapshots"]["decodes"]
    for status, headers, body in answers:
        assert status == 200
        assert headers["Content-Type"] == "image/jpeg"
        assert headers["X-Vsn-Snapshot"] == "picture"
        assert abs(float(headers["X-Vsn-Picture-Time"]) - time.time()) < 5  # the latest keyframe
        assert body[:2] == b"\xff\xd8"
    keyframes = {headers["X-Vsn-Picture-Time"] for _, headers, _ in answers}
    assert after - before == len(keyframes)  # one decode per keyframe, whoever asks
    (tmp_path / "snap.jpg").write_bytes(answers[-1][2])
    with av.open(str(tmp_path / "snap.jpg")) as jpeg:
        frame = next(jpeg.decode(video=0))
        assert (frame.width, frame.height) == (640, 360)  # a 1280x720 camera, scaled for the grid
        assert frame.to_ndarray(format="rgb24").std() > 20  # a picture, not a flat placeholder
    assert fetch(url)[0] == 401
    assert fetch(f"{service.base}/api/cameras/nope/snapshot.jpg", auth())[0] == 404


def test_export_leaves_out_clips_deleted_or_damaged_since_listed(
    recorded: tuple[Service, Path], tmp_path: Path
) -> None:
    """Retention deletes a listed clip, or the disk damaged one: the export holds the rest, with a gap."""
    service, root = recorded
    now = time.time()
    first, deleted, last = listing(service, now - 120, now)["clips"][:3]
    copies = {}
    for name, clip in (("first", first), ("deleted", deleted), ("last", last)):
        copies[name] = tmp_path / f"{name}.mp4"
        shutil.copy(root / "cam" / clip["url"].split("/clips/")[1], copies[name])
    copies["deleted"].unlink()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(b"\x00not an mp4" * 1000)
    listed = [
        (copies["first"], first["startUnix"]),
        (copies["deleted"], deleted["startUnix"]),
        (damaged, deleted["startUnix"] + 3),
        (copies["last"], last["startUnix"]),
    ]
    out = tmp_path / "export.mp4"
    start, end = first["startUnix"], last["startUnix"] + last["duration"]
    result = export(listed, start, end, out)
    assert result.video_frames == first["frames"] + last["frames"]
    assert decode_errors(out) == ""
    times = sorted(float(p["pts_time"]) for p in video_packets(out))
    assert len(times) == result.video_frames
    gap = last["startUnix"] - first["startUnix"] - first["duration"]  # where the deleted clip was
    assert max(b - a for a, b in itertools.pairwise(times)) == pytest.approx(gap + 1 / FPS, abs=0.05)
    with pytest.raises(ExportError):  # nothing readable: "no video frame in that range", a 404
        export(listed[1:3], start, end, tmp_path / "none.mp4")
    with pytest.raises(OSError, match="No space left"):  # the export's own disk is not a clip's fault
        export(listed, start, end, Path("/dev/full"))


def test_export_errors_are_4xx_with_a_reason(recorded: tuple[Service, Path]) -> None:
    service, _ = recorded
    base = service.base + "/api/cameras"
    assert fetch(base + "/cam/export.mp4?start=yesterday", auth())[0] == 400
    assert fetch(base + "/cam/export.mp4?start=100&end=50", auth())[0] == 400
    assert fetch(base + "/cam/export.mp4?start=0&end=86400", auth())[0] == 400  # longer than the maximum
    status, _, body = fetch(base + "/cam/export.mp4?start=1000&end=1060", auth())
    assert status == 404
    assert json.loads(body)["error"] == "no recording in that range"
    assert fetch(base + "/nope/clips", auth())[0] == 404


def test_metrics_parse_and_count(recorded: tuple[Service, Path]) -> None:
    service, _ = recorded
    status, headers, body = fetch(service.base + "/metrics", auth())
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples
    }
    assert samples[("vsnative_camera_packets_total", (("camera", "cam"),))] > 100
    assert samples[("vsnative_camera_clips_total", (("camera", "cam"),))] >= 3
    assert samples[("vsnative_camera_healthy", (("camera", "cam"),))] == 1
    assert samples[("vsnative_camera_state", (("camera", "cam"), ("state", "running")))] == 1
    assert 0 <= samples[("vsnative_camera_last_clip_age_seconds", (("camera", "cam"),))] < 10
    assert samples[("vsnative_agents", ())] == 1
    assert ("vsnative_orphan_backlog", ()) in samples
    assert os.environ.get("VSN_API_TOKEN") is None  # the token reached only the service


def test_an_event_longer_than_one_export_gives_its_first_export(tmp_path: Path, media: Any) -> None:
    """A car parked for hours is one event: its clip is the first exportMaxSeconds from 5 s before its
    start (X-Vsn-Cut says so), also while it goes on, not a join of hours; a short one is whole, and one in
    progress for less than that still answers 202."""
    camera = FakeCamera({"/cam": media.h264_720}).start()
    settings = write_settings(tmp_path / "settings", [{"id": "cam", "rtspUrl": camera.url("/cam")}])
    recordings = tmp_path / "recordings"
    service = Service(settings, recordings, env={"VSN_EXPORT_MAX_SECONDS": "12"})
    service.start()
    try:
        service.wait_for(lambda: service.agents()["cam"]["counters"]["clips"] >= 3, 40, "three clips")
        clips = [
            json.loads(line)
            for day in sorted((recordings / "cam").glob("*/index.jsonl"))
            for line in day.read_text().splitlines()
        ]
        first = float(clips[0]["start"])
        store = EventStore(recordings / "events.db")  # the service's own store (SQLite in WAL mode)
        for event in (
            Event("parked", "cam", "car", 0.9, (0, 0, 1, 1), first + 5, None, end=first + 14),
            Event("still-parked", "cam", "car", 0.9, (0, 0, 1, 1), first + 5, None),
            Event("short", "cam", "car", 0.9, (0, 0, 1, 1), first + 5, None, end=first + 5.5),
            Event("arriving", "cam", "car", 0.9, (0, 0, 1, 1), time.time() - 1, None),
        ):
            store.add(event)
        store.close()
        for name in ("parked", "still-parked"):
            status, headers, body = fetch(f"{service.base}/api/events/{name}/clip.mp4")
            assert status == 200, (name, body[:300])
            assert headers["X-Vsn-Cut"] == "12"  # of a 19 s window (5 s before, 9 s, 5 s after), or more
            start, duration = float(headers["X-Vsn-Start-Unix"]), float(headers["X-Vsn-Duration"])
            assert start <= first + 0.1  # from 5 s before the event's start
            assert 11.5 < duration <= 12 + 5.1  # its first 12 s, to the end of the clip they end in
            (tmp_path / f"{name}.mp4").write_bytes(body)
            assert decode_errors(tmp_path / f"{name}.mp4") == ""
        status, headers, _ = fetch(f"{service.base}/api/events/short/clip.mp4")  # a 10.5 s window
        assert status == 200
        assert "X-Vsn-Cut" not in headers
        status, _, body = fetch(f"{service.base}/api/events/arriving/clip.mp4")
        assert status == 202
        assert json.loads(body)["status"] == "in progress"
    finally:
        service.stop()
        camera.stop()
