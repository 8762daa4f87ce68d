"""An audio track that hands aiortc the camera's G.711 or Opus packets as they are (WebRTC codecs both):
aiortc sends them without decoding or encoding anything.

Cameras send G.711 in long packets (GStreamer's and many cameras' are 1024 samples, 128 ms); browsers
expect about 20 ms per packet, so each G.711 packet is cut into 20 ms pieces (one byte a sample), sent
20 ms apart. Opus packets go as they are. Timestamps stay continuous across camera reconnects and clock
jumps, like the video track's.
"""

from __future__ import annotations

import asyncio
import collections
import time
from fractions import Fraction
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from vsnative.media.fanout import Subscription
from vsnative.media.packets import EncodedPacket, StreamInfo

CLOCKS = {"pcm_mulaw": 8000, "pcm_alaw": 8000, "opus": 48000}  # the RTP clock of each relayed codec
G711_PIECE = 160  # bytes (= samples at 8 kHz) in 20 ms
MAX_STEP_SECONDS = 2.0  # a larger step between two packets is a jump of the camera's clock


class AudioRelayTrack(MediaStreamTrack):
    """One viewer's audio. `recv()` returns `av.Packet` of the camera's codec, never a frame."""

    kind = "audio"

    def __init__(self, subscription: Subscription, codec: str) -> None:
        super().__init__()
        self._sub = subscription
        self.codec = codec
        self.clock = CLOCKS[codec]
        self._time_base = Fraction(1, self.clock)
        self._pieces: collections.deque[tuple[bytes, int, float]] = collections.deque()  # data, pts, due
        self._session: StreamInfo | None = None
        self._offset = 0
        self._next = -1  # the timestamp the next packet should have (after the last one sent)
        self.sent = 0

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        while not self._pieces:
            item = await self._sub.get()
            if item is None:  # the camera's agent ended the stream
                self.stop()
                raise MediaStreamError
            if isinstance(item, EncodedPacket) and not item.is_video:
                self._split(item)
        data, pts, due = self._pieces.popleft()
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.time_base = self._time_base
        self.sent += 1
        return packet

    def _split(self, item: EncodedPacket) -> None:
        tb = item.time_base
        ticks = item.pts * tb.numerator * self.clock // tb.denominator + self._offset
        if self._session is not None and (
            item.info is not self._session or not 0 <= ticks - self._next <= MAX_STEP_SECONDS * self.clock
        ):
            # a reconnect or a jump of the camera's clock: the timeline goes on where it was
            self._offset += self._next - ticks
            ticks = self._next
        self._session = item.info
        data = item.data
        now = time.monotonic()
        if self.codec == "opus":
            self._pieces.append((data, ticks, now))
            self._next = ticks + (item.duration * tb.numerator * self.clock // tb.denominator or 960)
            return
        for i, start in enumerate(range(0, len(data), G711_PIECE)):
            self._pieces.append((data[start : start + G711_PIECE], ticks + start, now + i * 0.02))
        self._next = ticks + len(data)

    def stop(self) -> None:
        super().stop()
        self._sub.unsubscribe()
