"""Synthetic camera (`framerType: random`): a moving test pattern encoded to H.264 at real-time pace."""

from __future__ import annotations

import time
import zlib
from fractions import Fraction

import av
import numpy as np
from av.video.codeccontext import VideoCodecContext
from pydantic import BaseModel, ConfigDict, Field

from vsnative.errors import StreamError, StreamFailure
from vsnative.framers.base import FRAMERS, Framer, FramerSession
from vsnative.media.packets import EncodedPacket, MediaTrack, StreamInfo


class SyntheticFramerConfig(BaseModel):
    """Options of the synthetic framer (settings/pipeline.json, `framers.random`)."""

    model_config = ConfigDict(extra="forbid")

    width: int = Field(640, ge=64, le=3840, multiple_of=2)
    height: int = Field(360, ge=64, le=2160, multiple_of=2)
    fps: int = Field(15, ge=1, le=60)
    gopSeconds: float = Field(2.0, gt=0, le=60)
    bitrate: int = Field(800_000, ge=50_000)


class SyntheticSession(FramerSession):
    """Encodes one frame per 1/fps of wall time with PyAV's bundled libx264 (no B-frames)."""

    def __init__(self, camera_id: str, config: SyntheticFramerConfig, session: int) -> None:
        self.config = config
        w, h = config.width, config.height
        encoder = av.CodecContext.create("libx264", "w")
        if not isinstance(encoder, VideoCodecContext):
            raise TypeError("libx264 did not give a video encoder")
        self.encoder = encoder
        self.encoder.width, self.encoder.height = w, h
        self.encoder.pix_fmt = "yuv420p"
        self.encoder.time_base = Fraction(1, config.fps)
        self.encoder.framerate = Fraction(config.fps)
        self.encoder.bit_rate = config.bitrate
        self.encoder.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "g": str(max(1, round(config.fps * config.gopSeconds))),
            "keyint_min": str(max(1, round(config.fps * config.gopSeconds))),
            "sc_threshold": "0",
            "bf": "0",
        }
        self.encoder.open()
        hue = zlib.crc32(camera_id.encode())
        self._y = np.tile(np.linspace(40, 200, w, dtype=np.uint8), (h, 1))
        # yuv420p as one array: h rows of Y, then U and V (each h/2 x w/2) packed as h/4 rows of w.
        self._uv = np.empty((h // 2, w), dtype=np.uint8)
        self._uv[: h // 4] = 64 + hue % 128
        self._uv[h // 4 :] = 64 + (hue >> 8) % 128
        track = MediaTrack(
            index=0, kind="video", codec="h264", time_base=self.encoder.time_base, width=w, height=h
        )
        self.info = StreamInfo(session=session, tracks=(track,), opened_at=time.time())
        self._t0 = time.monotonic()
        self._frame = 0
        self._pending: list[EncodedPacket] = []

    def _picture(self, n: int) -> av.VideoFrame:
        w, h = self.config.width, self.config.height
        y = self._y.copy()
        x = (n * 4) % (w - 32)
        y[:, x : x + 32] = 235
        row = (n * 2) % (h - 16)
        y[row : row + 16, :] = 16
        return av.VideoFrame.from_ndarray(np.concatenate([y, self._uv]), format="yuv420p")

    def read(self) -> EncodedPacket | None:
        if self._pending:
            return self._pending.pop(0)
        due = self._t0 + self._frame / self.config.fps
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        frame = self._picture(self._frame)
        frame.pts = self._frame
        frame.time_base = self.encoder.time_base
        self._frame += 1
        try:
            packets = self.encoder.encode(frame)
        except av.error.FFmpegError as exc:
            raise StreamError(StreamFailure.MALFORMED, f"synthetic encoder failed: {exc}") from exc
        now = time.time()
        for packet in packets:
            if packet.pts is None:
                continue
            self._pending.append(
                EncodedPacket(
                    info=self.info,
                    track=0,
                    data=bytes(packet),
                    pts=packet.pts,
                    dts=packet.dts if packet.dts is not None else packet.pts,
                    keyframe=bool(packet.is_keyframe),
                    wallclock=now,
                    duration=1,
                )
            )
        return self._pending.pop(0) if self._pending else None

    def close(self) -> None:
        self._pending.clear()


@FRAMERS.register("random")
class SyntheticFramer(Framer):
    """A camera that needs no network: `framerType: random` in cameras.json (as in vs-go's sample)."""

    config_model = SyntheticFramerConfig
    config: SyntheticFramerConfig

    @property
    def stall_seconds(self) -> float:
        return 10.0

    def open(self, session: int) -> FramerSession:
        return SyntheticSession(self.camera.id, self.config, session)
