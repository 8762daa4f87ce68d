"""A lean RTP send loop for relay tracks, in place of aiortc's generic `RTCRtpSender._run_rtp`.

aiortc's loop spends about 55 µs of Python per RTP packet: an `RtpPacket` object, two datetime-based NTP
clocks, generic header-extension packing and four awaited coroutines down to the socket. At 4 Mb/s
(about 400 packets/s) that was 3-4% of a core per viewer, nearly all of the relay's cost. For a relay
track the payloads are already encoded, so this loop takes each frame's RTP payloads from the shared
packetizer (`packetizer.py`: once per frame for all viewers), packs each RTP header with one `struct`
call, protects the frame's packets with the connection's SRTP session into one buffer (`srtp.py`) and
gives them to the ICE pair's protocol (the same socket, STUN or TURN alike), both looked up once per
frame. Everything else stays aiortc's: negotiation, ICE, DTLS, RTCP (its
sender reports read the counters this loop keeps up to date) and NACK handling (answered from this
loop's own history, as RTX when negotiated).

Where the ICE pair is a plain UDP socket, a frame's packets go out in a few `sendmsg` calls instead of one
call each: every run of equal-size packets (the fragments of one NAL unit) is one stretch of that buffer
that the kernel splits into datagrams (UDP GSO, Linux 4.18+); see `GsoSender`. A P-frame is then one send.

It relies on aiortc 1.16 internals (named in REQUIRED); `install` checks them on each sender and leaves
aiortc's own loop in place when one is missing: slower, same result.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aioice.ice import StunProtocol
from aiortc import RTCRtpSender
from aiortc.codecs.h264 import H264Encoder
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters
from aiortc.rtp import pack_header_extensions

from vsnative.webrtc.packetizer import PACKETIZER
from vsnative.webrtc.srtp import FrameProtector

log = logging.getLogger(__name__)
HEADER = struct.Struct("!BBHII")
HISTORY = 1024  # packets kept for NACKed retransmission: a 1 MB keyframe (4K) is about 800 packets
# (aiortc keeps 128, less than one keyframe of a detailed 1080p camera)
NTP_EPOCH = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (unix)
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
_P = "_RTCRtpSender__"
REQUIRED = tuple(
    _P + name
    for name in ("rtp_started", "rtp_exited", "ntp_timestamp", "rtp_timestamp", "packet_count", "octet_count")
)
_warned = False
UDP_SEGMENT = 103  # <linux/udp.h> (Python's socket module names it only from 3.12)
SEGMENT_SIZE = struct.Struct("=H")
GSO_MAX_SEGMENTS = 64  # the kernel's UDP_MAX_SEGMENTS
GSO_MAX_BYTES = 65_000  # one UDP send carries at most 64 KiB
BURST_BYTES = 64_000  # a frame's datagrams sent at once (one GSO send): every P-frame, a keyframe's start
PACE_BYTES_PER_SECOND = 4_000_000  # the rest of a large keyframe: 32 Mbit/s (a 600 KB one in 150 ms;
# libwebrtc's own pacer sends at 2.5x the bitrate, 20 Mbit/s for an 8 Mb/s camera). Measured with an aiortc
# viewer of the 1080p camera on a loaded 2-core machine: at 25 MB/s its socket overflowed on 2 of 3 joins
# (72-133 datagrams lost), at 12 MB/s on 1 of 4 (60), at 4 MB/s on none of 4


class GsoSender:
    """A second handle on an ICE pair's UDP socket that sends a frame's datagrams in runs: each run of
    equal-size datagrams (a shorter one may end it) is one `sendmsg` with UDP_SEGMENT, which the kernel
    (or the network card) splits into the same datagrams, in order. One syscall and one trip through
    the UDP/IP stack per run instead of per packet.

    `send` returns how many datagrams it sent; the caller sends the rest through the protocol, which
    buffers: when the socket is full (EAGAIN), when the transport still holds buffered datagrams (sending
    around them would reorder), or for good once the kernel refuses GSO (EIO/EINVAL: `enabled` is false).
    """

    def __init__(self, protocol: StunProtocol) -> None:
        self.protocol = protocol
        self.transport = protocol.transport
        fd = self.transport.get_extra_info("socket").fileno()
        self.socket = socket.socket(fileno=os.dup(fd))  # non-blocking, as the original (shared file status)
        # datagrams the transport still holds (asyncio's and uvloop's UDP transports both tell; one that
        # cannot is taken as always holding some: GSO stays off rather than risk reordering)
        self.buffered: Callable[[], int] = getattr(self.transport, "get_write_buffer_size", lambda: 1)
        self.enabled = True
        self.syscalls = 0

    def send(self, buffer: memoryview, sizes: list[int], address: tuple[str, int]) -> int:
        """Send the datagrams that lie back to back in `buffer`, of `sizes`; returns how many were sent."""
        if not self.enabled or self.buffered():
            return 0
        sock, count, i, offset = self.socket, len(sizes), 0, 0
        try:
            while i < count:
                size = sizes[i]
                limit = min(count, i + min(GSO_MAX_SEGMENTS, GSO_MAX_BYTES // size))
                j, end = i + 1, offset + size
                while j < limit and sizes[j] == size:
                    j += 1
                    end += size
                if j < limit and sizes[j] < size:  # a shorter last segment
                    end += sizes[j]
                    j += 1
                if j - i == 1:
                    sock.sendto(buffer[offset:end], address)
                else:
                    ancillary = [(socket.SOL_UDP, UDP_SEGMENT, SEGMENT_SIZE.pack(size))]
                    sock.sendmsg([buffer[offset:end]], ancillary, 0, address)
                self.syscalls += 1
                i, offset = j, end
        except BlockingIOError:
            pass
        except OSError as exc:  # no GSO here (kernel, device or a checksum offload it needs)
            self.enabled = False
            log.info("live view: UDP GSO unavailable (%s), one send per RTP packet", exc)
        return i

    def close(self) -> None:
        self.socket.close()


def ntp_now() -> int:
    """The current time as a 64-bit NTP timestamp (what aiortc's clock gives, without datetime)."""
    return int((time.time() + NTP_EPOCH) * 4294967296)


class Pacer:
    """A token bucket: up to `burst` bytes at once, `rate` bytes a second on average."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self.waits = 0

    async def wait(self, size: int) -> None:
        """Return once `size` bytes may be sent (takes them from the bucket)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= size
        if self.tokens < 0:
            self.waits += 1
            await asyncio.sleep(-self.tokens / self.rate)


class FastRtpLoop:
    """Sends one relay track's packets for one sender (installed by `install`)."""

    def __init__(self, sender: RTCRtpSender) -> None:
        self.sender = sender
        self.parameters: RTCRtpSendParameters | None = None
        # seq % HISTORY -> (seq, marker bit, timestamp, header extensions, payload)
        self.history: dict[int, tuple[int, int, int, bytes, bytes]] = {}
        self.rtx_sequence = secrets.randbits(16)
        self.packets = 0
        self.use_gso = True
        self.gso: GsoSender | None = None
        self.protector: tuple[Any, FrameProtector | None] | None = None  # (SRTP session, its protector)
        self.pacer = Pacer(PACE_BYTES_PER_SECOND, BURST_BYTES)
        self._extensions: tuple[RTCRtpSendParameters, bytes] | None = None  # when constant

    def extensions(self, send_time: int) -> bytes:
        """The RTP header extension block for one frame (mid and abs-send-time when negotiated); the same
        bytes every frame unless abs-send-time is negotiated (the relay's own answers leave it out)."""
        params = self.parameters
        if params is None:
            return b""
        cached = self._extensions
        if cached is not None and cached[0] is params:
            return cached[1]
        items: list[tuple[int, bytes]] = []
        timed = False
        for ext in params.headerExtensions:
            if ext.uri == MID_URI and params.muxId:
                items.append((ext.id, params.muxId.encode()))
            elif ext.uri == ABS_SEND_TIME_URI:
                timed = True
                items.append((ext.id, ((send_time >> 14) & 0xFFFFFF).to_bytes(3, "big")))
        block = b""
        if items:
            profile, value = pack_header_extensions(items)
            block = struct.pack("!HH", profile, len(value) // 4) + value
        if not timed:
            self._extensions = (params, block)
        return block

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
                data: bytes | None = getattr(track, "last_data", None)  # a RelayTrack's, in 1/90000 pts
                if data is not None and packet.pts is not None:
                    payloads, timestamp = PACKETIZER.payloads(data), packet.pts
                else:
                    payloads, timestamp = encoder.pack(packet)  # type: ignore[arg-type]
                if not payloads:
                    continue
                timestamp = (origin + timestamp) & 0xFFFFFFFF
                route = self.route()
                now = ntp_now()
                ext = self.extensions(now)
                first = 0x90 if ext else 0x80  # version 2, extension bit
                last = len(payloads) - 1
                datagrams = []
                for i, payload in enumerate(payloads):
                    marker = 0x80 if i == last else 0
                    history[sequence % HISTORY] = (sequence, marker, timestamp, ext, payload)
                    datagrams.append(
                        HEADER.pack(first, marker | payload_type, sequence, timestamp, ssrc) + ext + payload
                    )
                    octets += len(payload)
                    sequence = (sequence + 1) & 0xFFFF
                if route is None:
                    for datagram in datagrams:
                        await send(datagram)
                else:
                    session, protocol, address = route
                    buffer, sizes = self.protect(session, datagrams)
                    await self.send_frame(buffer, sizes, protocol, address)
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
            if self.gso is not None:
                self.gso.close()
                self.gso = None
            vars(sender)[_P + "rtp_exited"].set()

    async def send_frame(
        self, buffer: memoryview, sizes: list[int], protocol: Any, address: tuple[str, int]
    ) -> None:
        """Send a frame's protected datagrams (back to back in `buffer`), paced: a frame up to BURST_BYTES
        goes at once (every P-frame), a larger one (a keyframe of a detailed 1080p or 4K camera: 300 KB
        to 1 MB) in bursts of BURST_BYTES at PACE_BYTES_PER_SECOND, so the viewer's receive buffer
        (212 KB by default on Linux: about 90 datagrams of 1.3 KB, as the kernel counts them) is not
        overrun by the whole frame at once."""
        gso = self.gso_for(protocol)
        count, i, offset = len(sizes), 0, 0
        while i < count:
            j, end = i, offset
            while j < count and (j == i or end + sizes[j] - offset <= BURST_BYTES):
                end += sizes[j]
                j += 1
            await self.pacer.wait(end - offset)
            run = sizes[i:j]
            sent = gso.send(buffer[offset:end], run, address) if gso is not None else 0
            rest = offset + sum(run[:sent])
            for size in run[sent:]:
                await protocol.send_data(bytes(buffer[rest : rest + size]), address)
                rest += size
            i, offset = j, end

    def protect(self, session: Any, datagrams: list[bytes]) -> tuple[memoryview, list[int]]:
        """SRTP-protect a frame's datagrams: they lie back to back in the returned buffer, of the
        returned sizes (valid until the next frame)."""
        if self.protector is None or self.protector[0] is not session:  # looked up once per session
            self.protector = (session, FrameProtector.for_session(session))
        protector = self.protector[1]
        if protector is not None:
            return protector.protect(datagrams)
        protected = [session.protect(datagram) for datagram in datagrams]  # pylibsrtp's public API
        return memoryview(b"".join(protected)), [len(datagram) for datagram in protected]

    def gso_for(self, protocol: Any) -> GsoSender | None:
        """The GSO handle on the pair's socket: plain UDP pairs only (a TURN relay frames each packet)."""
        gso = self.gso
        if gso is not None and gso.protocol is protocol:
            return gso if gso.enabled else None
        if gso is not None:  # ICE moved to another pair
            gso.close()
            self.gso = None
        if not self.use_gso or type(protocol) is not StunProtocol:
            return None
        try:
            self.gso = GsoSender(protocol)
        except (AttributeError, OSError, ValueError):
            self.use_gso = False
            return None
        return self.gso

    def route(self) -> tuple[Any, Any, tuple[str, int]] | None:
        """For this frame: the SRTP session and the ICE pair's protocol (STUN or TURN) and address, so
        each packet is protected and sent without aiortc's four awaited layers; None to use them."""
        dtls = self.sender.transport
        try:
            if dtls._state is not DtlsState.CONNECTED:
                return None  # aiortc's path raises ConnectionError, which ends the loop as it should
            pair = dtls.transport._connection._nominated.get(1)
            if pair is None:
                return None
            return dtls._tx_srtp, pair.protocol, pair.remote_addr
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
