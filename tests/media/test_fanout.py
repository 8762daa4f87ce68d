"""Fan-out: the producer never waits; a slow subscriber loses its backlog and resumes at a keyframe."""

from __future__ import annotations

import asyncio

from tests.support.packets import h264_packets
from vsnative.media.fanout import GAP, FanOut

PACKETS = h264_packets(120, gop=25)


async def test_every_subscriber_gets_every_packet_from_the_first_keyframe() -> None:
    fanout = FanOut()
    a, b = fanout.subscribe("a"), fanout.subscribe("b")
    for packet in PACKETS[3:]:  # starts mid-GOP: subscribers wait for the next keyframe
        fanout.publish(packet)
    fanout.close()
    got_a = [item async for item in a]
    got_b = [item async for item in b]
    assert got_a == got_b == PACKETS[25:]


async def test_slow_subscriber_drops_backlog_and_resumes_at_keyframe() -> None:
    fanout = FanOut()
    fast = fanout.subscribe("fast", maxsize=1000)
    slow = fanout.subscribe("slow", maxsize=10)
    for packet in PACKETS[:15]:
        fanout.publish(packet)  # slow does not read: its queue overflows at packet 10
    assert slow.gaps == 1
    assert slow.get_nowait() is GAP
    items = []
    for packet in PACKETS[15:]:
        fanout.publish(packet)
        while (item := slow.get_nowait()) is not None:
            items.append(item)
    fanout.close()
    assert [p async for p in fast] == PACKETS
    assert items == PACKETS[25:]  # resumed at the next keyframe, and kept up from there
    assert slow.dropped == 25
    assert fast.dropped == 0


async def test_unsubscribe_never_ends_the_stream_for_others() -> None:
    fanout = FanOut()
    keep, leave = fanout.subscribe("keep"), fanout.subscribe("leave")
    fanout.publish(PACKETS[0])
    leave.unsubscribe()
    fanout.publish(PACKETS[1])
    assert not fanout.closed
    assert fanout.subscribers == 1
    fanout.close()
    assert [p async for p in keep] == PACKETS[:2]
    assert [p async for p in leave] == [PACKETS[0]]


async def test_waiting_subscriber_wakes_on_publish_and_on_close() -> None:
    fanout = FanOut()
    sub = fanout.subscribe("s")
    getter = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    fanout.publish(PACKETS[0])
    assert await asyncio.wait_for(getter, 1) is PACKETS[0]
    ender = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    fanout.close()
    assert await asyncio.wait_for(ender, 1) is None
    late = fanout.subscribe("late")
    assert await asyncio.wait_for(late.get(), 1) is None
