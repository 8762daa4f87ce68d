"""RTSP framer: PyAV demuxes the camera's stream (TCP or UDP) without decoding anything."""

from __future__ import annotations

import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any, Literal

import av
import av.error
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.packet import Packet
from pydantic import BaseModel, ConfigDict, Field

from vsnative.errors import StreamError, StreamFailure
from vsnative.framers.base import FRAMERS, Framer, FramerSession
from vsnative.log import redact
from vsnative.media.access_units import AccessUnits
from vsnative.media.audio import CONVERTED, RECORDABLE, names
from vsnative.media.packets import (
    VIDEO_CODECS,
    CodecTemplate,
    EncodedPacket,
    MediaTrack,
    StreamInfo,
    annexb_extradata,
)

DEFAULT_FPS = 25  # the frame rate assumed until the stream shows its own (it fills in missing timestamps)


class RtspFramerConfig(BaseModel):
    """Options of the `rtsp` framer (settings/pipeline.json, `framers.rtsp`)."""

    model_config = ConfigDict(extra="forbid")

    transport: Literal["tcp", "udp"] = "tcp"
    openTimeoutSeconds: float = Field(10.0, gt=0)
    readTimeoutSeconds: float = Field(5.0, gt=0)
    stallSeconds: float = Field(10.0, gt=0)
    recordAudio: bool = True


def classify(exc: BaseException, safe_url: str) -> StreamError:
    """Map a PyAV/OS error to a StreamError whose message holds no credentials."""
    text = redact(str(exc))
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        failure = StreamFailure.UNAUTHORIZED
    elif isinstance(exc, av.error.HTTPNotFoundError):
        failure = StreamFailure.NOT_FOUND
    elif isinstance(exc, av.error.InvalidDataError | av.error.PatchWelcomeError):
        failure = StreamFailure.MALFORMED
    elif isinstance(exc, av.error.EOFError):
        failure = StreamFailure.ENDED
    else:
        failure = StreamFailure.UNREACHABLE
    return StreamError(failure, f"{safe_url}: {text}")


def usable_audio(stream: AudioStream) -> bool:
    """An audio track the clips can keep or convert (AAC only with its configuration from the SDP)."""
    name = stream.codec_context.name
    return name in RECORDABLE and (name != "aac" or bool(stream.codec_context.extradata))


def audio_names(streams: list[AudioStream]) -> str:
    return ", ".join(f"{names(s.codec_context.name)} audio" for s in streams)


class RtspSession(FramerSession):
    def __init__(
        self,
        container: InputContainer,
        info: StreamInfo,
        source_index: dict[int, int],
        frame_ticks: int,
        camera: str = "",
    ) -> None:
        self.container = container
        self.info = info
        self._track_of = source_index
        self._video = next(i for i, track in source_index.items() if info.tracks[track].kind == "video")
        video = info.video_index
        parameter_sets = annexb_extradata(info.video.extradata, info.video.codec)
        self._units = AccessUnits(info, video, frame_ticks, parameter_sets, camera)
        self._ready = self._units.ready
        self._last_dts: dict[int, int] = {}
        streams = [container.streams[i] for i in source_index]
        self._packets: Iterator[Packet[Any]] = container.demux(*streams)
        self._closed = False
        self._reports_pending = True  # until FFmpeg maps the camera's first RTCP sender report

    @property
    def lost(self) -> int:
        return self._units.lost

    def read(self) -> EncodedPacket | None:
        """The next whole picture or audio packet, or None while a picture is not complete yet (this runs
        per packet of every camera: kept lean)."""
        ready = self._ready
        if ready:
            return ready.popleft()
        try:
            packet = next(self._packets)
        except StopIteration:
            self._units.flush()
            if ready:
                return ready.popleft()
            raise StreamError(StreamFailure.ENDED, "the camera closed the stream") from None
        except av.error.FFmpegError as exc:
            raise classify(exc, "stream") from exc
        source = packet.stream_index
        if not packet.size:
            return None
        if source == self._video:
            if self._reports_pending:
                self._sender_reports()
            self._units.push(bytes(packet), packet.pts, packet.dts, time.time(), packet.duration or 0)
            return ready.popleft() if ready else None
        track = self._track_of.get(source)
        if track is None:
            return None
        dts = packet.dts
        if dts is None:
            dts = packet.pts
            if dts is None:  # the first packet after connecting can lack timestamps
                last = self._last_dts.get(track)
                dts = 0 if last is None else last + 1
        self._last_dts[track] = dts
        pts = packet.pts
        return EncodedPacket(
            self.info,
            track,
            bytes(packet),
            dts if pts is None else pts,
            dts,
            True,  # every audio packet can start a clip's audio
            time.time(),
            packet.duration or 0,
        )

    def _sender_reports(self) -> None:
        """FFmpeg sets `start_time_realtime` (microseconds, the wall-clock time of pts 0) from the first
        RTCP sender report, a moment after the first packets: looked at until it is there."""
        realtime = self.container.start_time_realtime
        if realtime is not None and realtime > 0:
            self.info.reports.start = realtime / 1_000_000
            self._reports_pending = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.container.close()


