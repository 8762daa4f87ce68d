"""Whole pictures from the packets FFmpeg's RTSP demuxer gives: the parts of one access unit joined by the
codecs' rules, keyframes by NAL type, missing decode timestamps filled in, nothing lost silently."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import av
import numpy as np
import pytest

from tests.support.packets import nal_units
from vsnative.media.access_units import MAX_UNDATED, AccessUnits, first_slice
from vsnative.media.packets import EncodedPacket, MediaTrack, StreamInfo

STEP = 3600  # 25 fps in 1/90000
AUD = b"\x00\x00\x00\x01\x09\xf0"


def encode(codec: str, frames: int, options: dict[str, str]) -> list[bytes]:
    """Annex-B access units of a moving picture, from PyAV's bundled libx264/libx265."""
    enc = av.CodecContext.create(codec, "w")
    assert isinstance(enc, av.video.codeccontext.VideoCodecContext)
    enc.width, enc.height, enc.pix_fmt = 320, 240, "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.options = options
    enc.open()
    units = []
    for i in range(frames + 1):
        img = np.full((240, 320, 3), 40, np.uint8)
        img[:, (i * 5) % 300 :][:, :20] = 250
        img[(i * 3) % 220 :][:20] = 120
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = i
        units += [bytes(p) for p in (enc.encode(frame) if i < frames else enc.encode(None))]
    return units


def sliced_h264(frames: int = 30) -> list[bytes]:
    x264 = "slices=4:keyint=10:min-keyint=10:scenecut=0:bframes=0:repeat-headers=1"
    return encode("libx264", frames, {"preset": "ultrafast", "x264-params": x264})


def sliced_h265(frames: int = 20) -> list[bytes]:
    x265 = "slices=4:keyint=10:min-keyint=10:scenecut=0:bframes=0:repeat-headers=1:log-level=error"
    return encode("libx265", frames, {"preset": "ultrafast", "x265-params": x265})


def as_demuxed(unit: bytes, codec: str) -> list[bytes]:
    """What FFmpeg's parser makes of an access unit sent with the parameter sets repeated before every
    IDR slice (rtph264pay config-interval=-1): a new packet at each parameter set after a slice."""
    hevc = codec == "hevc"
    units = [b"\x00\x00\x00\x01" + u for u in nal_units(unit)]
    kinds = [(u[4] >> 1) & 0x3F if hevc else u[4] & 0x1F for u in units]
    keyframe = any((16 <= k <= 23) if hevc else k == 5 for k in kinds)
    vcl = [(k < 32) if hevc else (1 <= k <= 5) for k in kinds]
    sets = [u for u, k in zip(units, kinds, strict=True) if k in ((32, 33, 34) if hevc else (7, 8))]
    packets: list[bytes] = []
    current = b""
    seen_slice = False
    for unit, is_vcl in zip(units, vcl, strict=True):
        if is_vcl and keyframe and seen_slice:  # the payloader's repeated parameter sets
            packets.append(current)
            current = b"".join(sets)
        current += unit
        seen_slice = seen_slice or is_vcl
    packets.append(current)
    return packets


def joiner(codec: str = "h264") -> AccessUnits:
    track = MediaTrack(index=0, kind="video", codec=codec, time_base=Fraction(1, 90000))
    return AccessUnits(StreamInfo(session=1, tracks=(track,), opened_at=0.0), 0, STEP)


def push_all(
    units: AccessUnits, parts: Sequence[tuple[bytes, int | None, int | None]]
) -> list[EncodedPacket]:
    for data, pts, dts in parts:
        units.push(data, pts, dts, 0.0, 0)
    units.flush()
    return list(units.ready)


def decoded(codec: str, units: list[bytes]) -> list[np.ndarray[Any, Any]]:
    dec = av.CodecContext.create(codec, "r")
    assert isinstance(dec, av.video.codeccontext.VideoCodecContext)
    pictures = []
    for unit in [*units, None]:
        for frame in dec.decode(av.Packet(unit) if unit is not None else None):
            assert isinstance(frame, av.VideoFrame)
            pictures.append(frame.to_ndarray(format="gray"))
    return pictures


