"""Fake IP camera: GStreamer's RTSP server streaming pre-encoded Annex-B files (run by Debian's python3).

Usage: /usr/bin/python3 rtsp_camera.py --port N --mount /cam=video.h264[,fps=25][,codec=h264|h265][,audio=sound.aac] ... [--auth user:pass]
Prints "READY <port>" on stdout once it listens. Each mount is a shared factory: every client sees the
same live stream, like a real camera. Files loop forever with increasing timestamps.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

START_CODE = b"\x00\x00\x00\x01"


def split_access_units(data: bytes, codec: str) -> list[bytes]:
    """Split an Annex-B stream with access-unit delimiters into access units."""
    aud = b"\x00\x00\x00\x01\x09" if codec == "h264" else b"\x00\x00\x00\x01\x46"
    units = []
    start = data.find(aud)
    if start < 0:
        raise SystemExit("input has no access unit delimiters (use h264_metadata=aud=insert)")
    while start >= 0:
        nxt = data.find(aud, start + 4)
        units.append(data[start : nxt if nxt >= 0 else len(data)])
        start = nxt
    return units


def split_adts(data: bytes) -> tuple[list[bytes], int]:
    """Split an ADTS AAC stream into frames; return them and the sample rate."""
    rates = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350]
    frames, pos, rate = [], 0, 0
    while pos + 7 <= len(data):
        if data[pos] != 0xFF or data[pos + 1] & 0xF0 != 0xF0:
            raise SystemExit(f"bad ADTS sync at byte {pos}")
        rate = rates[(data[pos + 2] >> 2) & 0x0F]
        size = ((data[pos + 3] & 0x03) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5)
        frames.append(data[pos : pos + size])
        pos += size
    return frames, rate


class Feeder:
    """Pushes units (video access units or AAC frames) into an appsrc at real-time pace from a thread."""

    def __init__(self, appsrc: Gst.Element, units: list[bytes], fps: float, t0: float) -> None:
        self.appsrc = appsrc
        self.units = units
        self.fps = fps
        self.t0 = t0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        duration = int(Gst.SECOND / self.fps)
        t0 = self.t0
        i = 0
        while not self.stop.is_set():
            unit = self.units[i % len(self.units)]
            buf = Gst.Buffer.new_wrapped(unit)
            buf.pts = buf.dts = int(i * Gst.SECOND / self.fps)
            buf.duration = duration
            if self.appsrc.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                return
            i += 1
            delay = t0 + i / self.fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)


class Factory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, units: list[bytes], fps: float, codec: str, audio: tuple[list[bytes], int] | None) -> None:
        super().__init__()
        self.audio = audio
        self.units = units
        self.fps = fps
        self.codec = codec
        self.feeders: list[Feeder] = []
        self.set_shared(True)
        self.connect("media-configure", self.on_configure)

    def do_create_element(self, url):  # type: ignore[no-untyped-def]
        caps = f"video/x-{self.codec},stream-format=byte-stream,alignment=au"
        parse, pay = ("h264parse", "rtph264pay") if self.codec == "h264" else ("h265parse", "rtph265pay")
        desc = (
            f"appsrc name=src is-live=true format=time do-timestamp=false caps={caps} "
            f"! {parse} ! {pay} name=pay0 pt=96 config-interval=-1"
        )
        if self.audio is not None:
            desc += (
                " appsrc name=asrc is-live=true format=time do-timestamp=false "
                "caps=audio/mpeg,mpegversion=4,stream-format=adts ! aacparse ! rtpmp4gpay name=pay1 pt=97"
            )
        return Gst.parse_launch(f"( {desc} )")

    def on_configure(self, _factory, media):  # type: ignore[no-untyped-def]
        element = media.get_element()
        t0 = time.monotonic()
        feeders = [Feeder(element.get_child_by_name("src"), self.units, self.fps, t0)]
        if self.audio is not None:
            frames, rate = self.audio
            feeders.append(Feeder(element.get_child_by_name("asrc"), frames, rate / 1024, t0))
        self.feeders.extend(feeders)
        media.connect("unprepared", lambda *_: [f.stop.set() for f in feeders])


def loopback_server(port: int) -> GstRtspServer.RTSPServer:
    """GStreamer's RTSP server, to listen on 127.0.0.1:port (GStreamer initialised)."""
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    return server


def serve(server: GstRtspServer.RTSPServer, port: int) -> None:
    """Listen, say READY on stdout, and serve until killed."""
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on 127.0.0.1:{port}")
    print(f"READY {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mount", action="append", required=True)
    parser.add_argument("--auth", help="user:password required for every mount (basic auth)")
    args = parser.parse_args()
    server = loopback_server(args.port)
    mounts = server.get_mount_points()
    role = "anonymous"
    if args.auth:
        user, _, password = args.auth.partition(":")
        role = user
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", user)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
    for spec in args.mount:
        path, _, rest = spec.partition("=")
        fields = rest.split(",")
        opts = dict(f.split("=", 1) for f in fields[1:])
        with open(fields[0], "rb") as fh:
            data = fh.read()
        codec = opts.get("codec", "h264")
        audio = None
        if "audio" in opts:
            with open(opts["audio"], "rb") as fh:
                audio = split_adts(fh.read())
        factory = Factory(split_access_units(data, codec), float(opts.get("fps", "25")), codec, audio)
        if args.auth:
            perms = GstRtspServer.RTSPPermissions()
            perms.add_role(role)
            perms.add_permission_for_role(role, "media.factory.access", True)
            perms.add_permission_for_role(role, "media.factory.construct", True)
            factory.set_permissions(perms)
        mounts.add_factory(path, factory)
    serve(server, args.port)


if __name__ == "__main__":
    sys.exit(main())
