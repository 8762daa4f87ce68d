"""The camera's latest picture as a JPEG (`GET /api/cameras/{id}/snapshot.jpg`): the router's latest video
keyframe, decoded when someone asks, at most once per keyframe (requests until the next keyframe get the
same JPEG; requests during the decode wait for it), so a grid of 16 cameras refreshed every few seconds
costs one keyframe decode per camera per refresh at most, and nothing while nobody looks. Pictures are
scaled to `MAX_WIDTH`: a grid tile, not the full 4K frame."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor

import av

from vsnative.alerters.draw import encode_jpeg
from vsnative.media.decode import FrameDecoder
from vsnative.media.packets import EncodedPacket

log = logging.getLogger(__name__)
MAX_WIDTH = 640
QUALITY = 5  # mjpeg quantiser (2 best .. 31): ~30-60 KB for a 640x360 picture


class LatestPicture:
    """One camera's. On the event loop; the decode in `executor`."""

    def __init__(
        self, camera_id: str, latest: Callable[[], EncodedPacket | None], max_width: int = MAX_WIDTH
    ) -> None:
        self.camera_id = camera_id
        self.latest = latest  # the newest keyframe (the router's)
        self.max_width = max_width
        self.decodes = 0  # keyframes decoded (a figure for tests and /api/agents)
        self.failures = 0  # keyframes that did not decode
        self._failing = False  # the last decode failed: a run of failures is logged once, at its start
        self._done: tuple[EncodedPacket, bytes | None] | None = None
        self._pending: tuple[EncodedPacket, asyncio.Future[bytes | None]] | None = None

    async def jpeg(self, executor: Executor | None) -> tuple[EncodedPacket, bytes] | None:
        """The latest keyframe and its JPEG; None before the first keyframe or when it does not decode."""
        packet = self.latest()
        if packet is None:
            return None
        if self._done is not None and self._done[0] is packet:
            data = self._done[1]
            return (packet, data) if data is not None else None
        if self._pending is None or self._pending[0] is not packet:
            future = asyncio.get_running_loop().run_in_executor(executor, self._decode, packet)
            self._pending = (packet, future)
        pending = self._pending[1]
        data = await asyncio.shield(pending)  # a request that goes away leaves the decode to the others
        if self._pending is not None and self._pending[1] is pending:
            self._pending = None
            self._done = (packet, data)
        return (packet, data) if data is not None else None

    def _decode(self, packet: EncodedPacket) -> bytes | None:
        """Blocking (a worker thread). None, counted, when the keyframe gives no picture."""
        self.decodes += 1
        try:
            image = FrameDecoder(packet.info, self.max_width).decode(packet, True)
            data = encode_jpeg(image, QUALITY) if image is not None else None
        except (
            av.error.FFmpegError,
            ValueError,
        ) as exc:  # a codec PyAV cannot open, a picture it cannot encode
            data, why = None, str(exc)
        else:
            why = "the decoder gave no picture"
        if data is None:
            self.failures += 1
            if not self._failing:
                log.warning(
                    "camera %s: its latest keyframe gives no picture for snapshot.jpg (%s); the grid shows "
                    "a placeholder; further failures are counted (snapshots.failures in /api/agents), not "
                    "logged",
                    self.camera_id,
                    why,
                )
        elif self._failing:
            log.info("camera %s: snapshot.jpg pictures again", self.camera_id)
        self._failing = data is None
        return data
