"""The GOP cache and the relay track on real H.264 packets: what a new viewer is sent, in which order,
with which timestamps, and that the bytes are the camera's."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from aiortc.mediastreams import MediaStreamError

from tests.support.packets import h264_packets, shifted
from vsnative.media.fanout import FanOut
from vsnative.media.gop import GopCache
from vsnative.media.packets import EncodedPacket, MediaTrack, StreamInfo, nal_types
from vsnative.webrtc.track import RelayTrack

GOP = 25


@pytest.fixture(scope="module")
def packets() -> list[EncodedPacket]:
    return h264_packets(3 * GOP, gop=GOP)


def test_gop_cache_holds_the_current_gop_only(packets: list[EncodedPacket]) -> None:
    cache = GopCache()
    assert cache.snapshot() == []
    for p in packets[:5]:
        cache.add(p)
    assert cache.snapshot() == packets[:5]
    for p in packets[5 : GOP + 3]:
        cache.add(p)
    assert cache.snapshot() == packets[GOP : GOP + 3]  # the next keyframe starts a new GOP
    small = GopCache(max_packets=10)
    for p in packets[:12]:
        small.add(p)
    assert small.snapshot() == []  # a GOP longer than the bound: nothing until the next keyframe
    small.add(packets[GOP])
    assert small.snapshot() == [packets[GOP]]
    other = StreamInfo(2, packets[0].info.tracks, 0.0)
    cache.add(packets[GOP + 3]._replace(info=other))
    assert cache.snapshot() == []  # a new session's non-keyframe never extends the old GOP


async def test_new_viewer_gets_the_gop_then_live_packets_unchanged(packets: list[EncodedPacket]) -> None:
    fanout, cache = FanOut(), GopCache()
    for p in packets[: GOP + 10]:  # the camera is 10 frames into its second GOP
        cache.add(p)
    sub = fanout.subscribe("viewer", 64)
    gop = cache.snapshot()
    sub.resume_mid_gop()
    track = RelayTrack(sub, gop)
    for p in packets[GOP + 8 : GOP + 15]:  # two were still on their way to the fan-out: not sent twice
        fanout.publish(p)
    got = [await track.recv() for _ in range(15)]
    assert [bytes(g) for g in got] == [p.data for p in packets[GOP : GOP + 15]]
    assert {5, 7, 8} <= set(nal_types(bytes(got[0]), "h264")), "the first is a keyframe with SPS and PPS"
    pts = [g.pts or 0 for g in got]
    assert pts == sorted(set(pts)), "timestamps strictly increase"
    # the replayed frames are squeezed to end at the live edge, then the camera's own spacing resumes
    assert pts[9] - pts[0] == 9
    step = packets[1].pts - packets[0].pts
    assert pts[10] - pts[9] == step
    assert track.replayed == 10


async def test_timeline_continues_across_a_reconnect_and_ends_with_the_camera(
    packets: list[EncodedPacket],
) -> None:
    fanout = FanOut()
    track = RelayTrack(fanout.subscribe("viewer", 64), [])
    for p in packets[:3]:
        fanout.publish(p)
    session2 = StreamInfo(2, packets[0].info.tracks, 0.0)
    for p in shifted(packets[:3], -packets[0].pts, session2):  # the camera restarts its clock at 0
        fanout.publish(p)
    got = [(await track.recv()).pts or 0 for _ in range(6)]
    assert got == sorted(set(got))
    fanout.close()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(track.recv(), 1)


async def test_parameter_sets_are_added_to_keyframes_that_lack_them(packets: list[EncodedPacket]) -> None:
    key = packets[0]
    sps_pps = b"".join(b"\x00\x00\x00\x01" + nal for nal in key.data.split(b"\x00\x00\x00\x01")[1:3])
    bare = key.data[len(sps_pps) :]
    assert 7 not in nal_types(bare, "h264")
    assert 7 in nal_types(key.data, "h264")
    video = dataclasses.replace(key.info.tracks[0], extradata=sps_pps)
    info = StreamInfo(1, (MediaTrack(0, "video", "h264", video.time_base, extradata=sps_pps),), 0.0)
    fanout = FanOut()
    track = RelayTrack(fanout.subscribe("viewer", 8), [])
    fanout.publish(key._replace(info=info, data=bare))
    sent = bytes(await track.recv())
    assert sent.endswith(bare)
    assert {7, 8} <= set(nal_types(sent, "h264"))
