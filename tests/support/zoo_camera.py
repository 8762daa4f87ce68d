"""Live-encoding IP cameras: GStreamer's RTSP server encoding test pictures live (run by Debian's python3).

Usage: /usr/bin/python3 zoo_camera.py --port N --camera JSON [--camera JSON ...]
  JSON: {"path": "/x264-sliced", "launch": "<gst-launch description with pay0 (video) [and pay1]>",
         "restartSeconds": 0}
Prints "READY <port>" once it listens. Each camera is a shared factory (every client sees the same live
stream, as with a real camera) whose encoders run while a client is connected. Reads commands on stdin:
"stats" prints "STATS {path: {"frames": n, "keyframes": k, "restarts": r}}" (video access units handed
to each camera's RTP payloader since it started). With restartSeconds, the camera's timestamps restart
from zero at the first keyframe after every restartSeconds, as when a camera reboots its encoder
without closing the connection.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer  # noqa: E402
from rtsp_camera import loopback_server, serve  # noqa: E402 - the script beside this one


class Counter:
    """Counts (and with restartSeconds, re-stamps) the video access units entering a payloader."""

    def __init__(self, restart_seconds: float) -> None:
        self.frames = 0
        self.keyframes = 0
        self.restarts = 0
        self.restart_ns = int(restart_seconds * Gst.SECOND)
        self._offset = 0
        self._epoch = None  # pts (before re-stamping) where the current timeline starts
        self.lock = threading.Lock()

    def probe(self, pad, info):  # type: ignore[no-untyped-def]
        buf = info.get_buffer()
        if buf is None:
            return Gst.PadProbeReturn.OK
        key = not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)
        with self.lock:
            self.frames += 1
            self.keyframes += key
            if self.restart_ns and buf.pts != Gst.CLOCK_TIME_NONE:
                if self._epoch is None:
                    self._epoch = buf.pts
                elif key and buf.pts - self._epoch >= self.restart_ns:
                    # the encoder "reboots": its clock starts again one frame after the stream's start
                    # (the payloader keeps its last RTP timestamp for a time before the segment's start)
                    segment = pad.get_sticky_event(Gst.EventType.SEGMENT, 0).parse_segment()
                    self._offset = buf.pts - (segment.start + Gst.SECOND // 25)
                    self._epoch = buf.pts
                    self.restarts += 1
                if self._offset:
                    buf.pts -= self._offset
                    if buf.dts != Gst.CLOCK_TIME_NONE:
                        buf.dts -= self._offset
        return Gst.PadProbeReturn.OK

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {"frames": self.frames, "keyframes": self.keyframes, "restarts": self.restarts}


class Camera(GstRtspServer.RTSPMediaFactory):
    def __init__(self, launch: str, restart_seconds: float) -> None:
        super().__init__()
        self.set_launch(f"( {launch} )")
        self.set_shared(True)
        self.counter = Counter(restart_seconds)
        self.connect("media-configure", self.on_configure)

    def on_configure(self, _factory, media):  # type: ignore[no-untyped-def]
        pay = media.get_element().get_child_by_name("pay0")
        pay.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self.counter.probe)


def commands(cameras: dict[str, Camera]) -> None:
    for line in sys.stdin:
        if line.strip() == "stats":
            stats = {path: camera.counter.stats() for path, camera in cameras.items()}
            print("STATS " + json.dumps(stats), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--camera", action="append", required=True, help="JSON: path, launch, restartSeconds")
    args = parser.parse_args()
    server = loopback_server(args.port)
    mounts = server.get_mount_points()
    cameras: dict[str, Camera] = {}
    for spec in args.camera:
        conf = json.loads(spec)
        camera = Camera(conf["launch"], float(conf.get("restartSeconds", 0)))
        mounts.add_factory(conf["path"], camera)
        cameras[conf["path"]] = camera
    threading.Thread(target=commands, args=(cameras,), daemon=True).start()
    serve(server, args.port)


if __name__ == "__main__":
    sys.exit(main())
