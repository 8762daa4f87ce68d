"""Tracked objects: a camera's detections linked across pictures into objects with an id, and the events
they make (`new`, `update`, `end`).

Why our own small tracker, not a library's: the maintained ByteTrack/SORT packages (supervision, boxmot,
norfair) pull in PyTorch, OpenCV or SciPy for what is here ~200 lines of plain Python that costs
microseconds per picture (bench/detect.py), and none of them knows events, zones or stationary objects,
which is what a person needs from tracking.

How detections are linked: per label, each object's box is moved by its measured velocity to the
picture's time, and detections and objects are paired greedily by overlap (IoU) with that predicted box,
best first. Keyframe-only detection sees a picture every GOP (1-4 s): a walking person moves more than a
box's width in that time and no overlap is left, so a detection whose centre lies within a box diagonal of the
predicted centre, at a similar size, is linked too, after every overlapping pair.

An object becomes an event (`new`) once seen `minHits` times (and in a zone, when the camera has zones);
`update` says the event has a better snapshot, entered another zone or loiters, at most every
`updateSeconds`; `end` comes when it has been gone `endSeconds` (and missing from 2 analysed pictures or
more, so a camera with a 10 s GOP does not end an event on one missed keyframe), or when it has not moved
for `stationarySeconds`: a parked car is one event, however long it stays (frigate#1797, frigate#3965);
it makes a new event only if it moves again. Start and end are the times of the first and last pictures
the object was seen in, on the recording's timeline.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vsnative.detectors.base import Detection
from vsnative.events import new_event_id
from vsnative.zones import Zone

Box = tuple[float, float, float, float]
EventType = Literal["new", "update", "end"]
MIN_MISSES = 2  # analysed pictures an object must be missing from before it is gone
NEAR = 1.0  # a centre up to one box diagonal from the predicted one is still the same object
SIZE_RATIO = 4.0  # ... when the areas differ less than this
# a speed is measured over this long at least: an RTSP server's first burst delivers two keyframes 2 ms
# apart, and a box's jitter of 0.001 over 2 ms read as 0.5 picture a second sent the predicted box away
# (the cup of the scripted scene became two objects)
VELOCITY_SECONDS = 0.2
MAX_SPEED = 1.0  # pictures a second: nothing tracked crosses the picture faster
BETTER = 0.05  # a snapshot this much more confident is worth an update (not the detector's noise)
NESTED = 0.8  # a box this much inside a better one of its label is the same object seen twice


class TrackingConfig(BaseModel):
    """How detections become tracked objects and events (`tracking` in a detector streamer)."""

    model_config = ConfigDict(extra="forbid")

    endSeconds: float = Field(5.0, gt=0, description="an object not seen this long is gone: its event ends")
    stationarySeconds: float = Field(
        30.0, gt=0, description="an object that has not moved this long is stationary: its event ends"
    )
    updateSeconds: float = Field(5.0, ge=0, description="at most one update per event this often")
    minHits: int = Field(1, ge=1, description="pictures an object is seen in before it is an event")
    iou: float = Field(0.2, gt=0, lt=1, description="overlap with an object's predicted box that links")
    stationaryMove: float = Field(
        0.2,
        gt=0,
        le=1,
        description="a centre this close (in box diagonals) to where the box stopped has not moved",
    )
    maxObjects: int = Field(32, ge=1, le=1000, description="objects tracked at once per camera")


@dataclass(frozen=True)
class ObjectEvent:
    """One message of an event's life, as the tracker says it."""

    type: EventType
    event_id: str
    object_id: int
    label: str
    confidence: float  # the best seen
    box: Box  # where it was when best seen
    start: float  # recording timeline (Unix seconds)
    last_seen: float
    end: float | None = None
    zones: tuple[str, ...] = ()  # entered, in order
    stationary: bool = False
    loitering: tuple[str, ...] = ()
    end_reason: str | None = None  # gone | stationary | stopped | no_video
    image: np.ndarray | None = field(default=None, repr=False)  # the best picture, when it is new
    detections: tuple[Detection, ...] = ()  # everything found in that picture, for drawing


