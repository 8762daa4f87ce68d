"""Camera health events, first-class beside detections: what a person must know about a camera that the
detections never say.

- `camera_offline` / `camera_online`: the camera stopped (started again) sending video, debounced
  (`health.offlineAfterSeconds` / `onlineAfterSeconds` in pipeline.json), so a reconnect of a second or two
  says nothing. The first time an agent sees its camera stream is not an event (nothing changed for the
  person), but it sets the MQTT availability.
- `recording_stalled` / `recording_resumed`: video comes in but no clip closes within the recorder's deadline
  (clipSeconds + one GOP + a margin): the failure frigate#18063 describes, where live view still works.
  While the camera is offline only `camera_offline` is said (recording stops with it).
- `detector_failed`: the detector raised or turned itself off; one event per failure spell (a detector that
  crash-loops says it once, again only after it ran for a minute).
- `storage_low`: after a retention sweep, the recordings disk still has less than `minFreeBytes` free.
- `retention_forced`: clips were deleted before their age because of space (maxBytes or minFreeBytes);
  at most one event per camera per hour, with the counts since the last one.

A `Notice` is what the watches produce; the alert bus stores it in the events store (kind, message) and
sends it to the webhook and MQTT alerters.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vsnative.parts import Part, PartState

DETECTION = "detection"  # the kind of a detector's event
DETECTOR_RECOVERED_SECONDS = 60.0  # a detector that ran this long again may say detector_failed again
RETENTION_NOTICE_SECONDS = 3600.0  # retention_forced at most this often per camera


class HealthKind(enum.StrEnum):
    CAMERA_OFFLINE = "camera_offline"
    CAMERA_ONLINE = "camera_online"
    RECORDING_STALLED = "recording_stalled"
    RECORDING_RESUMED = "recording_resumed"
    DETECTOR_FAILED = "detector_failed"
    STORAGE_LOW = "storage_low"
    RETENTION_FORCED = "retention_forced"


EVENT_KINDS = frozenset({DETECTION, *HealthKind})


class HealthConfig(BaseModel):
    """When a camera is said to be offline or online again (settings/pipeline.json, `health`)."""

    model_config = ConfigDict(extra="forbid")

    offlineAfterSeconds: float = Field(30.0, gt=0, description="no video this long: camera_offline")
    onlineAfterSeconds: float = Field(5.0, ge=0, description="video this long again: camera_online")


@dataclass
class Notice:
    """One health event on its way to the events store and the alerters."""

    kind: HealthKind
    camera_id: str | None  # None: the whole service (storage_low)
    message: str
    timestamp: float = field(default_factory=time.time)
    camera_name: str = ""
    announce: bool = True  # False: no event, only state (the MQTT availability of a camera first seen)
    event_id: str | None = None

    @property
    def online(self) -> bool | None:
        """The camera's availability this notice sets (None: it says nothing about it)."""
        return {HealthKind.CAMERA_ONLINE: True, HealthKind.CAMERA_OFFLINE: False}.get(self.kind)

    def payload(self) -> dict[str, Any]:
        """JSON for webhooks and MQTT (plain values only)."""
        return {
            "kind": self.kind.value,
            "eventId": self.event_id,
            "cameraId": self.camera_id,
            "cameraName": self.camera_name,
            "message": self.message,
            "timestamp": float(self.timestamp),
        }


