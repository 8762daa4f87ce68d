"""The camera's latest picture (snapshot.jpg): one decode per keyframe, and a keyframe that gives no picture
is counted and logged once per run of failures, not once per request."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.support.packets import h264_packets
from vsnative.media.packets import EncodedPacket
from vsnative.media.picture import LatestPicture


def keyframes() -> list[EncodedPacket]:
    return [p for p in h264_packets(60, gop=10) if p.keyframe]


async def test_one_decode_per_keyframe_and_a_jpeg() -> None:
    frames = keyframes()
    latest = [frames[0]]
    picture = LatestPicture("cam", lambda: latest[0])
    results = await asyncio.gather(*(picture.jpeg(None) for _ in range(5)))
    assert all(r is not None and r[1][:2] == b"\xff\xd8" for r in results)  # JPEG pictures
    assert picture.decodes == 1
    latest[0] = frames[1]
    assert await picture.jpeg(None) is not None
    assert picture.decodes == 2


async def test_a_keyframe_that_gives_no_picture_is_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = keyframes()
    broken = [p._replace(data=b"\x00\x00\x00\x01\x65" + bytes(64)) for p in good[:3]]  # garbage slices
    latest = [broken[0]]
    picture = LatestPicture("cam", lambda: latest[0])
    with caplog.at_level(logging.INFO, logger="vsnative.media.picture"):
        for packet in broken:
            latest[0] = packet
            assert await picture.jpeg(None) is None
        assert picture.failures == 3
        warned = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warned) == 1, [r.getMessage() for r in warned]
        assert "camera cam" in warned[0].getMessage()
        latest[0] = good[0]
        assert await picture.jpeg(None) is not None  # the camera's pictures come back: said once
        assert any("pictures again" in r.getMessage() for r in caplog.records)
