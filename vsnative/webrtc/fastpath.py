"""A lean RTP send loop for relay tracks, in place of aiortc's generic `RTCRtpSender._run_rtp`.

aiortc's loop spends about 55 µs of Python per RTP packet: an `RtpPacket` object, two datetime-based NTP
clocks, generic header-extension packing and four awaited coroutines down to the socket. At 4 Mb/s
(about 400 packets/s) that was 3-4% of a core per viewer, nearly all of the relay's cost. For a relay
track the payloads are already encoded, so this loop packetizes each frame with aiortc's own H.264
packetizer, packs each RTP header with one `struct` call, protects it with the connection's SRTP session
and gives it to the ICE pair's protocol (the same socket, STUN or TURN alike), both looked up once per
frame. Everything else stays aiortc's: negotiation, ICE, DTLS, RTCP (its
sender reports read the counters this loop keeps up to date) and NACK handling (answered from this
loop's own history, as RTX when negotiated).

It relies on aiortc 1.16 internals (named in REQUIRED); `install` checks them on each sender and leaves
aiortc's own loop in place when one is missing: slower, same result.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCRtpSender
from aiortc.codecs.h264 import H264Encoder
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters
from aiortc.rtp import pack_header_extensions

log = logging.getLogger(__name__)
HEADER = struct.Struct("!BBHII")
HISTORY = 128  # packets kept for NACKed retransmission (aiortc keeps as many)
NTP_EPOCH = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (unix)
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
_P = "_RTCRtpSender__"
REQUIRED = tuple(
    _P + name
    for name in ("rtp_started", "rtp_exited", "ntp_timestamp", "rtp_timestamp", "packet_count", "octet_count")
)
_warned = False


def ntp_now() -> int:
    """The current time as a 64-bit NTP timestamp (what aiortc's clock gives, without datetime)."""
    return int((time.time() + NTP_EPOCH) * 4294967296)


class FastRtpLoop:
    """Sends one relay track's packets for one sender (installed by `install`)."""

    def __init__(self, sender: RTCRtpSender) -> None:
        self.sender = sender
        self.parameters: RTCRtpSendParameters | None = None
        # seq % HISTORY -> (seq, marker bit, timestamp, header extensions, payload)
        self.history: dict[int, tuple[int, int, int, bytes, bytes]] = {}
        self.rtx_sequence = secrets.randbits(16)
        self.packets = 0

    def extensions(self, send_time: int) -> bytes:
        """The RTP header extension block for one frame (mid and abs-send-time when negotiated)."""
        params = self.parameters
        if params is None:
            return b""
        items: list[tuple[int, bytes]] = []
        for ext in params.headerExtensions:
            if ext.uri == MID_URI and params.muxId:
                items.append((ext.id, params.muxId.encode()))
            elif ext.uri == ABS_SEND_TIME_URI:
                items.append((ext.id, ((send_time >> 14) & 0xFFFFFF).to_bytes(3, "big")))
        if not items:
            return b""
        profile, value = pack_header_extensions(items)
        return struct.pack("!HH", profile, len(value) // 4) + value

    async def run(self, codec: RTCRtpCodecParameters) -> None:
        sender = self.sender
        vars(sender)[_P + "rtp_started"].set()
        send: Callable[[bytes], Awaitable[None]] = sender.transport._send_rtp
        track = sender.track
        encoder = H264Encoder()
        ssrc, payload_type = sender._ssrc, codec.payloadType or 0
        sequence = secrets.randbits(16)
        origin = secrets.randbits(32)
        history = self.history
        octets = 0
        try:
            while True:
                packet = await track.recv()
                payloads, timestamp = encoder.pack(packet)  # type: ignore[arg-type]
                if not payloads:
                    continue
                timestamp = (origin + timestamp) & 0xFFFFFFFF
                route = self.route()
                now = ntp_now()
                ext = self.extensions(now)
                first = 0x90 if ext else 0x80  # version 2, extension bit
                last = len(payloads) - 1
                for i, payload in enumerate(payloads):
                    marker = 0x80 if i == last else 0
                    history[sequence % HISTORY] = (sequence, marker, timestamp, ext, payload)
                    data = (
                        HEADER.pack(first, marker | payload_type, sequence, timestamp, ssrc) + ext + payload
                    )
                    if route is None:
                        await send(data)
                    else:
                        protect, protocol, address = route
                        await protocol.send_data(protect(data), address)
                    octets += len(payload)
                    sequence = (sequence + 1) & 0xFFFF
                self.packets += len(payloads)
                # what aiortc's RTCP loop puts in its sender reports
                state = vars(sender)
                state[_P + "ntp_timestamp"] = now
                state[_P + "rtp_timestamp"] = timestamp
                state[_P + "packet_count"] = self.packets
                state[_P + "octet_count"] = octets
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass
        except Exception:  # as aiortc does: the exit event must be set, or sender.stop() hangs
            log.exception("live view: the RTP loop of a viewer failed")
        finally:
            vars(sender)[_P + "rtp_exited"].set()

    def route(self) -> tuple[Callable[[bytes], bytes], Any, tuple[str, int]] | None:
        """For this frame: the SRTP session and the ICE pair's protocol (STUN or TURN) and address, so
        each packet is protected and sent without aiortc's four awaited layers; None to use them."""
        dtls = self.sender.transport
        try:
            if dtls.state != "connected":
                return None  # aiortc's path raises ConnectionError, which ends the loop as it should
            pair = dtls.transport._connection._nominated.get(1)
            if pair is None:
                return None
            return dtls._tx_srtp.protect, pair.protocol, pair.remote_addr
        except AttributeError:
            return None

    async def retransmit(self, sequence_number: int) -> None:
        """Answer a NACK from the history: as RTX (original sequence number first) when negotiated."""
        entry = self.history.get(sequence_number % HISTORY)
        if entry is None or entry[0] != sequence_number or self.parameters is None:
            return
        _, marker, timestamp, ext, payload = entry
        codecs = self.parameters.codecs
        first = 0x90 if ext else 0x80
        rtx = next(
            (
                c
                for c in codecs
                if c.name.lower() == "rtx" and c.parameters.get("apt") == codecs[0].payloadType
            ),
            None,
        )
        if rtx is not None:
            header = HEADER.pack(
                first, marker | (rtx.payloadType or 0), self.rtx_sequence, timestamp, self.sender._rtx_ssrc
            )
            payload = struct.pack("!H", sequence_number) + payload
            self.rtx_sequence = (self.rtx_sequence + 1) & 0xFFFF
        else:
            header = HEADER.pack(
                first, marker | (codecs[0].payloadType or 0), sequence_number, timestamp, self.sender._ssrc
            )
        await self.sender.transport._send_rtp(header + ext + payload)


def install(sender: RTCRtpSender) -> FastRtpLoop | None:
    """Make `sender` use the lean loop (call before the connection starts); None when aiortc's internals
    are not as expected (aiortc's own loop then runs)."""
    global _warned
    state = vars(sender)
    if not all(name in state for name in REQUIRED) or not hasattr(sender.transport, "_send_rtp"):
        if not _warned:
            _warned = True
            log.warning("aiortc internals changed: live view uses aiortc's generic (slower) RTP loop")
        return None
    loop = FastRtpLoop(sender)
    original_send = sender.send

    async def send(parameters: RTCRtpSendParameters) -> None:
        loop.parameters = parameters
        await original_send(parameters)

    patch: dict[str, Any] = {"send": send, "_run_rtp": loop.run, "_retransmit": loop.retransmit}
    state.update(patch)
    return loop
