"""Live view end to end: fake RTSP camera -> `vsnative serve` -> WHEP -> aiortc viewers in this process.

Both sides offer only 127.0.0.1 as ICE candidate (the service by its setting, the viewers by the same
helper), so nothing leaves loopback and no STUN server is contacted.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import aioice.ice
import pytest

from tests.support import whep
from tests.support.camera import FakeCamera
from tests.support.media import Media
from tests.support.packets import nal_units
from tests.support.service import Service, write_settings
from vsnative.webrtc.ice import offer_host_addresses

pytestmark = pytest.mark.slow
PIPELINE = {
    "defaults": {
        "streamers": [
            {"type": "mp4Recorder"},
            {"type": "webrtc", "maxViewers": 2, "viewerTimeoutSeconds": 3},
        ]
    }
}


def slices(data: bytes) -> list[bytes]:
    """The coded slices (NAL types 1 and 5): what an encoder produces and a re-encode would change."""
    return [unit for unit in nal_units(data) if unit[0] & 0x1F in (1, 5)]


def is_idr(data: bytes) -> bool:
    return any(unit[0] & 0x1F == 5 for unit in nal_units(data))


@pytest.fixture
def loopback_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", aioice.ice.get_host_addresses)  # restored after
    offer_host_addresses(["127.0.0.1"])


@pytest.fixture
def service(tmp_path: Path, camera: FakeCamera, loopback_candidates: None) -> Iterator[Service]:
    settings = write_settings(
        tmp_path / "settings", [{"id": "cam", "rtspUrl": camera.url("/h264")}], PIPELINE
    )
    svc = Service(settings, tmp_path / "rec", "--webrtc-host-addresses", "127.0.0.1")
    svc.start()
    svc.wait_for(lambda: svc.agents().get("cam", {}).get("state") == "running", 30, "camera running")
    yield svc
    svc.stop()
    assert "Traceback" not in svc.log()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def whep_url(service: Service, camera_id: str = "cam") -> str:
    return f"{service.base}/api/cameras/{camera_id}/whep"


async def viewers_of(http: aiohttp.ClientSession, service: Service) -> list[dict[str, Any]]:
    async with http.get(f"{service.base}/api/cameras/cam/viewers") as resp:
        body: dict[str, Any] = await resp.json()
        return list(body.get("viewers", []))


async def test_relay_passes_camera_packets_unchanged_and_starts_mid_gop_at_once(
    service: Service, http: aiohttp.ClientSession, media: Media
) -> None:
    whep.record_payloads()
    first = whep.Viewer(whep_url(service))
    resp = await first.connect(http)
    assert resp.status == 201, resp.body  # type: ignore[attr-defined]
    assert resp.headers["Content-Type"].startswith("application/sdp")
    assert "H264/90000" in resp.body  # type: ignore[attr-defined]
    await first.wait_frames(60, 30)
    assert {(w, h) for _, _, w, h in first.frames} == {(1280, 720)}

    # no re-encode: every slice received is byte for byte a slice of the camera's source file
    source = set(slices(media.h264_720.read_bytes()))
    (received,) = whep.all_payloads()
    got = [s for _, payload in received for s in slices(payload)]
    assert len(got) >= 60
    assert all(s in source for s in got), "a received slice differs from the camera's"

    # a second viewer joins 0.4 s after a keyframe (2 s GOP): it shows a picture before the next one
    count = len(received)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        latest = whep.all_payloads()[0][count:]
        if any(is_idr(p) for _, p in latest):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.4)
    second = whep.Viewer(whep_url(service))
    assert (await second.connect(http)).status == 201
    await second.wait_frames(1, 10)
    payloads = whep.all_payloads()[1]
    idr_times = [t for t, p in payloads if is_idr(p)]
    assert is_idr(payloads[0][1]), "the first access unit a new viewer gets is the cached keyframe"
    next_keyframe = next((t for t in idr_times[1:]), None)
    first_frame = second.frames[0][0]
    if next_keyframe is not None:
        assert first_frame < next_keyframe
    assert first_frame - second.offered_at < 1.2, "first frame took too long with the GOP cache"
    listed = await viewers_of(http, service)
    assert len(listed) == 2
    assert max(v["replayed"] for v in listed) >= 5  # it joined mid-GOP and got the frames before it

    # the viewer limit (2 here) answers 503 with a reason; DELETE frees the slot
    third = whep.Viewer(whep_url(service))
    refused = await third.connect(http)
    assert refused.status == 503
    assert "maximum" in json.loads(refused.body)["error"]  # type: ignore[attr-defined]
    async with http.delete(service.base + second.location) as resp:
        assert resp.status == 200
    async with http.delete(service.base + second.location) as resp:
        assert resp.status == 404
    assert len(await viewers_of(http, service)) == 1
    for viewer in (first, second, third):
        await viewer.close()


async def test_offers_over_the_limit_at_once_and_bad_offers_are_refused(
    service: Service, http: aiohttp.ClientSession
) -> None:
    # three offers at the same time for two places: two are answered, one is refused
    viewers = [whep.Viewer(whep_url(service)) for _ in range(3)]
    responses = await asyncio.gather(*(v.connect(http) for v in viewers))
    assert sorted(r.status for r in responses) == [201, 201, 503]
    for viewer in viewers:
        if viewer.location:  # a WHEP client ends its session, then closes its peer connection
            async with http.delete(service.base + viewer.location) as resp:
                assert resp.status == 200
        await viewer.close()

    cases = [
        (whep_url(service), "application/sdp", "hello", 400, "SDP"),
        (whep_url(service), "application/sdp", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n", 400, "video"),
        (whep_url(service), "application/json", "{}", 415, "application/sdp"),
        (whep_url(service, "nope"), "application/sdp", "v=0\r\n", 404, "nope"),
    ]
    for url, content_type, body, status, reason in cases:
        async with http.post(url, data=body, headers={"Content-Type": content_type}) as resp:
            assert resp.status == status, (body, await resp.text())
            assert reason in (await resp.json())["error"]
    # an offer that is well-formed but only takes VP8
    pc_viewer = whep.Viewer(whep_url(service))
    pc_viewer.pc.addTransceiver("video", direction="recvonly")
    offer = await pc_viewer.pc.createOffer()
    vp8_only = "\r\n".join(
        line for line in offer.sdp.split("\r\n") if "H264" not in line and "apt=" not in line
    )
    async with http.post(whep_url(service), data=vp8_only, headers={"Content-Type": "application/sdp"}) as r:
        assert r.status == 400
        assert "H264" in (await r.json())["error"]
    await pc_viewer.pc.close()


async def test_viewer_that_vanishes_is_dropped_and_camera_stop_ends_viewers(
    service: Service, http: aiohttp.ClientSession
) -> None:
    # a viewer process killed with SIGKILL sends no goodbye: its receiver reports stop, its slot frees
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, then only read and killed
        [sys.executable, "-m", "tests.support.whep", whep_url(service)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "FRAME"
        assert len(await viewers_of(http, service)) == 1
        proc.kill()
        proc.wait(10)
        for _ in range(60):  # the relay waits 3 s (viewerTimeoutSeconds) for a receiver report
            if not await viewers_of(http, service):
                break
            await asyncio.sleep(0.25)
        assert await viewers_of(http, service) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()

    # a camera excluded while watched: its agent stops and closes the viewer's peer connection
    viewer = whep.Viewer(whep_url(service))
    assert (await viewer.connect(http)).status == 201
    await viewer.wait_frames(5, 15)
    request = urllib.request.Request(  # noqa: S310 - a loopback test URL
        f"{service.base}/api/cameras/cam",
        data=b'{"excluded": true}',
        method="PATCH",
        headers={"Content-Type": "application/json"},
    )
    await asyncio.to_thread(urllib.request.urlopen, request, timeout=5)
    deadline = time.monotonic() + 20
    while viewer.pc.connectionState not in ("closed", "failed") and not viewer.ended:
        assert time.monotonic() < deadline, f"viewer still {viewer.pc.connectionState}"
        await asyncio.sleep(0.2)
    async with http.post(
        whep_url(service), data="v=0\r\n", headers={"Content-Type": "application/sdp"}
    ) as resp:
        assert resp.status == 409
        assert "excluded" in (await resp.json())["error"]
    await viewer.close()
