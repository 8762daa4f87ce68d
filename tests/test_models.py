"""cameras.json: vs-go's format loads and round-trips byte for byte; bad files name the field."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SHARED, shared_file
from vsnative.errors import ConfigError
from vsnative.models import Camera, dump_cameras, parse_cameras

SAMPLE = SHARED / "origin" / "cameras.sample.json"


def sample_bytes() -> bytes:
    shared_file(SAMPLE)
    return SAMPLE.read_bytes()


def test_origin_sample_round_trips_unchanged() -> None:
    data = sample_bytes()
    cameras = parse_cameras(data, "sample")
    assert [c.id for c in cameras] == ["camera_1", "camera_2"]
    assert cameras[0].url.startswith("rtsp://admin:password@")
    assert dump_cameras(cameras) == data


def test_only_runtime_fields_change_on_write() -> None:
    cameras = parse_cameras(sample_bytes(), "sample")
    updated = [cameras[0].model_copy(update={"lastHeartbeat": 1_800_000_000, "uptime": 5}), cameras[1]]
    before, after = json.loads(sample_bytes()), json.loads(dump_cameras(updated))
    before[0].update(lastHeartbeat=1_800_000_000, uptime=5)
    assert after == before


def test_unknown_fields_are_kept() -> None:
    data = b'[{"id": "a", "rtspUrl": "rtsp://h/x", "framerType": "rtsp", "zone": "lobby"}]'
    assert json.loads(dump_cameras(parse_cameras(data, "x")))[0]["zone"] == "lobby"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"[{", "line 1 column 3: invalid JSON"),
        (b'[{"id": "a", "excluded": "maybe"}]', "[0] (id=a).excluded: Input should be a valid boolean"),
        (b'[{"name": "no id"}]', "[0].id: Field required"),
        (b'[{"id": "../etc"}]', "[0] (id=../etc).id: "),
        (b'[{"id": "a"}, {"id": "a"}]', "[1] (id=a).id: duplicate of camera [0]"),
        (b'{"id": "a"}', "(file): Input should be a valid list"),
    ],
)
def test_malformed_file_names_the_field(content: bytes, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_cameras(content, "cameras.json")
    assert any(line.startswith(f"cameras.json: {expected}") for line in err.value.lines()), err.value.lines()


def test_unknown_framer_type_is_reported() -> None:
    with pytest.raises(ConfigError) as err:
        parse_cameras(b'[{"id": "a", "framerType": "gocv"}]', "c.json", frozenset({"rtsp", "random"}))
    assert err.value.lines() == ["c.json: [0] (id=a).framerType: unknown framer 'gocv'; known: random, rtsp"]


def test_public_record_has_no_url_or_credentials() -> None:
    cam = Camera(id="a", rtspUrl="rtsp://admin:hunter2@10.0.0.5:554/live")
    public = json.dumps(cam.public())
    assert "hunter2" not in public
    assert "rtspUrl" not in public
    assert cam.public()["rtspHost"] == "10.0.0.5"
    assert cam.safe_url == "rtsp://admin:***@10.0.0.5:554/live"
    assert "hunter2" not in repr(cam)