@dataclass
class TrackedObject:
    id: int
    label: str
    box: Box
    confidence: float
    first_seen: float
    last_seen: float
    best: Detection
    hits: int = 1
    misses: int = 0
    velocity: tuple[float, float] = (0.0, 0.0)  # of the box's centre, per second
    anchor: Box = (0.0, 0.0, 0.0, 0.0)  # where it stopped moving
    anchor_at: float = 0.0
    stationary: bool = False
    zones: list[str] = field(default_factory=list)  # entered, in order
    in_zones: set[str] = field(default_factory=set)
    dwell: dict[str, float] = field(default_factory=dict)  # seconds in each zone
    loitering: list[str] = field(default_factory=list)
    event_id: str | None = None
    event_start: float = 0.0  # when the current (or next) event starts
    entered_at: float | None = None  # when it was first in a zone
    had_event: bool = False  # it is (or was) an event: counted as in view while tracked
    sent_at: float = -math.inf
    sent_confidence: float = 0.0  # the best confidence the last message said
    changed: bool = False  # something an update would say
    image: np.ndarray | None = field(default=None, repr=False)  # best picture not yet sent
    detections: tuple[Detection, ...] = ()

    def predict(self, t: float, horizon: float) -> Box:
        dt = min(max(0.0, t - self.last_seen), horizon)
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        x1, y1, x2, y2 = self.box
        return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "box": [round(v, 4) for v in self.box],
            "firstSeen": self.first_seen,
            "lastSeen": self.last_seen,
            "stationary": self.stationary,
            "zones": list(self.zones),
            "dwellSeconds": {k: round(v, 2) for k, v in self.dwell.items()},
            "eventId": self.event_id,
        }


