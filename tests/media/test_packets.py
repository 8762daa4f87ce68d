"""H.26x helpers: parameter sets go before every keyframe, avcC converts to Annex-B."""

from __future__ import annotations

from vsnative.media.packets import annexb_extradata, nal_types, with_parameter_sets

SPS = b"\x00\x00\x00\x01\x67\x42\xc0\x1e\xda"
PPS = b"\x00\x00\x00\x01\x68\xce\x3c\x80"
AUD = b"\x00\x00\x00\x01\x09\xf0"
IDR = b"\x00\x00\x00\x01\x65\x88\x84\x00"


def test_parameter_sets_injected_after_the_delimiter() -> None:
    out = with_parameter_sets(AUD + IDR, "h264", SPS + PPS)
    assert out == AUD + SPS + PPS + IDR
    assert nal_types(out, "h264") == [9, 7, 8, 5]


def test_keyframe_with_its_own_sps_is_untouched() -> None:
    frame = SPS + PPS + IDR
    assert with_parameter_sets(frame, "h264", SPS + PPS) is frame


def test_avcc_extradata_becomes_annexb() -> None:
    sps, pps = SPS[4:], PPS[4:]
    avcc = bytes([1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1]) + len(sps).to_bytes(2, "big") + sps
    avcc += bytes([1]) + len(pps).to_bytes(2, "big") + pps
    assert annexb_extradata(avcc, "h264") == SPS + PPS
    assert annexb_extradata(SPS + PPS, "h264") == SPS + PPS
    assert annexb_extradata(b"", "h264") == b""
