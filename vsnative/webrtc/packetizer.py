"""H.264 access unit (Annex-B) -> RTP payloads (RFC 6184, packetization-mode 1), built for the relay.

Same packet types and size limit as aiortc's packetizer (single NAL unit, STAP-A, FU-A; 1300 bytes of
payload), with two differences that save a send per frame for every viewer:
- a NAL unit too large for one packet is cut into fragments of the full size, the last one shorter, so
  all of a NAL unit's packets go out in one UDP GSO send (aiortc spreads the bytes evenly, which makes
  two sizes and so two sends);
- access unit delimiters (NAL type 9) and filler data (12) are left out: they carry no picture, and in
  RTP the timestamp and the marker bit delimit access units (RFC 6184 §5.1). A camera that sends AUDs
  would otherwise cost one more small packet, and one more send, per frame.
The slices, parameter sets and SEI go byte for byte as the camera sent them.
"""

from __future__ import annotations

import collections
import struct

from vsnative.media.packets import nal_units

PACKET_MAX = 1300  # payload bytes per RTP packet (aiortc's limit: fits a 1500-byte MTU with SRTP)
FRAGMENT = PACKET_MAX - 2  # NAL bytes per FU-A packet (after the FU indicator and FU header)
STAP_A, FU_A = 24, 28
DROPPED_TYPES = frozenset((9, 12))  # access unit delimiter, filler data
LENGTH = struct.Struct("!H")


def fragments(unit: memoryview) -> list[bytes]:
    """FU-A packets of one NAL unit: full-size fragments, the last one shorter."""
    header = unit[0]
    indicator, kind = (header & 0xE0) | FU_A, header & 0x1F
    middle = bytes((indicator, kind))
    size = len(unit)
    out = [bytes((indicator, kind | 0x80)) + unit[1 : 1 + FRAGMENT]]
    offset = 1 + FRAGMENT
    while offset + FRAGMENT < size:
        out.append(middle + unit[offset : offset + FRAGMENT])
        offset += FRAGMENT
    out.append(bytes((indicator, kind | 0x40)) + unit[offset:])
    return out


def aggregate(units: list[memoryview]) -> bytes:
    """One STAP-A packet of several small NAL units: F is any unit's F bit, NRI the highest NRI."""
    forbidden = nri = 0
    for unit in units:
        forbidden |= unit[0] & 0x80
        nri = max(nri, unit[0] & 0x60)
    parts = [bytes((forbidden | nri | STAP_A,))]
    for unit in units:
        parts.append(LENGTH.pack(len(unit)))
        parts.append(unit.tobytes())
    return b"".join(parts)


def packetize(data: bytes) -> list[bytes]:
    """The RTP payloads of one access unit, in order (the last one gets the marker bit)."""
    units = [unit for unit in nal_units(data) if unit[0] & 0x1F not in DROPPED_TYPES]
    payloads: list[bytes] = []
    i, count = 0, len(units)
    while i < count:
        unit = units[i]
        if len(unit) > PACKET_MAX:
            payloads.extend(fragments(unit))
            i += 1
            continue
        j, size = i + 1, 1 + 2 + len(unit)  # STAP-A header, then a length and a unit each
        while j < count and size + 2 + len(units[j]) <= PACKET_MAX:
            size += 2 + len(units[j])
            j += 1
        payloads.append(unit.tobytes() if j == i + 1 else aggregate(units[i:j]))
        i = j
    return payloads


class Packetizer:
    """Packetizes each access unit once for every viewer of the process: a camera's live viewers are
    sent the same `bytes` object, so the payloads of the last few are kept, keyed by that object's
    identity (held, so the identity cannot be reused)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.made = 0
        self._recent: collections.OrderedDict[int, tuple[bytes, list[bytes]]] = collections.OrderedDict()

    def payloads(self, data: bytes) -> list[bytes]:
        """The payloads of one access unit (a shared list: read it, never change it)."""
        recent = self._recent
        hit = recent.get(id(data))
        if hit is not None and hit[0] is data:
            return hit[1]
        payloads = packetize(data)
        self.made += 1
        recent[id(data)] = (data, payloads)
        if len(recent) > self.size:
            recent.popitem(last=False)
        return payloads


PACKETIZER = Packetizer(16)