class Tracker:
    """One camera's tracked objects. Not thread-safe: one caller (the detector streamer, on the loop)."""

    def __init__(self, config: TrackingConfig, zones: Iterable[Zone] = ()) -> None:
        self.config = config
        self.zones = list(zones)
        self.objects: list[TrackedObject] = []
        self._ids = itertools.count(1)
        self.overflow = 0  # detections not tracked: maxObjects were already tracked
        self.started = 0  # events
        self.ended = 0

    # --- the pictures --------------------------------------------------------------------------------
    def update(
        self, t: float, detections: list[Detection], image: np.ndarray | None = None
    ) -> list[ObjectEvent]:
        """One analysed picture taken at `t` (recording timeline) and what was found in it."""
        cfg = self.config
        detections = without_nested(detections)
        matched = self._match(t, detections)
        seen: set[int] = set()
        for obj, d in matched:
            self._saw(obj, t, d, image, detections)
            seen.add(obj.id)
        linked = {id(d) for _, d in matched}
        for d in detections:
            if id(d) in linked:
                continue
            if len(self.objects) >= cfg.maxObjects:
                self.overflow += 1
                continue
            obj = TrackedObject(next(self._ids), d.label, d.box, d.confidence, t, t, d)
            obj.anchor, obj.anchor_at, obj.event_start = d.box, t, t
            obj.image, obj.detections = image, tuple(detections)
            self._zones(obj, t, None)
            self.objects.append(obj)
            seen.add(obj.id)
        for obj in self.objects:
            if obj.id not in seen:
                obj.misses += 1
        return self._lifecycle(t)

    def expire(self, t: float, reason: str = "no_video") -> list[ObjectEvent]:
        """No picture came for a while (the camera stopped): objects not seen for `endSeconds` before `t`
        are gone, however few pictures missed them."""
        return self._remove([o for o in self.objects if t - o.last_seen >= self.config.endSeconds], reason)

    def close(self, reason: str = "stopped") -> list[ObjectEvent]:
        """Detection stops: every event still open ends (at the object's last sighting)."""
        return self._remove(list(self.objects), reason)

    # --- what the API shows ------------------------------------------------------------------------
    def active(self) -> bool:
        """Is any object moving (not stationary)? While one is, pictures must be analysed to see it go."""
        return any(not o.stationary for o in self.objects)

    def counts(self) -> dict[str, int]:
        """Objects in view per label that are (or were) events, stationary ones included: the retained
        per-label count (`vsnative/<camera>/<label>`)."""
        counts: dict[str, int] = {}
        for o in self.objects:
            if o.had_event:
                counts[o.label] = counts.get(o.label, 0) + 1
        return counts

    # --- inside ------------------------------------------------------------------------------------
    def _match(self, t: float, detections: list[Detection]) -> list[tuple[TrackedObject, Detection]]:
        horizon = self.config.endSeconds
        pairs: list[tuple[float, int, int]] = []
        for oi, obj in enumerate(self.objects):
            predicted = obj.predict(t, horizon)
            for di, d in enumerate(detections):
                if d.label == obj.label and (score := self._similarity(predicted, d.box)) is not None:
                    pairs.append((score, oi, di))
        pairs.sort(reverse=True)
        used_o: set[int] = set()
        used_d: set[int] = set()
        matched: list[tuple[TrackedObject, Detection]] = []
        for _, oi, di in pairs:
            if oi in used_o or di in used_d:
                continue
            used_o.add(oi)
            used_d.add(di)
            matched.append((self.objects[oi], detections[di]))
        return matched

    def _similarity(self, predicted: Box, box: Box) -> float | None:
        """The overlap (when at least `iou`), else a lesser score for a near centre at a similar size."""
        overlap = iou(predicted, box)
        if overlap >= self.config.iou:
            return overlap
        a, b = area(predicted), area(box)
        if a <= 0 or b <= 0 or max(a, b) / min(a, b) > SIZE_RATIO:
            return None
        distance = math.dist(centre(predicted), centre(box)) / ((diagonal(predicted) + diagonal(box)) / 2)
        if distance > NEAR:
            return None
        return self.config.iou * (1.0 - distance / NEAR) * 0.999  # below every overlapping pair

    def _saw(
        self, obj: TrackedObject, t: float, d: Detection, image: np.ndarray | None, found: list[Detection]
    ) -> None:
        cfg = self.config
        dt = t - obj.last_seen
        if dt >= VELOCITY_SECONDS:
            (cx, cy), (px, py) = centre(d.box), centre(obj.box)
            measured = (clamp((cx - px) / dt), clamp((cy - py) / dt))
            obj.velocity = (
                (obj.velocity[0] + measured[0]) / 2 if obj.hits > 1 else measured[0],
                (obj.velocity[1] + measured[1]) / 2 if obj.hits > 1 else measured[1],
            )
        previous = obj.last_seen
        obj.box, obj.confidence, obj.last_seen = d.box, d.confidence, t
        obj.hits += 1
        obj.misses = 0
        if d.confidence > obj.best.confidence:  # the snapshot to keep, sent with the next message
            obj.best, obj.image, obj.detections = d, image, tuple(found)
            if d.confidence >= obj.sent_confidence + BETTER:
                obj.changed = True
        # by the centre, not the overlap: a detector's box of a still object grows and shrinks (the cup
        # photo: the cup alone, then cup and saucer, IoU 0.49, when a cat came into the picture) while its
        # centre stays within 0.01
        if math.dist(centre(d.box), centre(obj.anchor)) <= cfg.stationaryMove * diagonal(obj.anchor):
            if not obj.stationary and t - obj.anchor_at >= cfg.stationarySeconds:
                obj.stationary = True
        else:
            obj.anchor, obj.anchor_at = d.box, t
            if obj.stationary:  # it moves again: a new event from now
                obj.stationary = False
                obj.event_start = t
                obj.best, obj.image, obj.detections = d, image, tuple(found)
        self._zones(obj, t, previous)

    def _zones(self, obj: TrackedObject, t: float, previous: float | None) -> None:
        if not self.zones:
            return
        now_in = {z.name for z in self.zones if z.holds(obj.box)}
        for zone in self.zones:
            name = zone.name
            if name not in now_in:
                continue
            if name in obj.in_zones and previous is not None:
                obj.dwell[name] = obj.dwell.get(name, 0.0) + (t - previous)
            if name not in obj.zones:
                obj.zones.append(name)
                obj.changed = True
            if (
                zone.loiterSeconds is not None
                and name not in obj.loitering
                and obj.dwell.get(name, 0.0) >= zone.loiterSeconds
            ):
                obj.loitering.append(name)
                obj.changed = True
        if now_in and obj.entered_at is None:
            obj.entered_at = t
        obj.in_zones = now_in

    def _lifecycle(self, t: float) -> list[ObjectEvent]:
        cfg = self.config
        out: list[ObjectEvent] = []
        gone = [o for o in self.objects if o.misses >= MIN_MISSES and t - o.last_seen >= cfg.endSeconds]
        out.extend(self._remove(gone, "gone"))
        for obj in self.objects:
            if obj.event_id is None:
                if (
                    not obj.stationary
                    and obj.hits >= cfg.minHits
                    and obj.misses == 0
                    and (not self.zones or obj.in_zones)
                ):
                    obj.event_id = new_event_id()
                    if obj.entered_at is not None:  # with zones, the event starts in a zone
                        obj.event_start = max(obj.event_start, obj.entered_at)
                    obj.had_event = True
                    self.started += 1
                    out.append(self._message("new", obj))
            elif obj.stationary:
                out.append(self._end(obj, "stationary"))
            elif obj.changed and t - obj.sent_at >= cfg.updateSeconds:
                out.append(self._message("update", obj))
        return out

    def _remove(self, objects: list[TrackedObject], reason: str) -> list[ObjectEvent]:
        out = [self._end(o, reason) for o in objects if o.event_id is not None]
        gone = {o.id for o in objects}
        self.objects = [o for o in self.objects if o.id not in gone]
        return out

    def _end(self, obj: TrackedObject, reason: str) -> ObjectEvent:
        message = self._message("end", obj, reason)
        obj.event_id = None
        self.ended += 1
        return message

    def _message(self, kind: EventType, obj: TrackedObject, reason: str | None = None) -> ObjectEvent:
        assert obj.event_id is not None  # noqa: S101 - only objects with an event get messages
        image, obj.image = obj.image, None  # a better picture than the last one sent, if any
        obj.changed = False
        obj.sent_at = obj.last_seen
        obj.sent_confidence = obj.best.confidence
        return ObjectEvent(
            kind,
            obj.event_id,
            obj.id,
            obj.label,
            obj.best.confidence,
            obj.best.box,
            obj.event_start,
            obj.last_seen,
            obj.last_seen if kind == "end" else None,
            tuple(obj.zones),
            obj.stationary,
            tuple(obj.loitering),
            reason,
            image,
            obj.detections if image is not None else (),
        )


def clamp(speed: float) -> float:
    return max(-MAX_SPEED, min(MAX_SPEED, speed))


def without_nested(detections: list[Detection]) -> list[Detection]:
    """Drop the boxes lying (NESTED of their area or more) inside a better box of the same label: the
    detector's second box on one object, which NMS keeps because the overlap of a small box with a big one
    is small (yolov3-tiny on the astronaut photo: the whole body 0.70 and the torso 0.40 inside it). Left
    alone, each would be an object, and the one person two events."""
    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: d.confidence, reverse=True):
        own = area(d.box)
        if own > 0 and any(k.label == d.label and overlap(k.box, d.box) >= NESTED * own for k in kept):
            continue
        kept.append(d)
    return kept


def overlap(a: Box, b: Box) -> float:
    """The area two boxes share."""
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    return ix * iy if ix > 0 and iy > 0 else 0.0


def iou(a: Box, b: Box) -> float:
    inter = overlap(a, b)
    if inter <= 0:
        return 0.0
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def centre(box: Box) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def diagonal(box: Box) -> float:
    return math.hypot(box[2] - box[0], box[3] - box[1])
