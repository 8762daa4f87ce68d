"""A video track that hands aiortc the camera's compressed packets: aiortc packetizes them as they are.

A new viewer first receives the cached current GOP, time-compressed to end at the live edge (its
decoder needs every frame from the keyframe on, and the picture it shows is then the current one), and
continues with live packets from its own fan-out subscription. A viewer that falls behind loses its
backlog and resumes at the next keyframe (the subscription's rules). Timestamps stay increasing across
camera reconnects, and every keyframe carries its SPS/PPS.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from vsnative.media.fanout import GAP, Subscription
from vsnative.media.packets import EncodedPacket, StreamInfo, annexb_extradata, with_parameter_sets

RTP_CLOCK = 90_000
TIME_BASE = Fraction(1, RTP_CLOCK)
FRAME_TICKS = RTP_CLOCK // 25  # the step assumed across a reconnect until the camera's own is seen
MAX_STEP_TICKS = 2 * RTP_CLOCK  # a larger step between two frames is a jump of the camera's clock
REPLAY_BYTES_PER_SECOND = 6_000_000  # pace the GOP burst (48 Mbit/s) so a viewer's socket keeps up

SentHook = Callable[[int, EncodedPacket], None]


class RelayTrack(MediaStreamTrack):
    """One viewer's track. `recv()` returns `av.Packet` (Annex-B, pts in 1/90000), never a frame."""

    kind = "video"

    def __init__(
        self, subscription: Subscription, gop: list[EncodedPacket], on_sent: SentHook | None = None
    ) -> None:
        super().__init__()
        self._sub = subscription
        self._replay = collections.deque(gop)
        # live packets the GOP already holds (published after the viewer subscribed) are skipped
        self._skip: tuple[StreamInfo, int] | None = (gop[-1].info, gop[-1].dts) if gop else None
        self._replay_end = _ticks(gop[-1]) if gop else 0
        self._session: StreamInfo | None = None
        self._offset = 0
        self._last = -1
        self._step = FRAME_TICKS  # the last step between two live frames
        self._replay_started = 0.0
        self._replay_bytes = 0
        self._parameter_sets: tuple[StreamInfo, bytes] | None = None  # of the session last seen
        self.on_sent = on_sent
        self.last_data: bytes | None = None  # what the packet recv() returned last holds (the lean loop
        # packetizes it once for every viewer it is sent to; see webrtc/fastpath.py)
        self.sent = 0
        self.replayed = 0

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        while True:
            if self._replay:
                packet = self._replay.popleft()
                await self._pace(packet)
                self.replayed += 1
                # one tick apart, the last replayed packet on the GOP's own last timestamp
                return self._emit(packet, self._replay_end - len(self._replay))
            item = await self._sub.get()
            if item is None:  # the camera's agent ended the stream
                self.stop()
                raise MediaStreamError
            if item is GAP or not isinstance(item, EncodedPacket) or not item.is_video:
                continue
            if self._skip is not None:
                info, dts = self._skip
                if item.info is info and item.dts <= dts:
                    continue
                self._skip = None
            return self._emit(item, None)

    async def _pace(self, packet: EncodedPacket) -> None:
        now = time.monotonic()
        if not self._replay_started:
            self._replay_started = now
        self._replay_bytes += len(packet.data)
        ahead = self._replay_bytes / REPLAY_BYTES_PER_SECOND - (now - self._replay_started)
        if ahead > 0:
            await asyncio.sleep(ahead)

    def _emit(self, packet: EncodedPacket, replay_pts: int | None) -> av.Packet[Any]:
        ticks = _ticks(packet)
        if replay_pts is None:
            out = ticks + self._offset
            step = out - self._last
            if packet.info is not self._session or not 0 < step <= MAX_STEP_TICKS:
                # a reconnect, or the camera's clock restarted or jumped: the timeline goes on one frame
                # later (a viewer's jitter buffer would otherwise hold or rush the frames)
                if self._session is not None:
                    self._offset = self._last + self._step - ticks
                    out = ticks + self._offset
            elif self._session is not None:
                self._step = step
            self._session = packet.info
        else:
            out = replay_pts
            self._session = packet.info
        if out <= self._last:
            out = self._last + 1
        self._last = out
        data = packet.data
        if packet.keyframe:
            data = with_parameter_sets(data, packet.info.video.codec, self._sps_pps(packet.info))
        result = av.Packet(data)
        result.pts = result.dts = out
        result.time_base = TIME_BASE
        self.last_data = data
        self.sent += 1
        if self.on_sent is not None:
            self.on_sent(out, packet)
        return result

    def _sps_pps(self, info: StreamInfo) -> bytes:
        if self._parameter_sets is None or self._parameter_sets[0] is not info:
            self._parameter_sets = (info, annexb_extradata(info.video.extradata, info.video.codec))
        return self._parameter_sets[1]

    @property
    def dropped(self) -> int:
        """Packets this viewer lost by falling behind (it skipped to the next keyframe)."""
        return self._sub.dropped

    def stop(self) -> None:
        super().stop()
        self._sub.unsubscribe()


def _ticks(packet: EncodedPacket) -> int:
    tb = packet.time_base
    return packet.pts * tb.numerator * RTP_CLOCK // tb.denominator
