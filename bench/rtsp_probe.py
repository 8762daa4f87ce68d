"""Probe for a design question, not part of vsnative: what reading the same RTSP/TCP cameras costs when
the socket is read in large chunks. One Python thread reads every camera (RTSP interleaved over TCP, no
auth) with 256 KB `recv` calls and depacketizes H.264 (RTP single NAL, STAP-A, FU-A) into Annex-B access
units; nothing is muxed. FFmpeg's RTSP client, in ffmpeg and in PyAV alike, calls `poll` and `recv` three
times per RTP packet. bench/record.py --probe runs this beside the recorders.

    python bench/rtsp_probe.py URL [URL ...]     # reads until SIGINT/SIGTERM, then prints what it got
"""

from __future__ import annotations

import re
import selectors
import signal
import socket
import sys
from urllib.parse import urlparse

START = b"\x00\x00\x00\x01"


class Camera:
    def __init__(self, url: str) -> None:
        parts = urlparse(url)
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 554), timeout=10)
        self.cseq = 0
        self.buf = bytearray()
        self.frames = self.keyframes = self.bytes = 0
        self.nals: list[bytes] = []
        self.fu: list[bytes] | None = None
        self.request("OPTIONS", url)
        head, body = self.request("DESCRIBE", url, "Accept: application/sdp\r\n")
        found = re.search(r"Content-Base: (\S+)", head)
        base = found.group(1) if found else url + "/"
        control = re.search(r"a=control:(\S+)", body.split("m=video", 1)[1])
        if control is None:
            raise RuntimeError(f"{url}: no video control URL in the SDP")
        track = control.group(1)
        track = track if track.startswith("rtsp://") else base.rstrip("/") + "/" + track
        head, _ = self.request("SETUP", track, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
        session = re.search(r"Session: ([^;\r\n]+)", head)
        if session is None:
            raise RuntimeError(f"{url}: no session")
        self.request("PLAY", base, f"Session: {session.group(1)}\r\nRange: npt=0-\r\n")
        self.sock.setblocking(False)

    def request(self, method: str, url: str, extra: str = "") -> tuple[str, str]:
        self.cseq += 1
        self.sock.sendall(f"{method} {url} RTSP/1.0\r\nCSeq: {self.cseq}\r\n{extra}\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += self.sock.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        length = re.search(rb"Content-Length: (\d+)", head)
        size = int(length.group(1)) if length else 0
        while len(rest) < size:
            rest += self.sock.recv(65536)
        self.buf += rest[size:]
        return head.decode(), rest[:size].decode()

    def readable(self) -> None:
        try:
            chunk = self.sock.recv(262144)
        except BlockingIOError:
            return
        buf = self.buf
        buf += chunk
        pos, end = 0, len(buf)
        view = memoryview(buf)
        while end - pos >= 4:
            if buf[pos] != 0x24:  # an RTSP message between frames: skip to the next '$'
                pos = buf.find(b"$", pos + 1)
                if pos < 0:
                    pos = end
                continue
            size = (buf[pos + 2] << 8) | buf[pos + 3]
            if end - pos - 4 < size:
                break
            if buf[pos + 1] == 0:  # channel 0: video RTP
                self.rtp(view[pos + 4 : pos + 4 + size])
            pos += 4 + size
        view.release()
        del buf[:pos]

    def rtp(self, packet: memoryview) -> None:
        first = packet[0]
        header = 12 + 4 * (first & 0x0F)
        if first & 0x10:  # header extension
            header += 4 + 4 * ((packet[header + 2] << 8) | packet[header + 3])
        payload = packet[header:]
        kind = payload[0] & 0x1F
        if kind < 24:
            self.nals.append(bytes(payload))
        elif kind == 28:  # FU-A
            fu = payload[1]
            if fu & 0x80:
                self.fu = [bytes([(payload[0] & 0xE0) | (fu & 0x1F)]), bytes(payload[2:])]
            elif self.fu is not None:
                self.fu.append(bytes(payload[2:]))
            if fu & 0x40 and self.fu is not None:
                self.nals.append(b"".join(self.fu))
                self.fu = None
        elif kind == 24:  # STAP-A
            i = 1
            while i + 2 <= len(payload):
                size = (payload[i] << 8) | payload[i + 1]
                self.nals.append(bytes(payload[i + 2 : i + 2 + size]))
                i += 2 + size
        if packet[1] & 0x80 and self.nals:  # the marker bit ends the access unit
            unit = START + START.join(self.nals)
            self.frames += 1
            self.bytes += len(unit)
            self.keyframes += any(nal[0] & 0x1F == 5 for nal in self.nals)
            self.nals = []


def main() -> None:
    cameras = [Camera(url) for url in sys.argv[1:]]
    selector = selectors.DefaultSelector()
    for camera in cameras:
        selector.register(camera.sock, selectors.EVENT_READ, camera)
    stopping: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _: stopping.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, _: stopping.append(signum))
    while not stopping:
        for key, _ in selector.select(0.5):
            key.data.readable()
    frames = sum(c.frames for c in cameras)
    print(
        f"{frames} access units, {sum(c.keyframes for c in cameras)} keyframes, "
        f"{sum(c.bytes for c in cameras) / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
