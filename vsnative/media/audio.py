"""What becomes of a camera's audio: kept in the clips as it is, converted to AAC for them, relayed to live
viewers; and the converter (the only place audio is decoded and encoded: video never is).

Most IP cameras send G.711 (PCMU/PCMA, 8 kHz), which MP4 cannot carry: the clips get it as AAC (decoded
and encoded by PyAV in the recorder's mux thread; 1024-sample frames at the camera's sample rate, so the
AAC track keeps the G.711 track's timestamps). AAC and Opus go into the clips as they are. Live view
relays G.711 and Opus as they are (WebRTC codecs); AAC is not a WebRTC codec and is not relayed.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import replace
from fractions import Fraction

import av
import av.error
from av.audio.codeccontext import AudioCodecContext
from av.audio.resampler import AudioResampler
from av.container import OutputContainer

from vsnative.media.packets import CodecTemplate, EncodedPacket, MediaTrack

log = logging.getLogger(__name__)
KEPT = frozenset({"aac", "opus"})  # MP4 carries them as they are
CONVERTED = frozenset({"pcm_mulaw", "pcm_alaw"})  # G.711: MP4 cannot carry it; the clips get AAC
RECORDABLE = KEPT | CONVERTED
RELAYED = {"pcm_mulaw": "audio/PCMU", "pcm_alaw": "audio/PCMA", "opus": "audio/opus"}  # WebRTC codecs
AAC_BITRATE = 24_000  # mono speech from a camera microphone; at 8 kHz the encoder allows up to 48 kb/s


def names(codec: str) -> str:
    return {"pcm_mulaw": "G.711 µ-law", "pcm_alaw": "G.711 A-law", "aac": "AAC", "opus": "Opus"}.get(
        codec, codec
    )


def describe(track: MediaTrack | None, left_out: str = "") -> str:
    """One line for the log: the camera's audio and what the clips and live view get of it."""
    if track is None:
        return f"audio: {left_out or 'none'}"
    what = f"audio {names(track.codec)} {track.sample_rate} Hz"
    clips = "kept in clips" if track.codec in KEPT else "converted to AAC in clips (MP4 cannot carry it)"
    if track.codec in RELAYED:
        live = "relayed as is to live view"
    else:
        live = f"not relayed to live view ({names(track.codec)} is not a WebRTC codec)"
    return f"{what}: {clips}, {live}"


class AacConverter:
    """Decodes one session's audio track and encodes it to AAC for the clips (blocking: the mux thread).

    `track` is what the clips hold instead of the camera's track; `convert` turns a camera packet into
    the AAC packets that are ready (timestamps in the same time base, 1/sample_rate)."""

    def __init__(self, source: MediaTrack) -> None:
        rate = source.sample_rate or 8000
        layout = "mono" if source.channels <= 1 else "stereo"
        decoder = av.CodecContext.create(source.codec, "r")
        if not isinstance(decoder, AudioCodecContext):
            raise TypeError(f"{source.codec} is not an audio codec")
        decoder.sample_rate = rate
        decoder.layout = layout
        self._decoder = decoder
        self._holder: OutputContainer = av.open(io.BytesIO(), "w", format="mp4")
        stream = self._holder.add_stream("aac", rate=rate)
        encoder = stream.codec_context
        if not isinstance(encoder, AudioCodecContext):
            raise TypeError("no AAC encoder")
        encoder.layout = layout
        encoder.bit_rate = AAC_BITRATE
        encoder.time_base = Fraction(1, rate)
        encoder.options = {"aac_coder": "fast"}
        encoder.open()
        self._holder.start_encoding()  # copies the opened encoder's parameters (mono, extradata) to the
        # stream the clips' audio streams are made from
        self._encoder = encoder
        self._layout, self._rate = layout, rate
        self._resampler = self._new_resampler()
        self._next_pts: int | None = None
        self._last: EncodedPacket | None = None  # the last camera packet converted (what AAC packets copy)
        self.track = replace(
            source,
            codec="aac",
            time_base=Fraction(1, rate),
            extradata=bytes(encoder.extradata or b""),
            template=CodecTemplate(stream),
        )
        self.failures = 0

    def _new_resampler(self) -> AudioResampler:
        """Float planar frames of exactly the encoder's frame size (1024 samples), timestamps kept."""
        return AudioResampler(
            format="fltp", layout=self._layout, rate=self._rate, frame_size=self._encoder.frame_size
        )

    def convert(self, packet: EncodedPacket) -> list[EncodedPacket]:
        """The AAC packets ready after this camera packet (none while a frame is being filled)."""
        self._last = packet
        out: list[EncodedPacket] = []
        try:
            raw = av.Packet(packet.data)
            raw.pts = raw.dts = packet.pts
            raw.time_base = packet.time_base
            for frame in self._decoder.decode(raw):
                if self._next_pts is not None and frame.pts is not None and frame.pts != self._next_pts:
                    # a hole or a jump in the camera's audio: what was buffered goes, timing restarts
                    self._resampler = self._new_resampler()
                self._next_pts = None if frame.pts is None else frame.pts + frame.samples
                for chunk in self._resampler.resample(frame):
                    self._encode(chunk, packet, out)
        except av.error.FFmpegError as exc:  # one bad packet: a moment of silence, counted and logged once
            self.failures += 1
            if self.failures == 1:
                log.warning("audio conversion to AAC failed (%s); the clips lose that moment of audio", exc)
        return out

    def flush(self) -> list[EncodedPacket]:
        """The session ended: the AAC packets the encoder still holds (its last quarter second)."""
        out: list[EncodedPacket] = []
        last = self._last
        if last is None:
            return out
        self._last = None
        with contextlib.suppress(av.error.FFmpegError):
            for chunk in self._resampler.resample(None):
                self._encode(chunk, last, out)
            self._encode(None, last, out)
        return out

    def _encode(self, chunk: av.AudioFrame | None, packet: EncodedPacket, out: list[EncodedPacket]) -> None:
        for encoded in self._encoder.encode(chunk):
            if encoded.pts is not None:
                out.append(
                    packet._replace(
                        data=bytes(encoded),
                        pts=encoded.pts,
                        dts=encoded.dts if encoded.dts is not None else encoded.pts,
                        duration=encoded.duration or 0,
                    )
                )
