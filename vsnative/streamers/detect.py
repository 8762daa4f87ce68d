"""`detector` streamer: the decoded side branch. Keyframes only by default (cheap), or every frame
down-sampled to `fps`; inference in the bounded detection pool; stale pictures dropped, never queued."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from vsnative import telemetry
from vsnative.alerters.base import Alert, Counts
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
from vsnative.tracking import ObjectEvent, Tracker, TrackingConfig
from vsnative.zones import Zone, named_zones

log = logging.getLogger(__name__)

# One visible union of every detector config; add new detector configs here.
DetectorConfig = Annotated[OnnxYoloConfig | SsdConfig | MotionConfig, Field(discriminator="type")]
INFERENCE_SAMPLES = 200  # the inference times the p50 is taken over (the latest ones)
EXPIRE_POLL_SECONDS = 1.0  # with no picture coming, how often tracked objects are looked at (to end them)


class DetectorStreamerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["detector"] = "detector"
    detector: DetectorConfig
    fps: float | None = Field(None, gt=0, le=60, description="decode every frame, detect this often")
    maxWidth: int = Field(640, ge=64, le=3840)
    motionGate: MotionConfig | None = None
    zones: list[Zone] = Field(
        default_factory=list,
        description="polygons in relative coordinates (0..1, 3 points or more), named or not; an object is "
        "in a zone when its box's bottom centre is inside it or on its border; with zones, only objects "
        "in one become events",
    )
    minArea: float = Field(0.0, ge=0, le=1)
    minConfidence: dict[str, float] = Field(default_factory=dict)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    queuePackets: int = Field(64, ge=4)

    @field_validator("zones", mode="before")
    @classmethod
    def _zones(cls, zones: Any) -> Any:
        return named_zones(zones)


def keep(detection: Detection, config: DetectorStreamerConfig) -> bool:
    """Minimum area and per-label confidence (zones are the tracker's: objects outside are tracked, and
    become events when they enter one)."""
    if detection.confidence < config.minConfidence.get(detection.label, 0.0):
        return False
    return detection.area >= config.minArea


@STREAMERS.register("detector")
class DetectorStreamer(Streamer):
    config_model = DetectorStreamerConfig
    config: DetectorStreamerConfig

    def __init__(self, config: DetectorStreamerConfig, context: StreamerContext) -> None:
        super().__init__(config, context)
        self.queue_packets = config.queuePackets
        self.detector: Detector = DETECTORS.get(config.detector.type)(config.detector)
        self.gate = MotionDetector(config.motionGate) if config.motionGate else None
        self.tracker = Tracker(config.tracking, config.zones)
        self.decoder: FrameDecoder | None = None
        self.pictures = 0  # pictures that went through the model
        self.stale = 0  # keyframes skipped because a newer one was waiting
        self.gated = 0  # pictures the motion gate kept from the model
        self.detections = 0
        self._next_detect = 0.0
        self._inference: collections.deque[float] = collections.deque(maxlen=INFERENCE_SAMPLES)  # seconds
        self._seen_at = (0.0, 0.0)  # the latest picture decoded: (recording time, monotonic)
        self._counts: dict[str, int] = {}  # the per-label counts last sent

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
            "eventsStarted": self.tracker.started,
            "eventsEnded": self.tracker.ended,
            "objects": [o.public() for o in self.tracker.objects],
            "untracked": self.tracker.overflow,
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
        self._reset_counts()
        try:
            while True:
                try:
                    item = await asyncio.wait_for(subscription.get(), EXPIRE_POLL_SECONDS)
                except TimeoutError:
                    self._expire()
                    continue
                if item is None:
                    break
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
                    self._track(packet, *found)
        finally:  # the events still open end here: a stopped detector leaves none in progress
            self._send(self.tracker.close())

    def _reset_counts(self) -> None:
        """Say 0 for every label the detector reports (when it names them) before the first picture: the
        retained counts an agent that was killed left behind are stale (one that stops says 0 itself)."""
        labels = getattr(self.config.detector, "labels", None)
        bus = self.context.alerts
        if labels and bus is not None and bus.count(Counts(self.context.camera.id, dict.fromkeys(labels, 0))):
            self._counts = dict.fromkeys(labels, 0)

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
        """Decode, gate, detect, filter (blocking: detection pool). None: the picture was not analysed."""
        if self.decoder is None or self.decoder.info is not packet.info:
            self.decoder = FrameDecoder(packet.info, self.config.maxWidth)
        image = self.decoder.decode(packet, keyframes_only)
        if image is None:
            return None
        self._seen_at = (filmed_by_reports(packet), time.monotonic())
        if self.config.fps is not None:
            interval = 1.0 / self.config.fps
            if packet.wallclock + 1e-3 < self._next_detect:
                return None
            # keep the cadence (no drift), but never try to catch up on pictures already gone
            self._next_detect = max(self._next_detect + interval, packet.wallclock + interval / 2)
        # the gate may skip the model only while nothing moving is tracked: an object that leaves makes
        # the motion that ends its event, but the still scene after it must be looked at to see it gone
        if self.gate is not None and not self.gate.detect(image) and not self.tracker.active():
            self.gated += 1
            return None
        self.pictures += 1
        started = time.perf_counter()
        found = self.detector.detect(image)
        self._inference.append(time.perf_counter() - started)
        return image, [d for d in found if keep(d, self.config)]

    def _track(self, packet: EncodedPacket, image: np.ndarray, detections: list[Detection]) -> None:
        """One analysed picture into the tracker (on the loop; microseconds: bench/detect.py)."""
        self.detections += len(detections)
        self._send(self.tracker.update(filmed_by_reports(packet), detections, image))

    def _expire(self) -> None:
        """No picture for a while (the camera stopped sending): end the events of objects not seen since."""
        if not self.tracker.objects:
            return
        filmed, at = self._seen_at
        if time.monotonic() - at >= self.config.tracking.endSeconds:
            self._send(self.tracker.expire(filmed + time.monotonic() - at))

    def _send(self, messages: list[ObjectEvent]) -> None:
        bus = self.context.alerts
        if bus is None:
            return
        camera = self.context.camera
        for message in messages:
            bus.publish(Alert(camera.id, camera.name, message))
        counts = self.tracker.counts()
        changed = {
            label: n
            for label in {*counts, *self._counts}
            if (n := counts.get(label, 0)) != self._counts.get(label, 0)
        }
        if changed and bus.count(Counts(camera.id, changed)):
            self._counts.update(changed)
