"""`detector` streamer: the decoded side branch. Keyframes only by default (cheap), or every frame
down-sampled to `fps`; inference in the bounded detection pool; stale pictures dropped, never queued."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from vsnative import telemetry
from vsnative.alerters.base import Alert
from vsnative.detectors.base import DETECTORS, Detection, Detector
from vsnative.detectors.motion import MotionConfig, MotionDetector
from vsnative.detectors.onnx_yolo import OnnxYoloConfig
from vsnative.detectors.ssd import SsdConfig
from vsnative.errors import PluginError
from vsnative.media.camera_clock import filmed_by_reports
from vsnative.media.decode import FrameDecoder
from vsnative.media.fanout import Marker, Subscription
from vsnative.media.packets import EncodedPacket
from vsnative.streamers.base import STREAMERS, Streamer, StreamerContext

log = logging.getLogger(__name__)

# One visible union of every detector config; add new detector configs here.
DetectorConfig = Annotated[OnnxYoloConfig | SsdConfig | MotionConfig, Field(discriminator="type")]
Point = tuple[float, float]
INFERENCE_SAMPLES = 200  # the inference times the p50 is taken over (the latest ones)


class DetectorStreamerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["detector"] = "detector"
    detector: DetectorConfig
    fps: float | None = Field(None, gt=0, le=60, description="decode every frame, detect this often")
    maxWidth: int = Field(640, ge=64, le=3840)
    motionGate: MotionConfig | None = None
    zones: list[list[Point]] = Field(
        default_factory=list,
        description="polygons in relative coordinates (0..1, 3 points or more); a box is in a zone when its "
        "bottom centre is inside it or on its border",
    )
    minArea: float = Field(0.0, ge=0, le=1)
    minConfidence: dict[str, float] = Field(default_factory=dict)
    queuePackets: int = Field(64, ge=4)

    @field_validator("zones")
    @classmethod
    def _zones(cls, zones: list[list[Point]]) -> list[list[Point]]:
        for n, zone in enumerate(zones):
            if len(zone) < 3:
                raise ValueError(f"zone {n} has {len(zone)} points: a zone is a polygon of 3 points or more")
            for x, y in zone:
                if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                    raise ValueError(
                        f"zone {n}: point ({x:g}, {y:g}) is outside the picture (coordinates are 0..1)"
                    )
        return zones


EDGE = 1e-9  # how close to a zone's border counts as on it (relative coordinates)


def inside(point: Point, polygon: list[Point]) -> bool:
    """Is the point inside the polygon or on its border (relative coordinates)? Borders count: a box that
    touches the picture's bottom has its bottom centre at y = 1.0 exactly, on the border of a zone that
    reaches the bottom (ray casting alone is half-open and left out the bottom and right edges)."""
    x, y = point
    result = False
    j = len(polygon) - 1
    for i, (xi, yi) in enumerate(polygon):
        xj, yj = polygon[j]
        if _on_segment(x, y, xi, yi, xj, yj):
            return True
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            result = not result
        j = i
    return result


def _on_segment(x: float, y: float, x1: float, y1: float, x2: float, y2: float) -> bool:
    if abs((x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)) > EDGE:
        return False
    return min(x1, x2) - EDGE <= x <= max(x1, x2) + EDGE and min(y1, y2) - EDGE <= y <= max(y1, y2) + EDGE


def keep(detection: Detection, config: DetectorStreamerConfig) -> bool:
    """Zones (the box's bottom centre), minimum area and per-label confidence."""
    if detection.confidence < config.minConfidence.get(detection.label, 0.0):
        return False
    if detection.area < config.minArea:
        return False
    return not config.zones or any(inside(detection.bottom_centre, zone) for zone in config.zones)


@STREAMERS.register("detector")
class DetectorStreamer(Streamer):
    config_model = DetectorStreamerConfig
    config: DetectorStreamerConfig

    def __init__(self, config: DetectorStreamerConfig, context: StreamerContext) -> None:
        super().__init__(config, context)
        self.queue_packets = config.queuePackets
        self.detector: Detector = DETECTORS.get(config.detector.type)(config.detector)
        self.gate = MotionDetector(config.motionGate) if config.motionGate else None
        self.decoder: FrameDecoder | None = None
        self.pictures = 0  # pictures that went through the model
        self.stale = 0  # keyframes skipped because a newer one was waiting
        self.gated = 0  # pictures the motion gate kept from the model
        self.detections = 0
        self._next_detect = 0.0
        self._inference: collections.deque[float] = collections.deque(maxlen=INFERENCE_SAMPLES)  # seconds

    def stats(self) -> dict[str, object]:
        """What detection does, for the API and /metrics (read on the event loop; written by the pool)."""
        times = sorted(self._inference)
        return {
            "state": "disabled" if self.disabled else "running",
            "reason": self.disabled or None,
            "framesAnalysed": self.pictures,
            "inferenceP50Ms": round(times[len(times) // 2] * 1000, 2) if times else None,
            "detections": self.detections,
            "staleSkipped": self.stale,
            "motionGated": self.gated,
        }

    async def run(self, subscription: Subscription) -> None:
        loop = asyncio.get_running_loop()
        pool = self.context.detect_executor
        try:
            await loop.run_in_executor(pool, self.detector.load)
        except PluginError as exc:
            self.disabled = str(exc)
            log.error("camera %s: detector disabled: %s (recording carries on)", self.context.camera.id, exc)
            subscription.unsubscribe()
            return
        keyframes_only = self.config.fps is None
        while (item := await subscription.get()) is not None:
            if isinstance(item, Marker) or not item.is_video:
                continue
            packet = item
            if keyframes_only:
                if not packet.keyframe:
                    continue
                packet = self._newest_keyframe(subscription, packet)
            with telemetry.span("detection", {"camera.id": self.context.camera.id}):
                found = await loop.run_in_executor(pool, self._process, packet, keyframes_only)
            if found is not None:
                self._alert(packet, *found)

    def _newest_keyframe(self, subscription: Subscription, packet: EncodedPacket) -> EncodedPacket:
        """Skip keyframes that waited while the model was busy: only the newest picture matters."""
        while (queued := subscription.get_nowait()) is not None:
            if isinstance(queued, EncodedPacket) and queued.is_video and queued.keyframe:
                self.stale += 1
                packet = queued
        return packet

    def _process(
        self, packet: EncodedPacket, keyframes_only: bool
    ) -> tuple[np.ndarray, list[Detection]] | None:
        """Decode, gate, detect, filter (blocking: detection pool)."""
        if self.decoder is None or self.decoder.info is not packet.info:
            self.decoder = FrameDecoder(packet.info, self.config.maxWidth)
        image = self.decoder.decode(packet, keyframes_only)
        if image is None:
            return None
        if self.config.fps is not None:
            interval = 1.0 / self.config.fps
            if packet.wallclock + 1e-3 < self._next_detect:
                return None
            # keep the cadence (no drift), but never try to catch up on pictures already gone
            self._next_detect = max(self._next_detect + interval, packet.wallclock + interval / 2)
        if self.gate is not None and not self.gate.detect(image):
            self.gated += 1
            return None
        self.pictures += 1
        started = time.perf_counter()
        found = self.detector.detect(image)
        self._inference.append(time.perf_counter() - started)
        detections = [d for d in found if keep(d, self.config)]
        return (image, detections) if detections else None

    def _alert(self, packet: EncodedPacket, image: np.ndarray, detections: list[Detection]) -> None:
        self.detections += len(detections)
        bus = self.context.alerts
        if bus is None:
            return
        best: dict[str, Detection] = {}
        for d in detections:
            if d.label not in best or d.confidence > best[d.label].confidence:
                best[d.label] = d
        camera = self.context.camera
        filmed = filmed_by_reports(packet)  # on the clips' timeline
        for detection in best.values():
            bus.publish(Alert(camera.id, camera.name, filmed, detection, detections, image))
