"""A WHEP viewer made with aiortc: offers to receive video, keeps what it decodes and the H.264 payloads
it received (depacketized, before decoding), with the time of each. Also runnable as a script:
`python -m tests.support.whep URL [--count N]` prints FRAME once each viewer decoded a frame, then keeps
watching; with `--no-decode` (a load generator) it prints READY once all are connected, then answers each
`STATS` line on its standard input with one JSON line: the access units each viewer has received whole
so far (what its jitter buffer completed and would have decoded)."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs import h264
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

_received: dict[int, list[tuple[float, bytes]]] = {}  # id(decoder) -> payloads, filled in aiortc's thread
_lock = threading.Lock()
_original_decode = h264.H264Decoder.decode


def _recording_decode(self: h264.H264Decoder, encoded_frame: Any) -> list[Any]:
    with _lock:
        _received.setdefault(id(self), []).append((time.monotonic(), bytes(encoded_frame.data)))
    return _original_decode(self, encoded_frame)


_completed: collections.Counter[int] = collections.Counter()  # id(decoder) -> access units


def _counting_decode(self: h264.H264Decoder, encoded_frame: Any) -> list[Any]:
    with _lock:
        _completed[id(self)] += 1
    return []


def record_payloads() -> None:
    """Keep every H.264 access unit the viewers of this process receive (call before connecting)."""
    h264.H264Decoder.decode = _recording_decode  # type: ignore[method-assign]


def all_payloads() -> list[list[tuple[float, bytes]]]:
    with _lock:
        return [list(v) for v in _received.values()]


@dataclass
class Viewer:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    pc: RTCPeerConnection = field(default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[])))
    location: str = ""
    frames: list[tuple[float, int, int, int]] = field(default_factory=list)  # time, pts, width, height
    audio: bool = False  # also offer to receive audio
    sound: list[tuple[float, int, int, int]] = field(default_factory=list)  # time, pts, samples, rate
    offered_at: float = 0.0
    ended: bool = False
    _task: asyncio.Task[None] | None = None
    _audio_task: asyncio.Task[None] | None = None

    async def connect(self, session: aiohttp.ClientSession) -> aiohttp.ClientResponse:
        """Offer, post, apply the answer; returns the HTTP response (status checked by the caller)."""
        self.pc.addTransceiver("video", direction="recvonly")
        if self.audio:
            self.pc.addTransceiver("audio", direction="recvonly")
        self.pc.on("track", self._on_track)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.offered_at = time.monotonic()
        headers = {"Content-Type": "application/sdp", **self.headers}
        async with session.post(self.url, data=self.pc.localDescription.sdp, headers=headers) as resp:
            body = await resp.text()
            if resp.status == 201:
                self.location = resp.headers["Location"]
                await self.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
            else:
                await self.pc.close()
            resp.body = body  # type: ignore[attr-defined]
            return resp

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._audio_task = asyncio.ensure_future(self._listen(track))
        else:
            self._task = asyncio.ensure_future(self._consume(track))

    async def _listen(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)
                self.sound.append((time.monotonic(), frame.pts or 0, frame.samples, frame.sample_rate))

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)
                self.frames.append((time.monotonic(), frame.pts or 0, frame.width, frame.height))
        except MediaStreamError:
            self.ended = True

    async def wait_frames(self, count: int, seconds: float) -> None:
        for _ in range(int(seconds / 0.05)):
            if len(self.frames) >= count:
                break
            await asyncio.sleep(0.05)
        assert len(self.frames) >= count, f"{len(self.frames)} frames decoded in {seconds} s"

    async def close(self) -> None:
        for task in (self._task, self._audio_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.pc.close()


async def _main(url: str, count: int, decode: bool) -> None:
    from vsnative.webrtc.ice import offer_host_addresses

    offer_host_addresses(["127.0.0.1"])
    if not decode:  # a load generator: receive, depacketize and count, but do not decode
        h264.H264Decoder.decode = _counting_decode  # type: ignore[method-assign]
    viewers = [Viewer(url) for _ in range(count)]
    async with aiohttp.ClientSession() as session:
        for viewer in viewers:
            resp = await viewer.connect(session)
            assert resp.status == 201, resp.body  # type: ignore[attr-defined]
    if decode:
        for viewer in viewers:
            await viewer.wait_frames(1, 20)
    print("FRAME" if decode else "READY", flush=True)  # noqa: T201
    loop = asyncio.get_running_loop()
    while not decode:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:  # no one asks
            break
        if line.strip() == "STATS":
            with _lock:
                counts = [_completed[key] for key in sorted(_completed)]
            print(json.dumps(counts), flush=True)  # noqa: T201
    await asyncio.sleep(3600)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="aiortc WHEP viewers, only 127.0.0.1 as ICE candidate")
    parser.add_argument("url")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--no-decode", action="store_true", help="print READY once all are connected")
    args = parser.parse_args()
    asyncio.run(_main(args.url, args.count, not args.no_decode))
