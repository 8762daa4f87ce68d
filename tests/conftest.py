"""Shared fixtures: test media (made once per session) and the fake camera."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.camera import FakeCamera
from tests.support.media import Media, make_media

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    return make_media(tmp_path_factory.mktemp("media"))


@pytest.fixture
def camera(media: Media) -> Iterator[FakeCamera]:
    """One fake IP camera with /h264 (720p + AAC audio), /h264-1080 and /h265 mounts."""
    cam = FakeCamera(
        {
            "/h264": f"{media.h264_720},audio={media.aac}",
            "/h264-1080": str(media.h264_1080),
            "/h265": f"{media.h265_720},codec=h265",
        }
    )
    with cam:
        yield cam
