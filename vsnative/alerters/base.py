"""Alerter plugin kind and the alert value they receive."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from vsnative.detectors.base import Detection
from vsnative.health_events import DETECTION, Notice
from vsnative.parts import Part
from vsnative.registry import Registry


@dataclass
class Alert:
    """One alert: the best detection of a label in one picture, and what the bus learns about it."""

    camera_id: str
    camera_name: str
    timestamp: float  # wall clock of the picture
    detection: Detection
    detections: list[Detection]  # everything found in that picture, for drawing
    image: np.ndarray | None = field(default=None, repr=False)
    event_id: str | None = None
    snapshot: str | None = None  # file path, set by the snapshot alerter
    links: dict[str, str] = field(default_factory=dict)  # API URLs (snapshot, clip)

    def payload(self) -> dict[str, Any]:
        """JSON for webhooks and MQTT: plain Python values only (a detector's numbers may be numpy's,
        which the JSON encoders refuse)."""
        d = self.detection
        return {
            "kind": DETECTION,
            "eventId": self.event_id,
            "cameraId": self.camera_id,
            "cameraName": self.camera_name,
            "label": str(d.label),
            "confidence": round(float(d.confidence), 4),
            "box": [round(float(v), 4) for v in d.box],
            "timestamp": float(self.timestamp),
            **{str(k): str(v) for k, v in self.links.items()},
        }


class Alerter(ABC):
    config_model: ClassVar[type[BaseModel]]

    def __init__(self, config: Any, recordings_dir: Any) -> None:
        self.config = config
        self.recordings_dir = recordings_dir
        self.part: Part | None = None  # its state in the agent's API answer, when an agent runs it

    @abstractmethod
    async def send(self, alert: Alert) -> None:
        """Deliver the alert; must not raise for delivery failures (log and count them instead)."""

    async def notify(self, notice: Notice) -> None:  # noqa: B027 - optional: a snapshot has no health event
        """Deliver a camera health event (camera_offline...), under the same rules as `send`. A notice
        with `announce` False is state only (the first availability of a camera): no event."""

    async def close(self) -> None:  # noqa: B027 - optional hook: most alerters hold nothing
        """Release connections."""


ALERTERS: Registry[Alerter] = Registry("alerter")
