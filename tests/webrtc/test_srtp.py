"""A frame's packets protected into one buffer are what pylibsrtp's per-packet API gives, and decrypt."""

from __future__ import annotations

import os
import struct

import pylibsrtp
import pytest
from pylibsrtp import Policy, Session

from vsnative.webrtc.srtp import FrameProtector

PROFILES = {
    Policy.SRTP_PROFILE_AEAD_AES_128_GCM: 28,  # key + salt bytes
    Policy.SRTP_PROFILE_AES128_CM_SHA1_80: 30,
}


def rtp(sequence: int, size: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 102, sequence, 90_000, 0x1234) + os.urandom(size - 12)


def session(key: bytes, profile: int, direction: int) -> Session:
    return Session(Policy(key=key, ssrc_type=direction, srtp_profile=profile))


@pytest.mark.parametrize("profile", list(PROFILES))
def test_protected_frame_matches_per_packet_protection_and_decrypts(profile: int) -> None:
    key = os.urandom(PROFILES[profile])
    reference = session(key, profile, Policy.SSRC_ANY_OUTBOUND)
    ours = session(key, profile, Policy.SSRC_ANY_OUTBOUND)
    receiver = session(key, profile, Policy.SSRC_ANY_INBOUND)
    protector = FrameProtector.for_session(ours)
    assert protector is not None, "pylibsrtp's internals moved: packets are protected one by one"
    sequence = 0
    for count in (3, 300):  # the second frame needs a larger buffer than the first one's
        packets = [rtp(sequence + i, 1312 if i < count - 1 else 200) for i in range(count)]
        sequence += count
        buffer, sizes = protector.protect(packets)
        offsets = [sum(sizes[:i]) for i in range(count)]
        protected = [bytes(buffer[o : o + s]) for o, s in zip(offsets, sizes, strict=True)]
        assert protected == [reference.protect(p) for p in packets]
        assert [receiver.unprotect(p) for p in protected] == packets


def test_a_protect_error_is_raised_as_pylibsrtp_does() -> None:
    key = os.urandom(30)
    protector = FrameProtector.for_session(
        session(key, Policy.SRTP_PROFILE_AES128_CM_SHA1_80, Policy.SSRC_ANY_OUTBOUND)
    )
    assert protector is not None
    protector.protect([rtp(1, 100)])
    with pytest.raises(pylibsrtp.Error, match="replay"):  # the same sequence number twice
        protector.protect([rtp(1, 100)])


def test_something_else_than_a_pylibsrtp_session_gets_no_protector() -> None:
    assert FrameProtector.for_session(object()) is None
