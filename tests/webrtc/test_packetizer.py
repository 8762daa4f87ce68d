"""The relay's H.264 RTP packetizer, read back with aiortc's own depacketizer (what a viewer runs)."""

from __future__ import annotations

import os

from aiortc.codecs.h264 import H264PayloadDescriptor

from tests.support.packets import h264_packets, nal_units
from vsnative.webrtc.packetizer import PACKET_MAX, packetize

AUD = b"\x09\xf0"
SPS = b"\x67\x4d\x40\x28\x95\xa0\x1e\x00\x89\xf9\x70\x11\x00\x00\x03\x00\x01"
PPS = b"\x68\xee\x3c\x80"


def slice_unit(nal_type: int, size: int) -> bytes:
    """A NAL unit of `size` bytes with no start code inside (as emulation prevention guarantees)."""
    body = os.urandom(size - 1).replace(b"\x00", b"\x80")
    return bytes((0x60 | nal_type,)) + body


def annexb(*units: bytes, long_codes: bool = True) -> bytes:
    code = b"\x00\x00\x00\x01" if long_codes else b"\x00\x00\x01"
    return b"".join(code + unit for unit in units)


def depacketize(payloads: list[bytes]) -> list[bytes]:
    return nal_units(b"".join(H264PayloadDescriptor.parse(p)[1] for p in payloads))


def test_a_large_nal_unit_is_cut_into_full_fragments_the_last_one_shorter() -> None:
    """Every fragment but the last has the same size, so a NAL unit goes out in one UDP GSO send."""
    unit = slice_unit(1, 20_000)
    payloads = packetize(annexb(AUD, unit))
    assert [len(p) for p in payloads[:-1]] == [PACKET_MAX] * (len(payloads) - 1)
    assert 2 < len(payloads[-1]) < PACKET_MAX
    indicators = {p[0] for p in payloads}
    assert indicators == {0x60 | 28}, "FU-A with the unit's NRI"
    assert [p[1] & 0xC0 for p in payloads] == [0x80] + [0] * (len(payloads) - 2) + [0x40]  # start, end bits
    assert {p[1] & 0x1F for p in payloads} == {1}
    assert depacketize(payloads) == [unit]


def test_access_unit_delimiters_and_filler_are_left_out_everything_else_kept_in_order() -> None:
    idr = slice_unit(5, 3000)
    sei = b"\x06\x05\x02\xaa\xbb\x80"
    filler = b"\x0c" + b"\xff" * 20
    for long_codes in (True, False):
        payloads = packetize(annexb(AUD, SPS, PPS, sei, idr, filler, long_codes=long_codes))
        assert depacketize(payloads) == [SPS, PPS, sei, idr]
        # the small units travel together in one STAP-A: F bit clear, the highest NRI (SPS: 3)
        assert payloads[0][0] == 0x60 | 24
        assert len(payloads) == 1 + 3


def test_a_small_unit_alone_goes_as_a_single_nal_unit_packet() -> None:
    unit = slice_unit(1, 900)
    assert packetize(annexb(AUD, unit)) == [unit]
    assert packetize(annexb(AUD)) == []


def test_real_encoder_output_round_trips() -> None:
    for packet in h264_packets(12, gop=6, size=(640, 360)):
        expected = [u for u in nal_units(packet.data) if u[0] & 0x1F not in (9, 12)]
        payloads = packetize(packet.data)
        assert all(len(p) <= PACKET_MAX for p in payloads)
        assert depacketize(payloads) == expected
