"""SRTP protection of a whole frame's RTP packets into one buffer, for the lean RTP loop.

pylibsrtp's `Session.protect` allocates an output length, copies the packet into the session's
1500-byte scratch buffer, protects it and copies it out as new `bytes`: per packet, three objects and
two copies around a libsrtp call that itself takes well under a microsecond (AES-GCM/CM with AES-NI).
`FrameProtector` calls the same libsrtp function, on the same session (so the same keys, sequence
tracking and rollover counter as aiortc's RTCP and retransmissions), but protects each packet in place
in one growing buffer where the protected packets end up back to back. That buffer is what a UDP GSO
send takes as it is (`fastpath.GsoSender`).

It uses pylibsrtp 1.0 internals (`Session._srtp` and `pylibsrtp._binding`); `for_session` returns None
when they are not there and the caller protects packet by packet through the public API.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pylibsrtp

TRAILER_MAX = 16 + 128  # SRTP_MAX_TAG_LEN + SRTP_MAX_MKI_LEN: what protecting may add to a packet
ffi: Any = None
lib: Any = None
with contextlib.suppress(ImportError):  # where pylibsrtp moved its binding, packets are protected one by one
    from pylibsrtp._binding import ffi, lib  # type: ignore[import-not-found, no-redef]


class FrameProtector:
    """Protects lists of RTP packets with one SRTP session into one buffer, back to back."""

    def __init__(self, session: Any, context: Any) -> None:
        self.session = session  # held: its context must outlive us
        self._context = context
        self._protect = lib.srtp_protect
        self._length = ffi.new("int *")
        self._size = 0
        self._grow(64 * 1024)

    @classmethod
    def for_session(cls, session: Any) -> FrameProtector | None:
        """A protector for a pylibsrtp `Session`, or None where its internals are not as expected."""
        if ffi is None:
            return None
        try:
            context = session._srtp[0]
            if ffi.typeof(context) != ffi.typeof("srtp_t"):
                return None
        except (AttributeError, TypeError, IndexError, ffi.error):
            return None
        return cls(session, context)

    def _grow(self, size: int) -> None:
        self._cdata = ffi.new("unsigned char[]", size)
        self._buffer = memoryview(ffi.buffer(self._cdata))  # valid until it grows: protect() returns it
        self._size = size

    def protect(self, packets: list[bytes]) -> tuple[memoryview, list[int]]:
        """Protect `packets` in order: returns the buffer in which the protected packets lie back to
        back from its start (valid until the next call; a larger frame gets a new, larger buffer) and
        their sizes. Raises pylibsrtp.Error as `Session.protect` does."""
        need = sum(map(len, packets)) + TRAILER_MAX * len(packets)
        if need > self._size:
            self._grow(max(need, 2 * self._size))
        buffer, cdata, length, protect, context = (
            self._buffer,
            self._cdata,
            self._length,
            self._protect,
            self._context,
        )
        sizes = []
        offset = 0
        for packet in packets:
            size = len(packet)
            buffer[offset : offset + size] = packet
            length[0] = size
            status = protect(context, cdata + offset, length)
            if status:
                errors = pylibsrtp.ERRORS
                raise pylibsrtp.Error(errors[status] if status < len(errors) else f"srtp error {status}")
            size = length[0]
            sizes.append(size)
            offset += size
        return buffer, sizes
