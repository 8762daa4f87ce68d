"""The data plane of one camera (PacketRouter): from the framer thread, every packet reaches the essential
sink (the recorder) and the guarded ones in that thread, in order, and the loop-side subscriptions on the
event loop; the loop is woken only while someone subscribes; what a guarded sink raises stays in it, what
the recorder raises ends the connection."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.support.packets import h264_packets
from vsnative.counters import AgentCounters
from vsnative.media.fanout import FanOut
from vsnative.media.packets import EncodedPacket
from vsnative.media.router import PacketRouter
from vsnative.parts import Part, PartState, ThreadGuard

PACKETS = h264_packets(60, gop=25)


class Sink:
    """A thread-side sink that keeps what it gets and the thread it got it in."""

    def __init__(self, raise_at: int | None = None) -> None:
        self.got: list[EncodedPacket] = []
        self.threads: set[int] = set()
        self.raise_at = raise_at

    def offer(self, packet: EncodedPacket) -> None:
        if self.raise_at is not None and len(self.got) == self.raise_at:
            self.raise_at = None
            raise RuntimeError("sink bug")
        self.got.append(packet)
        self.threads.add(threading.get_ident())


async def in_framer_thread(router: PacketRouter, packets: list[EncodedPacket]) -> int:
    """Deliver `packets` from a thread of their own, as the framer does; returns that thread's id."""

    def run() -> int:
        for packet in packets:
            router.deliver(packet)
        return threading.get_ident()

    ident = await asyncio.to_thread(run)
    await asyncio.sleep(0.05)  # what was handed to the loop runs
    return ident


async def test_every_packet_reaches_each_lane_in_order_and_is_counted() -> None:
    fanout = FanOut()
    recorder, cache = Sink(), Sink()
    guard = ThreadGuard(Part("webrtc", "cam"), cache.offer, lambda: None)
    counters = AgentCounters()
    router = PacketRouter(counters, fanout, essential=[recorder.offer], guarded=[guard])
    first: list[int] = []
    router.start(asyncio.get_running_loop(), lambda: first.append(threading.get_ident()))
    detector = fanout.subscribe("detector", maxsize=1000)
    framer = await in_framer_thread(router, PACKETS)
    fanout.close()
    assert recorder.got == PACKETS
    assert cache.got == PACKETS
    assert recorder.threads == cache.threads == {framer}  # no hop for the thread-side lane
    assert [p async for p in detector] == PACKETS
    assert first == [threading.get_ident()]  # once, on the loop
    assert counters.packets == len(PACKETS)
    assert counters.bytes == sum(len(p.data) for p in PACKETS)
    assert counters.keyframes == sum(1 for p in PACKETS if p.keyframe)
    assert router.last_packet_at > 0


async def test_a_recording_alone_never_wakes_the_event_loop() -> None:
    fanout = FanOut()
    recorder = Sink()
    router = PacketRouter(AgentCounters(), fanout, essential=[recorder.offer])
    router.start(asyncio.get_running_loop(), lambda: None)
    await in_framer_thread(router, PACKETS[:30])
    assert fanout.published == 0
    viewer = fanout.subscribe("viewer-1", maxsize=1000)
    assert router.route() == {"framerThread": ["Sink"], "eventLoop": ["viewer-1"]}
    await in_framer_thread(router, PACKETS[30:])
    assert fanout.published == 30  # only while someone is subscribed
    viewer.unsubscribe()
    await in_framer_thread(router, PACKETS[:10])
    assert fanout.published == 30
    assert len(recorder.got) == 70


async def test_a_guarded_sink_that_raises_stays_failed_and_the_recorder_goes_on() -> None:
    fanout = FanOut()
    recorder, cache = Sink(), Sink(raise_at=5)
    part = Part("webrtc", "cam")
    router = PacketRouter(
        AgentCounters(),
        fanout,
        essential=[recorder.offer],
        guarded=[ThreadGuard(part, cache.offer, lambda: None)],
    )
    router.start(asyncio.get_running_loop(), lambda: None)
    await in_framer_thread(router, PACKETS)
    assert recorder.got == PACKETS
    assert part.state == PartState.FAILED
    assert part.reason == "RuntimeError: sink bug"
    assert cache.got == PACKETS[:5]  # skipped for its backoff (1 s), longer than this test


async def test_what_the_recorder_raises_ends_the_connection() -> None:
    recorder = Sink(raise_at=3)
    router = PacketRouter(AgentCounters(), FanOut(), essential=[recorder.offer])
    router.start(asyncio.get_running_loop(), lambda: None)
    with pytest.raises(RuntimeError, match="sink bug"):
        await in_framer_thread(router, PACKETS)
    assert len(recorder.got) == 3


def test_deliver_before_start_is_a_clear_error() -> None:
    router = PacketRouter(AgentCounters(), FanOut())
    with pytest.raises(RuntimeError, match="before start"):
        router.deliver(PACKETS[0])


def test_route_names_the_streamers() -> None:
    class Recorder:
        class config:
            type = "mp4Recorder"

        def offer(self, packet: EncodedPacket) -> None:
            pass

    guard = ThreadGuard(Part("webrtc", "cam"), Sink().offer, lambda: None)
    router = PacketRouter(AgentCounters(), FanOut(), essential=[Recorder().offer], guarded=[guard])
    assert router.route() == {"framerThread": ["mp4Recorder", "webrtc"], "eventLoop": []}


def test_events_are_dated_by_the_cameras_reports_while_believable() -> None:
    from vsnative.media.camera_clock import filmed_by_reports

    packet = PACKETS[30]
    assert filmed_by_reports(packet) == packet.wallclock  # no sender reports: its arrival
    info = packet.info
    media = packet.dts * info.tracks[packet.track].tick
    info.reports.start = packet.wallclock - media - 0.2  # filmed 0.2 s before it arrived
    try:
        assert filmed_by_reports(packet) == pytest.approx(packet.wallclock - 0.2)
        info.reports.start = packet.wallclock - media - 3600  # a camera clock an hour behind
        assert filmed_by_reports(packet) == packet.wallclock
    finally:
        info.reports.start = None
