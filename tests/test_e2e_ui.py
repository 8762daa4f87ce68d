"""The web UI in headless Debian Chromium inside a loopback-only network namespace (see
tests/support/ui_check.py for what is checked). Leaves test-artifacts/ui.png behind."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.media import Media

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


def test_ui_lists_plays_live_and_recorded_video_in_chromium(tmp_path: Path, media: Media) -> None:
    for tool in ("unshare", "chromium"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed (scripts/test.sh installs it)")
    (ARTIFACTS / "ui.json").unlink(missing_ok=True)
    result = subprocess.run(
        [
            "unshare",
            "-n",
            "bash",
            "-c",
            'ip link set lo up && exec "$0" -m tests.support.ui_check "$@"',
            sys.executable,
            str(tmp_path),
            str(media.h264_720),
            str(media.h265_720),
            str(ARTIFACTS),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-6000:]
    figures = json.loads((ARTIFACTS / "ui.json").read_text())
    assert figures["firstFrameSeconds"] < 5
    assert (ARTIFACTS / "ui.png").stat().st_size > 10_000
