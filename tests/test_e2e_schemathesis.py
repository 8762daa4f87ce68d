"""schemathesis against `/api/openapi.json` on a running `serve`: no 5xx, answers match the document.

Two checks are left out on purpose: `positive_data_acceptance` (a reversed range or an export longer
than the maximum is a documented 400 that a schema cannot express) and `use_after_free` (the recordings
of a deleted camera stay listable and downloadable until retention removes them).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.service import write_settings

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).parent / "support" / "schemathesis_run.sh"
SMALL = {"defaults": {"framers": {"random": {"width": 160, "height": 120, "fps": 5, "gopSeconds": 1}}}}


def test_api_conforms_to_its_openapi_document(tmp_path: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to fuzz the API in a loopback-only network namespace")
    settings = write_settings(tmp_path / "settings", [{"id": "cam1", "framerType": "random"}], SMALL)
    log = tmp_path / "serve.log"
    result = subprocess.run(
        [
            "unshare",
            "-n",
            "bash",
            str(SCRIPT),
            sys.executable,
            str(settings),
            str(tmp_path / "rec"),
            "schemathesis-token-0123456789",
            str(log),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "Traceback" not in log.read_text()
