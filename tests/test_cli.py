"""The command line: a broken cameras.json exits 2 with `field: message` lines and is never rewritten."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.service import write_settings


def vsnative(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vsnative", *args], capture_output=True, text=True, timeout=60
    )


def test_check_accepts_the_shipped_settings() -> None:
    root = Path(__file__).resolve().parents[1]
    result = vsnative("check", "--settings-dir", str(root / "settings"))
    assert result.returncode == 0, result.stderr
    assert "2 cameras, valid" in result.stdout


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
