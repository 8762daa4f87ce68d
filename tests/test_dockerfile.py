"""The Dockerfile: lint-clean (hadolint), and its install steps work (run here: no Docker engine in CI)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_dockerfile_is_lint_clean() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [str(hadolint), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_image_install_steps_give_a_working_service(tmp_path: Path) -> None:
    """COPY pyproject.toml README.md vsnative, `pip install .[otel]` into a clean environment, then start."""
    app = tmp_path / "app"
    app.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, app / name)
    shutil.copytree(ROOT / "vsnative", app / "vsnative", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-cache-dir", ".[otel]"],
        cwd=app,
        check=True,
        timeout=900,
    )
    result = subprocess.run(
        [str(python), "-m", "vsnative", "check", "--settings-dir", str(ROOT / "settings")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "2 cameras, valid" in result.stdout