class CameraWatch:
    """One camera's health events, from what its agent sees once a second (`observe`). Not thread-safe:
    the agent's event loop calls it."""

    def __init__(self, camera_id: str, camera_name: str, config: HealthConfig, now: float) -> None:
        self.camera_id = camera_id
        self.camera_name = camera_name
        self.config = config
        self.online: bool | None = None  # as announced; None until the first debounce has passed
        self._streaming = False  # as last observed
        self._flipped_at = now  # monotonic: when the observed state last changed (or the watch started)
        self._stalled = False  # recording_stalled said, recording_resumed not yet
        self._detector_failed = False  # detector_failed said for the current failure spell
        self._detector_ok_since: float | None = None
        self._detector_failures = 0  # the detector's failure count at the last look

    def observe(
        self,
        now: float,
        streaming: bool,
        recording_ok: bool | None,
        reason: str = "",
        detector: Part | None = None,
    ) -> list[Notice]:
        """What changed, as notices. `now` is monotonic; `streaming`: video packets arrive; `recording_ok`:
        the recorder closed a clip within its deadline (None without a recorder); `reason`: why the
        stream failed, as a person reads it."""
        notices: list[Notice] = []
        if streaming != self._streaming:
            self._streaming, self._flipped_at = streaming, now
        held = now - self._flipped_at
        if not streaming and self.online is not False and held >= self.config.offlineAfterSeconds:
            self.online = False
            since = time.time() - held
            notices.append(
                self._notice(HealthKind.CAMERA_OFFLINE, reason or "no video from the camera", since)
            )
        elif streaming and self.online is not True and held >= self.config.onlineAfterSeconds:
            first = self.online is None
            self.online = True
            notices.append(self._notice(HealthKind.CAMERA_ONLINE, "video is back", announce=not first))
        if streaming and self.online and recording_ok is not None:
            if not recording_ok and not self._stalled:
                self._stalled = True
                notices.append(
                    self._notice(HealthKind.RECORDING_STALLED, "video comes in but no clip closes")
                )
            elif recording_ok and self._stalled:
                self._stalled = False
                notices.append(self._notice(HealthKind.RECORDING_RESUMED, "clips close again"))
        if detector is not None:
            notices += self._watch_detector(now, detector)
        return notices

    def _watch_detector(self, now: float, detector: Part) -> list[Notice]:
        # by its failure count too: a detector that failed and was restarted between two looks has failed
        failed_since = detector.failures > self._detector_failures
        self._detector_failures = detector.failures
        if failed_since or detector.state in (PartState.FAILED, PartState.DISABLED):
            self._detector_ok_since = None
            if self._detector_failed:
                return []
            self._detector_failed = True
            if detector.state == PartState.DISABLED:
                return [
                    self._notice(HealthKind.DETECTOR_FAILED, f"the detector is disabled: {detector.reason}")
                ]
            return [self._notice(HealthKind.DETECTOR_FAILED, f"the detector failed: {detector.last_failure}")]
        if detector.state == PartState.RUNNING and self._detector_failed:
            if self._detector_ok_since is None:
                self._detector_ok_since = now
            elif now - self._detector_ok_since >= DETECTOR_RECOVERED_SECONDS:
                self._detector_failed = False
        return []

    def _notice(
        self, kind: HealthKind, message: str, timestamp: float | None = None, announce: bool = True
    ) -> Notice:
        return Notice(
            kind,
            self.camera_id,
            message,
            time.time() if timestamp is None else timestamp,
            self.camera_name,
            announce,
        )


class StorageWatch:
    """The recordings disk's events, from each retention sweep (`observe`)."""

    def __init__(self) -> None:
        self.low = False  # storage_low said, not recovered since
        self._forced: dict[str, int] = {}  # clips deleted for space per camera since its last notice
        self._noticed_at: dict[str, float] = {}  # monotonic, per camera

    def observe(
        self, now: float, forced: dict[str, int], free: int, min_free: int, oldest_hours: float | None = None
    ) -> list[Notice]:
        """`forced`: clips each camera lost to space in this sweep; `free`: bytes free after it;
        `oldest_hours`: the age of the oldest clip kept (what retention really keeps now)."""
        notices: list[Notice] = []
        for camera, n in forced.items():
            self._forced[camera] = self._forced.get(camera, 0) + n
        for camera, n in list(self._forced.items()):
            last = self._noticed_at.get(camera)
            if last is not None and now - last < RETENTION_NOTICE_SECONDS:
                continue
            kept = f"; recordings now reach back {oldest_hours:.1f} h" if oldest_hours is not None else ""
            message = f"{n} clips deleted before their age to make space{kept}"
            notices.append(Notice(HealthKind.RETENTION_FORCED, camera, message))
            self._noticed_at[camera] = now
            del self._forced[camera]
        if free < min_free and not self.low:
            self.low = True
            gb, floor = free / 1e9, min_free / 1e9
            message = f"{gb:.2f} GB free on the recordings disk, under minFreeBytes ({floor:.2f} GB)"
            notices.append(Notice(HealthKind.STORAGE_LOW, None, message))
        elif free >= min_free:
            self.low = False
        return notices
