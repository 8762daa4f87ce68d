"""Probe for a design question, not part of vsnative: what reading the same RTSP/TCP cameras costs when
the socket is read in large chunks. One Python thread reads every camera (RTSP interleaved over TCP, no
auth) with 256 KB `recv` calls and depacketizes H.264 (RTP single NAL, STAP-A, FU-A) into Annex-B access
units. With `--mux DIR` it also remuxes them with PyAV, in the same thread, into 5-second fragmented MP4
clips cut at keyframes (the recorder's MP4 options; no index, no fan-out). FFmpeg's RTSP client, in ffmpeg
and in PyAV alike, calls `poll` and `recv` three times per RTP packet. bench/record.py --probe runs this
beside the recorders.

    python bench/rtsp_probe.py [--mux DIR] URL [URL ...]   # reads until SIGINT/SIGTERM, then prints totals
"""

from __future__ import annotations

import argparse
import base64
import io
import re
import selectors
import signal
import socket
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import av

START = b"\x00\x00\x00\x01"
MP4_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
CLIP_TICKS = 5 * 90_000  # 5 s at the RTP clock of H.264


class Clips:
    """Remuxes one camera's access units into 5-second fragmented MP4 clips, cut at keyframes."""

    def __init__(self, folder: Path, parameter_sets: bytes) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.parameter_sets = parameter_sets  # Annex-B, from the SDP
        self.out: Any = None
        self.stream: Any = None
        self.template: Any = None
        self.start = 0
        self.count = 0

    def write(self, unit: bytes, timestamp: int, keyframe: bool) -> None:
        ticks = (timestamp - self.start) & 0xFFFFFFFF
        if keyframe and (self.out is None or ticks >= CLIP_TICKS):
            self.close()
            self.out = av.open(
                str(self.folder / f"{self.count:05d}.mp4"), "w", format="mp4", options=dict(MP4_OPTIONS)
            )
            if self.template is None:  # codec parameters (size, avcC) from the first keyframe itself
                self.template = av.open(io.BytesIO(self.parameter_sets + unit), format="h264")
            self.stream = self.out.add_stream_from_template(self.template.streams.video[0])
            self.stream.time_base = Fraction(1, 90_000)
            self.start, ticks = timestamp, 0
            self.count += 1
        if self.out is None:
            return
        packet = av.Packet(unit)
        packet.dts = packet.pts = ticks
        packet.time_base = Fraction(1, 90_000)
        packet.is_keyframe = keyframe
        packet.stream = self.stream
        self.out.mux(packet)

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


class Camera:
    def __init__(self, url: str, clips: Path | None = None) -> None:
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
        sprop = re.search(r"sprop-parameter-sets=([^;\s]+)", body)
        sets = [base64.b64decode(x) for x in sprop.group(1).split(",")] if sprop else []
        self.clips = Clips(clips, b"".join(START + nal for nal in sets)) if clips else None
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
            keyframe = any(nal[0] & 0x1F == 5 for nal in self.nals)
            self.frames += 1
            self.bytes += len(unit)
            self.keyframes += keyframe
            self.nals = []
            if self.clips is not None:
                self.clips.write(unit, int.from_bytes(packet[4:8], "big"), keyframe)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mux", type=Path, help="also remux into clips under this folder")
    parser.add_argument("urls", nargs="+")
    args = parser.parse_args()
    cameras = [Camera(url, args.mux / f"cam{i:02d}" if args.mux else None) for i, url in enumerate(args.urls)]
    selector = selectors.DefaultSelector()
    for camera in cameras:
        selector.register(camera.sock, selectors.EVENT_READ, camera)
    stopping: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _: stopping.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, _: stopping.append(signum))
    while not stopping:
        for key, _ in selector.select(0.5):
            key.data.readable()
    for camera in cameras:
        if camera.clips is not None:
            camera.clips.close()
    frames = sum(c.frames for c in cameras)
    print(
        f"{frames} access units, {sum(c.keyframes for c in cameras)} keyframes, "
        f"{sum(c.bytes for c in cameras) / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