@pytest.mark.parametrize(("codec", "make"), [("h264", sliced_h264), ("hevc", sliced_h265)])
def test_split_keyframes_are_joined_into_one_picture_each(codec: str, make: object) -> None:
    assert callable(make)
    source: list[bytes] = make()
    parts = []
    for i, unit in enumerate(source):
        demuxed = as_demuxed(unit, codec)
        parts += [(p, i * STEP, i * STEP) for p in demuxed]
    assert len(parts) > len(source), "the test stream has no split keyframe"
    out = push_all(joiner(codec), parts)
    assert [p.pts for p in out] == [i * STEP for i in range(len(source))]
    keyframes = [i for i, unit in enumerate(source) if i % 10 == 0]
    assert [i for i, p in enumerate(out) if p.keyframe] == keyframes
    # the joined pictures decode to exactly the encoder's pictures, and carry each parameter set once
    assert all(
        np.array_equal(a, b)
        for a, b in zip(decoded(codec, [p.data for p in out]), decoded(codec, source), strict=True)
    )
    for packet in out:
        units = nal_units(packet.data)
        assert len(units) == len(set(units)), "a parameter set repeated inside one picture"


def test_x264_sliced_threads_keyframe_as_pyav_demuxes_it() -> None:
    """The packets seen from GStreamer's x264enc tune=zerolatency + rtph264pay config-interval=-1:
    [AUD SPS PPS SEI SPS PPS IDR] [SPS PPS IDR] x3, the first without timestamps, then P-frames."""
    source = sliced_h264(12)
    idr = as_demuxed(source[0], "h264")
    slices = sum(1 for u in nal_units(source[0]) if u[0] & 0x1F == 5)
    assert len(idr) == slices >= 2
    sets = b"".join(b"\x00\x00\x00\x01" + u for u in nal_units(idr[1]) if u[0] & 0x1F in (7, 8))
    first = AUD + sets + idr[0]  # the camera's AUD and parameter sets, then the payloader's
    parts = [(first, None, None)] + [(p, 777, 777) for p in idr[1:]]
    parts += [(AUD + unit, 777 + i * STEP, 777 + i * STEP) for i, unit in enumerate(source[1:10], 1)]
    units = joiner()
    for data, pts, dts in parts[:slices]:
        units.push(data, pts, dts, 0.0, 0)
    assert not units.ready, "a keyframe waits for the next picture (its last part may still come)"
    data, pts, dts = parts[slices]
    units.push(data, pts, dts, 0.0, 0)
    assert [p.pts for p in units.ready] == [777, 777 + STEP], "then it and the P-frame go at once"
    for data, pts, dts in parts[slices + 1 :]:
        units.push(data, pts, dts, 0.0, 0)
        assert units.ready[-1].pts == pts, "a P-frame is delivered when it arrives"
    out = list(units.ready)
    assert out[0].keyframe
    assert not any(p.keyframe for p in out[1:])
    kinds = [u[0] & 0x1F for u in nal_units(out[0].data)]
    assert kinds.count(7) == 1
    assert kinds.count(8) == 1
    assert kinds[0] == 9
    assert kinds.count(5) == slices
    assert units.lost == 0


def test_a_camera_that_splits_p_frames_is_held_from_then_on_and_the_damage_counted() -> None:
    source = sliced_h264(12)
    slices = [[b"\x00\x00\x00\x01" + u for u in nal_units(unit)] for unit in source]
    units = joiner()
    units.push(source[0], 0, 0, 0.0, 0)
    p1 = slices[1]
    assert len(p1) >= 2
    units.push(p1[0], STEP, STEP, 0.0, 0)  # delivered at once: nobody can know it is a part
    units.push(b"".join(p1[1:]), STEP, STEP, 0.0, 0)  # its rest arrives: the picture went out damaged
    assert units.lost == 1
    assert units.hold_all
    for i in range(2, 6):
        half = len(slices[i]) // 2
        units.push(b"".join(slices[i][:half]), i * STEP, i * STEP, 0.0, 0)
        units.push(b"".join(slices[i][half:]), i * STEP, i * STEP, 0.0, 0)
    units.flush()
    out = list(units.ready)
    assert [p.pts for p in out] == [i * STEP for i in range(6)]
    assert [nal_units(p.data) for p in out[2:]] == [nal_units(u) for u in source[2:6]], "joined whole"


