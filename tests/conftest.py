"""Shared fixtures: test media (made once per session), the fake camera, a local webhook receiver, a
Mosquitto broker of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.support.camera import FakeCamera
from tests.support.media import Media, make_media
from tests.support.mqtt import Broker

SHARED = Path(__file__).resolve().parents[2] / "shared"


def shared_file(path: Path) -> Path:
    """A file of the project's shared folder, or a skip that says where it comes from."""
    if not path.exists():
        pytest.skip(
            f"{path} absent: the pretrained models and samples the tests use live in the project's shared "
            f"folder, {SHARED} (beside this checkout; CI always has it; see its models/README.md), not in "
            "the repository"
        )
    return path


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


@pytest.fixture
async def receiver_url() -> AsyncIterator[Any]:
    """start(receiver) serves `receiver.handle` at POST /hook on 127.0.0.1 and returns its URL."""
    runners = []

    async def start(receiver: Any) -> str:
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/hook"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
def broker() -> Iterator[Broker]:
    """A Mosquitto broker on a free port of 127.0.0.1, killed after the test."""
    b = Broker()
    b.start()
    yield b
    b.stop()
