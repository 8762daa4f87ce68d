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
from vsnative.tracking import ObjectEvent


@dataclass
class Alert:
    """One message of a detection event's life (`new`, `update`, `end`: tracking.py) on its way to the
    alerters, and what the bus learns about it."""

    camera_id: str
    camera_name: str
    event: ObjectEvent
    snapshot: str | None = None  # file path, set by the snapshot alerter (or kept from an earlier message)
    links: dict[str, str] = field(default_factory=dict)  # API URLs (snapshot, clip)

    @property
    def type(self) -> str:
        return self.event.type

    @property
    def event_id(self) -> str:
        return self.event.event_id

    @property
    def timestamp(self) -> float:
        """When the event started (recording timeline)."""
        return self.event.start

    @property
    def detection(self) -> Detection:
        """The object at its best (highest score)."""
        e = self.event
        return Detection(e.label, e.confidence, e.box)

    @property
    def image(self) -> np.ndarray | None:
        """The best picture, when it is new since the last message (the snapshot is written again)."""
        return self.event.image

    def payload(self) -> dict[str, Any]:
        """JSON for webhooks and MQTT: plain Python values only (a detector's numbers may be numpy's,
        which the JSON encoders refuse)."""
        e = self.event
        return {
            "kind": DETECTION,
            "type": e.type,
            "eventId": e.event_id,
            "objectId": int(e.object_id),
            "cameraId": self.camera_id,
            "cameraName": self.camera_name,
            "label": str(e.label),
            "confidence": round(float(e.confidence), 4),
            "box": [round(float(v), 4) for v in e.box],
            "timestamp": float(e.start),
            "start": float(e.start),
            "end": float(e.end) if e.end is not None else None,
            "duration": round(float(e.end - e.start), 3) if e.end is not None else None,
            "lastSeen": float(e.last_seen),
            "inProgress": e.end is None,
            "zones": [str(z) for z in e.zones],
            "stationary": bool(e.stationary),
            "loitering": [str(z) for z in e.loitering],
            "endReason": e.end_reason,
            **{str(k): str(v) for k, v in self.links.items()},
        }


@dataclass(frozen=True)
class Counts:
    """How many objects of each label a camera has in view (events now or earlier, stationary ones too)."""

    camera_id: str
    counts: dict[str, int]


class Alerter(ABC):
    config_model: ClassVar[type[BaseModel]]

    def __init__(self, config: Any, recordings_dir: Any) -> None:
        self.config = config
        self.recordings_dir = recordings_dir
        self.part: Part | None = None  # its state in the agent's API answer, when an agent runs it

    @abstractmethod
    async def send(self, alert: Alert) -> None:
        """Deliver the alert; must not raise for delivery failures (log and count them instead)."""

    async def count(self, counts: Counts) -> None:  # noqa: B027 - optional: only MQTT keeps counts
        """The objects in view per label changed (labels now absent are in it as 0)."""

    async def notify(self, notice: Notice) -> None:  # noqa: B027 - optional: a snapshot has no health event
        """Deliver a camera health event (camera_offline...), under the same rules as `send`. A notice
        with `announce` False is state only (the first availability of a camera): no event."""

    async def close(self) -> None:  # noqa: B027 - optional hook: most alerters hold nothing
        """Release connections."""


ALERTERS: Registry[Alerter] = Registry("alerter")
