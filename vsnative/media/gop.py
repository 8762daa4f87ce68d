"""The current group of pictures of a camera, kept so a new live viewer starts with a picture at once.

Written by the framer thread (`add`), read on the event loop (`snapshot`). Both are single list
operations (rebinding a list, appending to it, copying it with a slice) that are atomic under the GIL,
so the per-packet cost stays an append and no lock is taken.
"""

from __future__ import annotations

from vsnative.media.packets import EncodedPacket


class GopCache:
    """Video packets from the last keyframe on, for one camera session; bounded in packets and bytes
    (a camera whose GOP is longer than the bounds has no cache until its next keyframe)."""

    def __init__(self, max_packets: int = 300, max_bytes: int = 16 << 20) -> None:
        self.max_packets = max_packets
        self.max_bytes = max_bytes
        self._gop: list[EncodedPacket] = []
        self._bytes = 0

    def add(self, packet: EncodedPacket) -> None:
        """In the framer thread: every packet of the camera (audio is ignored)."""
        if not packet.is_video:
            return
        if packet.keyframe:
            self._gop = [packet]
            self._bytes = len(packet.data)
            return
        gop = self._gop
        if not gop:
            return
        if gop[0].info is not packet.info:  # a new session starts only at a keyframe
            self._gop = []
            return
        self._bytes += len(packet.data)
        if len(gop) >= self.max_packets or self._bytes > self.max_bytes:
            self._gop = []
            return
        gop.append(packet)

    def clear(self) -> None:
        self._gop = []

    def snapshot(self) -> list[EncodedPacket]:
        """On the event loop: a copy of the current GOP, keyframe first (empty when none is known)."""
        return self._gop[:]
