"""The floor of any PyAV recorder: one thread per camera demuxes RTSP with the rtsp framer's options and
muxes each demuxed packet, unchanged, into 5-second fragmented MP4 clips; no fan-out, no clip rules, no
copies, no service around it. bench/record.py runs it beside vsnative and ffmpeg: vsnative minus this
is vsnative's own cost, this minus ffmpeg is what PyAV's bundled FFmpeg costs against Debian's CLI.

    python bench/pyav_floor.py OUT_DIR URL [URL ...]     # records until SIGINT/SIGTERM
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

import av

OPTIONS = {
    "rtsp_transport": "tcp",
    "analyzeduration": "0",
    "probesize": "32768",
    "allowed_media_types": "video+audio",
    "timeout": "5000000",
}
MOVFLAGS = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}


def record(url: str, out_dir: Path, stop: threading.Event) -> None:
    source = av.open(url, options=OPTIONS, timeout=(10, None))
    video = source.streams.video[0]
    out: Any = None
    stream: Any = None
    start = 0
    clips = 0
    try:
        for packet in source.demux(video):
            if stop.is_set():
                break
            if packet.dts is None or packet.size == 0:
                continue
            if packet.is_keyframe and (out is None or (packet.dts - start) * packet.time_base >= 5):
                if out is not None:
                    out.close()
                out = av.open(str(out_dir / f"{clips:05d}.mp4"), "w", format="mp4", options=MOVFLAGS)
                stream = out.add_stream_from_template(video)
                start = packet.dts
                clips += 1
            if out is None:
                continue
            packet.dts -= start
            packet.pts = (packet.pts if packet.pts is not None else packet.dts) - start
            packet.stream = stream
            out.mux(packet)
    finally:
        if out is not None:
            out.close()
        source.close()


def main() -> None:
    out_dir = Path(sys.argv[1])
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = []
    for i, url in enumerate(sys.argv[2:]):
        cam_dir = out_dir / f"cam{i:02d}"
        cam_dir.mkdir(parents=True, exist_ok=True)
        threads.append(threading.Thread(target=record, args=(url, cam_dir, stop), daemon=True))
    for thread in threads:
        thread.start()
    while not stop.wait(0.5):
        pass
    for thread in threads:
        thread.join(10)


if __name__ == "__main__":
    main()