@FRAMERS.register("rtsp")
class RtspFramer(Framer):
    """Pulls H.264/H.265 (and AAC audio, when present) from an RTSP camera."""

    config_model = RtspFramerConfig
    config: RtspFramerConfig

    @property
    def stall_seconds(self) -> float:
        return self.config.stallSeconds

    def open(self, session: int) -> FramerSession:
        url = self.camera.url
        safe_url = self.camera.safe_url
        if not url.lower().startswith(("rtsp://", "rtsps://")):
            raise StreamError(StreamFailure.UNREACHABLE, f"rtspUrl {safe_url!r} is not an rtsp:// URL")
        options = {
            "rtsp_transport": self.config.transport,
            "analyzeduration": "0",
            "probesize": "32768",
            "allowed_media_types": "video+audio",
            # Read timeout in FFmpeg's own socket code: PyAV's read timeout takes the GIL in an interrupt
            # callback on every socket poll, which costs dearly with dozens of cameras in one process.
            "timeout": str(int(self.config.readTimeoutSeconds * 1_000_000)),
        }
        try:
            container = av.open(url, options=options, timeout=(self.config.openTimeoutSeconds, None))
        except av.error.FFmpegError as exc:
            raise classify(exc, safe_url) from exc
        except OSError as exc:
            raise StreamError(StreamFailure.UNREACHABLE, f"{safe_url}: {redact(str(exc))}") from exc
        try:
            info, source_index = self._describe(container, session)
            video = container.streams[next(iter(source_index))]
            rate = video.guessed_rate or video.average_rate or DEFAULT_FPS
            frame_ticks = max(1, round(1 / (rate * info.video.time_base)))
        except BaseException:
            container.close()
            raise
        return RtspSession(container, info, source_index, frame_ticks, self.camera.id)

    def _describe(self, container: InputContainer, session: int) -> tuple[StreamInfo, dict[int, int]]:
        video = next((s for s in container.streams.video if s.codec_context.name in VIDEO_CODECS), None)
        if video is None:
            found = ", ".join(s.codec_context.name for s in container.streams if s.codec_context) or "none"
            raise StreamError(StreamFailure.UNSUPPORTED, f"no H.264/H.265 video track (found: {found})")
        ctx = video.codec_context
        tracks = [
            MediaTrack(
                index=0,
                kind="video",
                codec=ctx.name,
                time_base=video.time_base or Fraction(1, 90000),
                width=ctx.width,
                height=ctx.height,
                extradata=bytes(ctx.extradata or b""),
                template=CodecTemplate(video),
            )
        ]
        source_index = {video.index: 0}
        left_out = ""
        streams = list(container.streams.audio)
        if streams and not self.config.recordAudio:
            left_out = f"{audio_names(streams)} left out (recordAudio is false)"
        elif streams:
            audio = next((s for s in streams if usable_audio(s)), None)
            if audio is None:
                left_out = (
                    f"{audio_names(streams)} left out: vsnative keeps AAC and Opus and converts G.711 "
                    "(AAC needs its configuration in the camera's SDP)"
                )
            else:
                actx = audio.codec_context
                tracks.append(
                    MediaTrack(
                        index=1,
                        kind="audio",
                        codec=actx.name,
                        time_base=audio.time_base or Fraction(1, actx.sample_rate or 90000),
                        sample_rate=actx.sample_rate,
                        channels=actx.channels,
                        extradata=bytes(actx.extradata or b""),
                        # G.711 is converted for the clips: MP4 has no stream to copy it into
                        template=None if actx.name in CONVERTED else CodecTemplate(audio),
                    )
                )
                source_index[audio.index] = 1
        info = StreamInfo(
            session=session, tracks=tuple(tracks), opened_at=time.time(), audio_left_out=left_out
        )
        return info, source_index
