"""Real H.264 packets for unit tests, encoded with PyAV's bundled libx264 (no pacing)."""

from __future__ import annotations

import time
from fractions import Fraction

import av
import numpy as np

from vsnative.media.packets import EncodedPacket, MediaTrack, StreamInfo


def h264_packets(
    frames: int,
    fps: int = 25,
    gop: int = 50,
    size: tuple[int, int] = (320, 240),
    session: int = 1,
    start_wallclock: float = 1_800_000_000.0,
) -> list[EncodedPacket]:
    """`frames` packets of a moving pattern, a keyframe every `gop` frames, timestamps in 1/90000."""
    width, height = size
    enc = av.CodecContext.create("libx264", "w")
    assert isinstance(enc, av.video.codeccontext.VideoCodecContext)
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = Fraction(1, fps)
    enc.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "g": str(gop),
        "keyint_min": str(gop),
        "sc_threshold": "0",
        "bf": "0",
    }
    enc.open()
    tb = Fraction(1, 90000)
    track = MediaTrack(index=0, kind="video", codec="h264", time_base=tb, width=width, height=height)
    info = StreamInfo(session=session, tracks=(track,), opened_at=start_wallclock)
    step = 90000 // fps
    out: list[EncodedPacket] = []
    for i in range(frames + 1):
        img = np.full((height, width, 3), 40, np.uint8)
        img[:, (i * 3) % (width - 10) :][:, :10] = 250
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = i
        for p in enc.encode(frame) if i < frames else enc.encode(None):
            assert p.pts is not None
            out.append(
                EncodedPacket(
                    info=info,
                    track=0,
                    data=bytes(p),
                    pts=p.pts * step,
                    dts=p.pts * step,
                    keyframe=bool(p.is_keyframe),
                    wallclock=start_wallclock + p.pts / fps,
                )
            )
    return out


def shifted(packets: list[EncodedPacket], ticks: int, info: StreamInfo | None = None) -> list[EncodedPacket]:
    """The same packets with timestamps moved (and optionally from another session)."""
    return [p._replace(pts=p.pts + ticks, dts=p.dts + ticks, info=info or p.info) for p in packets]


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B access unit, without start codes (trailing zero bytes belong to the
    next unit's 4-byte start code)."""
    return [unit.rstrip(b"\x00") for unit in data.split(b"\x00\x00\x01")[1:] if unit]


def now() -> float:
    return time.time()