def test_pictures_without_dts_at_the_start_are_dated_backwards_in_decode_order() -> None:
    """B-frames over RTSP: FFmpeg gives the first pictures no dts (and the IDR no pts either)."""
    source = sliced_h264(5)
    stamps = [(None, None), (11391, None), (4191, None), (7791, 4191), (22191, 7791)]
    parts = [(AUD + unit, pts, dts) for unit, (pts, dts) in zip(source, stamps, strict=True)]
    out = push_all(joiner(), parts)
    dts = [p.dts for p in out]
    assert dts == [4191 - 3 * STEP, 4191 - 2 * STEP, 4191 - STEP, 4191, 7791]
    assert all(p.pts >= p.dts for p in out)
    assert [p.pts for p in out[1:]] == [11391, 4191, 7791, 22191]


def test_undated_pictures_with_increasing_pts_are_dated_by_it_when_no_dts_comes() -> None:
    source = sliced_h264(MAX_UNDATED + 5)
    parts = [(AUD + unit, i * STEP, None) for i, unit in enumerate(source)]
    units = joiner()
    out = push_all(units, parts)
    assert [p.dts for p in out] == [i * STEP for i in range(len(source))]
    assert units.lost == 0


def test_undated_pictures_out_of_order_that_never_get_a_dts_are_counted_lost() -> None:
    source = sliced_h264(MAX_UNDATED + 5)
    pts = [i * STEP for i in range(len(source))]
    pts[1], pts[2] = pts[2], pts[1]  # reordered: their decode order cannot be told from pts
    units = joiner()
    out = push_all(units, [(AUD + unit, t, None) for unit, t in zip(source, pts, strict=True)])
    assert units.lost == len(source) - len(out) > 0
    assert all(b.dts > a.dts for a, b in itertools.pairwise(out))


def test_parameter_sets_sent_alone_open_the_next_picture() -> None:
    source = sliced_h264(3)
    idr_units = [b"\x00\x00\x00\x01" + u for u in nal_units(source[0])]
    sets = b"".join(u for u in idr_units if u[4] & 0x1F in (7, 8))
    slices = b"".join(u for u in idr_units if u[4] & 0x1F not in (7, 8))
    out = push_all(joiner(), [(sets, None, None), (slices, 0, 0), (source[1], STEP, STEP)])
    assert len(out) == 2
    assert out[0].keyframe
    assert [u[0] & 0x1F for u in nal_units(out[0].data)][:2] == [7, 8]


@pytest.mark.parametrize(
    ("data", "hevc", "expected"),
    [
        (AUD + b"\x00\x00\x01\x06\x05\x01\x80" + b"\x00\x00\x01\x65\x88\x84", False, (5, True, True)),
        (b"\x00\x00\x00\x01\x41\x1a\x02", False, (1, False, False)),  # first_mb_in_slice != 0
        (b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x01\x68\xce", False, (-1, False, False)),
        (b"\x00\x00\x01\x46\x01\x50" + b"\x00\x00\x01\x28\x01\xaf", True, (20, True, True)),  # AUD, IDR_N_LP
        (b"\x00\x00\x01\x02\x01\x2f", True, (1, False, False)),  # a later slice segment
    ],
)
def test_first_slice_reads_the_nal_headers(data: bytes, hevc: bool, expected: tuple[int, bool, bool]) -> None:
    assert first_slice(data, hevc) == expected


@pytest.mark.parametrize(("codec", "make"), [("h264", sliced_h264), ("hevc", sliced_h265)])
def test_the_quick_reading_of_usual_layouts_agrees_with_walking_the_nal_units(
    codec: str, make: object
) -> None:
    """first_slice reads the usual layouts with one struct unpack; a copy behind 3 bytes of padding with
    3-byte start codes (which only the walk reads) must give the same answers."""
    assert callable(make)
    hevc = codec == "hevc"
    aud = b"\x00\x00\x00\x01\x46\x01\x50" if hevc else AUD
    packets: list[bytes] = []
    for unit in make():
        packets += [*as_demuxed(unit, codec), aud + unit]
    for data in packets:
        walked = first_slice(b"\x07\x07\x07" + data.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01"), hevc)
        assert first_slice(data, hevc) == walked
