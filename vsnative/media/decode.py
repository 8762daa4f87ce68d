"""Decoding for the detector branch only: compressed packets to small RGB arrays. Blocking: threads only."""

from __future__ import annotations

import av
import av.error
import numpy as np
from av.video.codeccontext import VideoCodecContext

from vsnative.media.packets import EncodedPacket, StreamInfo


class FrameDecoder:
    """Decodes one camera session's video packets; scales each picture to at most `max_width` wide."""

    def __init__(self, info: StreamInfo, max_width: int) -> None:
        video = info.video
        ctx = av.CodecContext.create(video.codec, "r")
        if not isinstance(ctx, VideoCodecContext):
            raise TypeError(f"{video.codec} is not a video codec")
        if video.extradata:
            ctx.extradata = video.extradata
        self.ctx = ctx
        self.info = info
        self.max_width = max_width

    def decode(self, packet: EncodedPacket, keyframe_only: bool) -> np.ndarray | None:
        """RGB uint8 HxWx3 of this packet's picture, or None when the decoder has no picture for it."""
        try:
            frames = self.ctx.decode(av.Packet(packet.data))
            if not frames and keyframe_only:  # a decoder with reorder delay: drain it for this keyframe
                frames = self.ctx.decode(None)
                self.ctx.flush_buffers()
        except av.error.FFmpegError:
            return None
        if not frames:
            return None
        frame = frames[-1]
        width = min(self.max_width, frame.width)
        height = max(2, round(frame.height * width / frame.width / 2) * 2)
        image: np.ndarray = frame.reformat(
            width=width, height=height, format="rgb24", interpolation="FAST_BILINEAR"
        ).to_ndarray()
        return image
