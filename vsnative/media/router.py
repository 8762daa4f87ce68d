"""The data plane of one camera: every packet's route from the framer to each streamer, in one place.

    framer thread ── PacketRouter.deliver(packet) ──┬─ counters, the time of the last packet; the
                                                    │  lease's fence (control/fence.py): past its
                                                    │  deadline nothing goes on, and once proven again
                                                    │  packets go on from a video keyframe
                                                    ├─ essential sinks, in this thread (the recorder's
                                                    │  queue): what they raise ends the connection,
                                                    │  since recording is what an agent is for
                                                    ├─ guarded sinks, in this thread (live view's GOP
                                                    │  cache, behind a ThreadGuard): what they raise
                                                    │  stays in them
                                                    └─ loop-side subscriptions (FanOut: the detector,
                                                       each live viewer), handed over to the event loop

Two lanes, for a reason: a recording alone never wakes the event loop. Handing a packet to the loop is a
`call_soon_threadsafe` (a lock and a self-pipe write) and a wakeup of an idle loop: measured on our 2-core
box, about 17 µs of CPU per packet (38 µs with the handover against 21 µs without, 20,000 packets 0.5 ms
apart), so ~1.7% of a core for 16 cameras at 25 fps with audio (~1,000 packets a second) when nobody
watches. So the recorder and the GOP cache take packets in the framer thread, and the loop is woken only
while a loop-side subscriber exists (`FanOut.subscribers`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from vsnative.control.fence import Fence
from vsnative.counters import AgentCounters
from vsnative.media.fanout import FanOut
from vsnative.media.packets import EncodedPacket

EssentialSink = Callable[[EncodedPacket], None]  # raises: the connection ends


class GuardedSink(Protocol):
    """A thread-side part that keeps what it raises (parts.ThreadGuard)."""

    def offer(self, packet: EncodedPacket, now: float) -> None: ...


class PacketRouter:
    """Routes one camera's packets (see the module's docstring). `deliver` runs in the framer thread only;
    the counters it writes are written by that thread alone."""

    def __init__(
        self,
        counters: AgentCounters,
        fanout: FanOut,
        essential: Sequence[EssentialSink] = (),
        guarded: Sequence[GuardedSink] = (),
        fence: Fence | None = None,
    ) -> None:
        self.counters = counters
        self.fanout = fanout
        self.essential = tuple(essential)
        self.guarded = tuple(guarded)
        self.fence = fence
        self.fenced = 0  # packets not handed on because the lease was not proven
        self._from_keyframe = False  # after a fenced spell: hand on from the next video keyframe
        self.last_packet_at = 0.0  # monotonic, of the last packet delivered
        self.keyframe: EncodedPacket | None = None  # the latest video keyframe (one reference, no copy)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_first: Callable[[], None] | None = None

    def start(self, loop: asyncio.AbstractEventLoop, on_first: Callable[[], None]) -> None:
        """A new connection: `on_first` runs on `loop` once its first packet has been delivered."""
        self._loop = loop
        self._on_first = on_first

    def deliver(self, packet: EncodedPacket) -> None:
        """One packet, from the framer thread, to every sink and subscription."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("PacketRouter.deliver before start()")
        counters = self.counters
        counters.packets += 1
        counters.bytes += len(packet.data)
        if packet.keyframe and packet.is_video:
            counters.keyframes += 1
            self.keyframe = packet  # the camera's latest picture, decoded only when asked (snapshot.jpg)
        now = self.last_packet_at = time.monotonic()
        fence = self.fence
        if fence is not None:
            if not fence.valid(now):
                self.fenced += 1
                self._from_keyframe = True
                return
            if self._from_keyframe:
                if not (packet.keyframe and packet.is_video):
                    self.fenced += 1
                    return
                self._from_keyframe = False
        for sink in self.essential:
            sink(packet)
        for guarded in self.guarded:
            guarded.offer(packet, now)
        if self._on_first is not None:
            loop.call_soon_threadsafe(self._on_first)
            self._on_first = None
        if self.fanout.subscribers:
            loop.call_soon_threadsafe(self.fanout.publish, packet)

    def route(self) -> dict[str, list[str]]:
        """Where packets go now, by lane (for the API): the names of the thread-side sinks and the
        loop-side subscriptions."""
        return {
            "framerThread": [_name(sink) for sink in (*self.essential, *self.guarded)],
            "eventLoop": self.fanout.names(),
        }


def _name(sink: object) -> str:
    part = getattr(sink, "part", None)
    if part is not None:
        return str(part.name)
    owner = getattr(sink, "__self__", None)
    config = getattr(owner, "config", None)
    return str(getattr(config, "type", type(owner or sink).__name__))
