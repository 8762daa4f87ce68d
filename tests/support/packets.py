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
    bframes: int = 0,
    audio: MediaTrack | None = None,
) -> list[EncodedPacket]:
    """`frames` packets of a moving pattern, a keyframe every `gop` frames, timestamps in 1/90000 (with
    `bframes`, decode order and composition offsets as the encoder gives them). With an `audio` track the
    StreamInfo has it too (the packets of it are made by `g711_packets`)."""
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
        "bf": str(bframes),
    }
    enc.open()
    tb = Fraction(1, 90000)
    track = MediaTrack(index=0, kind="video", codec="h264", time_base=tb, width=width, height=height)
    tracks = (track,) if audio is None else (track, audio)
    info = StreamInfo(session=session, tracks=tracks, opened_at=start_wallclock)
    step = 90000 // fps
    out: list[EncodedPacket] = []
    for i in range(frames + 1):
        img = np.full((height, width, 3), 40, np.uint8)
        img[:, (i * 3) % (width - 10) :][:, :10] = 250
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = i
        for p in enc.encode(frame) if i < frames else enc.encode(None):
            assert p.pts is not None
            dts = p.dts if p.dts is not None else p.pts
            out.append(
                EncodedPacket(
                    info=info,
                    track=0,
                    data=bytes(p),
                    pts=p.pts * step,
                    dts=dts * step,
                    keyframe=bool(p.is_keyframe),
                    wallclock=start_wallclock + dts / fps,
                )
            )
    return out


G711 = MediaTrack(
    index=1, kind="audio", codec="pcm_mulaw", time_base=Fraction(1, 8000), sample_rate=8000, channels=1
)
G711_SAMPLES = 1024  # a packet of 128 ms, as GStreamer's payloader and many cameras send


def g711_packets(
    info: StreamInfo, seconds: float, start_wallclock: float = 1_800_000_000.0
) -> list[EncodedPacket]:
    """µ-law packets of a 440 Hz tone (track 1 of `info`), 1024 samples each."""
    enc = av.CodecContext.create("pcm_mulaw", "w")
    assert isinstance(enc, av.audio.codeccontext.AudioCodecContext)
    enc.sample_rate, enc.layout, enc.format = 8000, "mono", "s16"
    enc.open()
    out: list[EncodedPacket] = []
    for i in range(int(seconds * 8000 / G711_SAMPLES)):
        t = (np.arange(G711_SAMPLES) + i * G711_SAMPLES) / 8000
        samples = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate, frame.pts = 8000, i * G711_SAMPLES
        for p in enc.encode(frame):
            pts = i * G711_SAMPLES
            out.append(
                EncodedPacket(info, 1, bytes(p), pts, pts, True, start_wallclock + pts / 8000, G711_SAMPLES)
            )
    return out


def interleaved(video: list[EncodedPacket], audio: list[EncodedPacket]) -> list[EncodedPacket]:
    """Video and audio packets in the order a camera sends them (by wall clock)."""
    return sorted([*video, *audio], key=lambda p: p.wallclock)


def shifted(packets: list[EncodedPacket], ticks: int, info: StreamInfo | None = None) -> list[EncodedPacket]:
    """The same packets with timestamps moved (and optionally from another session)."""
    return [p._replace(pts=p.pts + ticks, dts=p.dts + ticks, info=info or p.info) for p in packets]


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B access unit, without start codes (trailing zero bytes belong to the
    next unit's 4-byte start code)."""
    return [unit.rstrip(b"\x00") for unit in data.split(b"\x00\x00\x01")[1:] if unit]


def now() -> float:
    return time.time()
