"""The command line: a broken cameras.json exits 2 with `field: message` lines and is never rewritten."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.onnx_models import odd_output_model, red_square_model
from tests.support.service import write_settings


def vsnative(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vsnative", *args], capture_output=True, text=True, timeout=60
    )


def test_check_accepts_the_shipped_settings(tmp_path: Path) -> None:
    """As a fresh clone has them: the sample, which serve copies to cameras.json on its first run."""
    shipped = Path(__file__).resolve().parents[1] / "settings"
    for name in ("cameras.sample.json", "pipeline.json"):
        (tmp_path / name).write_bytes((shipped / name).read_bytes())
    result = vsnative("check", "--settings-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "cameras.sample.json: 2 cameras, valid (serve creates cameras.json from it" in result.stdout
    assert "pipeline.json: valid" in result.stdout  # it says it checked that one too
    assert not (tmp_path / "cameras.json").exists()  # check changes nothing


def test_malformed_cameras_json_exits_2_and_is_untouched(tmp_path: Path) -> None:
    cameras = tmp_path / "cameras.json"
    content = (
        b'[{"id": "cam1", "rtspUrl": "rtsp://u:topsecret@h/x", "excluded": "yes please"}, {"id": "cam1"}]'
    )
    cameras.write_bytes(content)
    result = vsnative("serve", "--settings-dir", str(tmp_path), "--port", "0")
    assert result.returncode == 2
    assert f"{cameras}: [0] (id=cam1).excluded: Input should be a valid boolean" in result.stderr
    assert "topsecret" not in result.stderr
    assert "Traceback" not in result.stderr
    assert cameras.read_bytes() == content


def test_duplicate_and_unknown_framer_reported_together(tmp_path: Path) -> None:
    write_settings(tmp_path, [{"id": "a", "framerType": "gocv"}, {"id": "a"}])
    result = vsnative("check", "--settings-dir", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert any("[1] (id=a).id: duplicate of camera [0]" in line for line in lines)
    assert any("[0] (id=a).framerType: unknown framer 'gocv'" in line for line in lines)


def test_bad_pipeline_json_names_the_field(tmp_path: Path) -> None:
    write_settings(
        tmp_path, [{"id": "a"}], {"defaults": {"streamers": [{"type": "mp4Recorder", "clipSeconds": 0}]}}
    )
    result = vsnative("check", "--settings-dir", str(tmp_path))
    assert result.returncode == 2
    assert (
        "defaults.streamers.0.mp4Recorder.clipSeconds: Input should be greater than or equal to 1"
        in result.stderr
    )


def test_missing_cameras_file_is_a_clear_error(tmp_path: Path) -> None:
    result = vsnative("check", "--settings-dir", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "cameras.json: (file): not found" in result.stderr
    assert json.dumps(result.stderr)  # printable, no traceback
    assert "Traceback" not in result.stderr


def test_check_loads_every_detector_and_names_what_cannot_work(tmp_path: Path) -> None:
    """Before, `check` said valid for a model that does not exist, a label the model does not know and a
    zone of 2 points at x = 1.5; the agent then found out (or crashed) at start."""
    model = red_square_model(tmp_path / "square.onnx")
    names = tmp_path / "names.txt"
    names.write_text("red square\n")

    def detector(**config: object) -> dict[str, object]:
        return {"type": "detector", "detector": {"type": "onnxYolo", **config}}

    pipeline = {
        "defaults": {"streamers": [{"type": "mp4Recorder"}, detector(model=str(tmp_path / "nope.onnx"))]},
        "cameras": {
            "b": {"streamers": [detector(model=str(model), classNames=str(names), labels=["person"])]},
            "c": {"streamers": [detector(model=str(odd_output_model(tmp_path / "odd.onnx")))]},
            "d": {"streamers": [detector(model=str(model), classNames=str(names))]},  # fine
        },
    }
    write_settings(tmp_path, [{"id": c} for c in "abcd"], pipeline)
    result = vsnative("check", "--settings-dir", str(tmp_path))
    assert result.returncode == 2, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(tmp_path / "pipeline.json"))]
    assert any(
        f"defaults.streamers.1.detector: onnxYolo: model file {tmp_path / 'nope.onnx'} not found" in line
        for line in lines
    )
    assert any(
        "cameras.b.streamers.0.detector: onnxYolo: labels ['person'] are not in" in line for line in lines
    )
    assert any("cameras.c.streamers.0.detector" in line and "layouts tried: yolov5" in line for line in lines)
    assert not any("cameras.d." in line for line in lines)
    assert len(lines) == 3, lines

    zone = {"type": "detector", "detector": {"type": "motion"}, "zones": [[[0, 0], [1.5, 1]]]}
    write_settings(tmp_path, [{"id": "a"}], {"defaults": {"streamers": [zone]}})
    result = vsnative("check", "--settings-dir", str(tmp_path))
    assert result.returncode == 2
    assert "zones.0.points: Value error, 2 points: a zone is a polygon of 3 points or more" in result.stderr
