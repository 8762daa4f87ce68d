"""The API's answers as pydantic models: what the handlers send (`spec.reply` dumps one) and what
`/api/openapi.json` describes (generated from them), so the two cannot drift apart.

Handlers build their answer from the agents' and stores' own dicts and pass it through a model: a field
that is not in a model is not answered, and a required one missing is a 500 that the tests catch, never an
undocumented answer. Fields are named as the JSON has them (camelCase, as vs-go's cameras.json).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from vsnative.clips import parse_time
from vsnative.health_events import EVENT_KINDS

ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
TIME_PATTERN = r"^(\d+(\.\d+)?|\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:\d{2})?)$"


def _time(value: object) -> float:
    if not isinstance(value, str):
        raise ValueError("a time is ISO 8601 (UTC when no offset) or unix seconds")
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ValueError(f"ISO 8601 (UTC when no offset) or unix seconds: {exc}") from exc


#: a time in a query: ISO 8601 (UTC when no offset) or unix seconds, read as unix seconds
Time = Annotated[
    float,
    BeforeValidator(_time),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": TIME_PATTERN,
            "description": "ISO 8601 (UTC when no offset) or unix seconds",
        }
    ),
]


def _closed(schema: dict[str, Any]) -> None:
    schema.setdefault("additionalProperties", False)  # `extra="allow"` models have already said true


class Schema(BaseModel):
    """A part of an answer or a query: unknown keys of the dict it is read from are dropped (only what is
    described is answered; a query parameter not described, such as `access_token`, is not read), and the
    document says so (`additionalProperties: false`, but where a model keeps unknown fields)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_closed)


# --- queries ---------------------------------------------------------------------------------------
class TimeRange(Schema):
    """[start, end): by default the hour before now (end: now)."""

    start: Time | None = None
    end: Time | None = None


class EventQuery(TimeRange):
    """`start`/`end`: the events that overlap [start, end): begun in it, or begun before and still going
    on at `start` (a detection that ended at or after it, or goes on)."""

    camera: str | None = None
    label: str | None = None
    zone: str | None = Field(None, description="detections that entered this zone")
    inProgress: bool | None = Field(None, description="true: events going on; false: those over")
    kind: str | None = Field(
        None, description="kinds to list, comma-separated or repeated (`health`: every health kind)"
    )
    limit: int = Field(100, ge=1, le=1000)


class AgentQuery(Schema):
    scope: Literal["cluster", "local"] = Field(
        "cluster", description="cluster: the agents of every live manager; local: this process's only"
    )


# --- errors ----------------------------------------------------------------------------------------
class FieldError(Schema):
    field: str = Field(description="the field's path, `(body)` for the body as a whole")
    message: str


class Error(Schema):
    """Every 4xx and 5xx: a reason a person reads (5xx: no traceback; see the service log)."""

    error: str
    status: int
    fields: list[FieldError] | None = Field(None, description="invalid camera: each field that is wrong")


# --- cameras ---------------------------------------------------------------------------------------
class CameraView(Schema):
    """A camera as the API shows it: its public fields (fields unknown to vsnative are kept and shown),
    the URL's host but never the URL, the manager that owns it and its agent's state on this process."""

    model_config = ConfigDict(extra="allow")

    id: str
    vmsId: str = ""
    name: str = ""
    framerType: str
    excluded: bool
    agentId: str = ""
    startupTime: int = 0
    lastHeartbeat: int = 0
    uptime: int = 0
    rtspHost: str = Field(description="the RTSP URL's host (the URL itself is write-only)")
    owner: str | None = Field(description="the manager that holds the camera's lease")
    state: str | None = Field(description="`excluded`, or its agent's state on this process")


class CameraList(Schema):
    cameras: list[CameraView]


# --- agents ----------------------------------------------------------------------------------------
class Audio(Schema):
    codec: str
    relayed: bool
    reason: str | None


class LiveView(Schema):
    """Whether a browser can show this camera live as it is (and why not), and its audio."""

    available: bool
    reason: str | None
    audio: Audio | None = Field(description="relayed as it is (G.711, Opus) or not (AAC), and why")


class Part(Schema):
    name: str
    state: Literal["running", "failed", "disabled", "stopped"]
    reason: str | None
    failures: int
    lastFailure: str | None
    since: int


class Recording(Schema):
    ok: bool
    lastClipAge: float | None = Field(description="seconds since the last clip closed")
    deadline: float = Field(description="a clip must close this often (clipSeconds + a GOP + a margin)")


class Health(Schema):
    """Per role: recording (the camera's health), live view and detection."""

    availability: Literal["online", "offline"] | None = Field(
        description="as camera_offline/online last said it (null: not yet known)"
    )
    recording: Recording | None
    live: str | None
    detection: str | None


class TrackedObject(Schema):
    id: int
    label: str
    confidence: float
    box: list[float] = Field(description="x1, y1, x2, y2 as fractions of the picture")
    firstSeen: float
    lastSeen: float
    stationary: bool
    zones: list[str]
    dwellSeconds: dict[str, float]
    eventId: str | None


class Alerts(Schema):
    events: int
    published: int
    suppressed: int
    dropped: int
    notices: int


