"""What web/ vendors is what web/VENDORED.md says: the file, its checksum, its licence beside it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[1] / "web"


def test_vendored_hls_js_is_the_release_named() -> None:
    notes = (WEB / "VENDORED.md").read_text()
    expected = re.search(r"sha256 of `hls.light.min.js`: `([0-9a-f]{64})`", notes)
    assert expected is not None
    data = (WEB / "hls.light.min.js").read_bytes()
    assert hashlib.sha256(data).hexdigest() == expected.group(1)
    version = re.search(r"\| (\d+\.\d+\.\d+) \|", notes)
    assert version is not None
    assert f'"{version.group(1)}"' in data.decode(errors="replace")  # the release's own version string
    assert "Apache License" in (WEB / "hls.js.LICENSE").read_text()
    index = (WEB / "index.html").read_text()
    assert '<script src="/web/hls.light.min.js"></script>' in index