class Detection(Schema):
    """The detector's state, pictures analysed, the model's median time, the objects tracked now, and
    what the alert bus made of them."""

    state: Literal["running", "disabled", "failed"]
    reason: str | None
    framesAnalysed: int
    inferenceP50Ms: float | None
    detections: int
    staleSkipped: int = Field(description="pictures too old to analyse when their turn came")
    motionGated: int = Field(description="pictures skipped: nothing moved")
    eventsStarted: int
    eventsEnded: int
    objects: list[TrackedObject]
    untracked: int = Field(description="detections past maxObjects")
    alerts: Alerts


class Snapshots(Schema):
    """snapshot.jpg: keyframes decoded for it (at most one per keyframe), and those that gave no picture."""

    decodes: int
    failures: int


class Route(Schema):
    """Where the camera's packets go: sinks in the framer thread, subscriptions on the event loop."""

    framerThread: list[str]
    eventLoop: list[str]


class Video(Schema):
    codec: str | None = None
    width: int | None = None
    height: int | None = None


class Counters(Schema):
    packets: int
    keyframes: int
    bytes: int
    clips: int
    reconnects: int
    recovered: int = Field(description="unfinished clips a writer left, finalised at start")
    unrecoverable: int
    last_clip_end: float = Field(description="wall clock (0: none yet)")
    drops: int = Field(description="the sum of `lost`")
    lost: dict[str, int] = Field(
        description="packets lost, by part: framer, recorder, live, detector, fenced (not written: the "
        "lease was not proven)"
    )


class Agent(Schema):
    cameraId: str
    name: str
    manager: str = Field(description="the manager (pod) that runs it")
    agentId: str
    framerType: str
    state: Literal["starting", "running", "retrying", "failed", "stopped"]
    healthy: bool
    failure: str | None
    lastError: str = Field(description="why the stream failed, as a person reads it")
    lastErrorDetail: str = Field(description="what the camera or FFmpeg said (no credentials)")
    startupTime: int
    uptime: int
    video: Video
    streamers: list[str]
    counters: Counters
    viewers: int
    liveView: LiveView | None
    parts: list[Part] = Field(description="the parts recording does not need, each under its own guard")
    health: Health
    route: Route
    detection: Detection | None
    snapshots: Snapshots


class AgentList(Schema):
    maxAgents: int
    manager: str
    agents: list[Agent]
    unreachable: list[str] = Field(
        description="managers that did not answer (or answered what this version cannot read)"
    )


# --- cluster ---------------------------------------------------------------------------------------
class Manager(Schema):
    model_config = ConfigDict(extra="allow")

    id: str
    host: str
    pid: int
    maxAgents: int
    freeSlots: int
    agents: list[str]
    announceSeconds: float
    url: str
    updated: float = Field(description="when it last announced itself (unix seconds)")


class Cluster(Schema):
    backend: str
    managers: list[Manager]
    capacity: int
    orphanBacklog: int
    cameras: int
    excluded: int
    owned: int
    unowned: list[str]


class Scale(Schema):
    """What KEDA scales the manager Deployment on."""

    camerasToOwn: int
    slotsPerPod: int
    orphanBacklog: int
    managersNeeded: int = Field(ge=1)


class Role(Schema):
    state: str = Field(description="starting, running, restarting (after it raised), dead, stopped")
    failures: int
    lastError: str | None


class ServiceHealth(Schema):
    status: Literal["ok", "degraded"]
    version: str
    uptime: int
    agents: int
    healthyAgents: int
    roles: dict[str, Role]
    down: list[str] | None = Field(None, description="the roles that are down (503)")


# --- clips -----------------------------------------------------------------------------------------
class Clip(Schema):
    start: str
    startUnix: float
    duration: float
    frames: int
    size: int
    url: str


class Gap(Schema):
    start: str
    end: str
    duration: float


class ClipList(Schema):
    cameraId: str
    start: str
    end: str
    clips: list[Clip]
    gaps: list[Gap]


class NotYet(Schema):
    """202: the event goes on, or the clips covering it are being written (see Retry-After)."""

    status: Literal["recording", "in progress"]
    reason: str
    coveredUntil: float | None
    needed: float | None


# --- events ----------------------------------------------------------------------------------------
class EventView(Schema):
    """A detection (kind `detection`: label, confidence, box, snapshot) or a camera health event (any
    other kind: its message)."""

    id: str
    kind: Annotated[str, Field(json_schema_extra={"enum": sorted(EVENT_KINDS)})]
    cameraId: str | None = Field(description="null: about the whole service (storage)")
    message: str | None
    label: str | None
    confidence: float | None
    box: Annotated[list[float], Field(min_length=4, max_length=4)] | None
    timestamp: float = Field(description="the start")
    start: float
    end: float | None = Field(description="null: in progress")
    duration: float | None
    inProgress: bool
    lastSeen: float | None
    objectId: int | None = Field(description="the tracked object (per agent)")
    zones: list[str] = Field(description="entered, in order")
    stationary: bool
    endReason: Literal["gone", "stationary", "stopped", "no_video", "restart"] | None
    snapshotUrl: str | None
    clipUrl: str | None


class EventList(Schema):
    events: list[EventView]


# --- live view -------------------------------------------------------------------------------------
class ViewerAudio(Schema):
    codec: str
    packetsSent: int


class Viewer(Schema):
    id: str
    state: str
    since: int
    packetsSent: int
    replayed: int
    dropped: int
    audio: ViewerAudio | None


class Viewers(Schema):
    maxViewers: int
    viewers: list[Viewer]
    live: LiveView


class Deleted(Schema):
    deleted: str
