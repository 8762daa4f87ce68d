"""`/api/events`: what the detectors found, with snapshots and the recorded clips around each event, and the
camera health events (camera_offline, recording_stalled, storage_low...), filtered by `kind`."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

from aiohttp import web

from vsnative.api.clips import EXPORTED, send_export
from vsnative.api.keys import SERVICES, Services
from vsnative.api.schemas import EventList, EventQuery, EventView, NotYet
from vsnative.api.spec import BINARY, ApiRoutes, Content, query, reply
from vsnative.events import Event, Events
from vsnative.health_events import EVENT_KINDS, HealthKind

routes = ApiRoutes()
JPEG = Content("image/jpeg", "JPEG", BINARY)
CLIP_BEFORE, CLIP_AFTER = 5.0, 5.0  # seconds of video around an event
# an event's clip is waited for (202) this long after its window ends: a clip closes within clipSeconds +
# one GOP + 5 s (11-15 s with the defaults); past it, what was recorded is served (a camera that stopped)
PENDING_SECONDS = 60.0
POLL_SECONDS = 2


def store(services: Services) -> Events:
    if services.events is None:
        raise web.HTTPNotFound(text="this process keeps no events")
    return services.events


async def event_or_404(request: web.Request) -> Event:
    event = await asyncio.to_thread(store(request.app[SERVICES]).get, request.match_info["event_id"])
    if event is None:
        raise web.HTTPNotFound(text=f"no event {request.match_info['event_id']!r}")
    return event


@routes.get(
    "/api/events",
    "events, newest first (by start); `start`/`end`: those that overlap [start, end)",
    query=EventQuery,
    answers={200: EventList},
    errors=(400, 401, 404),
)
async def list_events(request: web.Request) -> web.Response:
    events = store(request.app[SERVICES])
    q = query(request, EventQuery)
    kinds = parse_kinds(q.kind)
    found = await asyncio.to_thread(
        events.query, q.camera, q.label, q.start, q.end, q.limit, kinds, q.zone, q.inProgress
    )
    return reply(EventList, {"events": [e.public() for e in found]})


def parse_kinds(value: str | None) -> set[str] | None:
    """`kind=camera_offline,camera_online` (or repeated): those kinds; `health` stands for every health
    kind; none given: every kind."""
    kinds: set[str] = set()
    if value:
        for kind in filter(None, (k.strip() for k in value.split(","))):
            if kind == "health":
                kinds.update(HealthKind)
            elif kind in EVENT_KINDS:
                kinds.add(kind)
            else:
                known = ", ".join(sorted(EVENT_KINDS | {"health"}))
                raise web.HTTPBadRequest(text=f"unknown event kind {kind!r} (known: {known})")
    return kinds or None


@routes.get("/api/events/{event_id}", "one event", answers={200: EventView}, errors=(401, 404))
async def get_event(request: web.Request) -> web.Response:
    return reply(EventView, (await event_or_404(request)).public())


@routes.get(
    "/api/events/{event_id}/snapshot.jpg",
    "the event's best picture, its box drawn",
    answers={200: JPEG},
    errors=(401, 404),
)
async def snapshot(request: web.Request) -> web.FileResponse:
    event = await event_or_404(request)
    services = request.app[SERVICES]
    path = await asyncio.to_thread(snapshot_file, services.settings.recordings_dir, event)
    if path is None:
        raise web.HTTPNotFound(text="this event has no snapshot")
    return web.FileResponse(path, headers={"Content-Type": "image/jpeg"})


def snapshot_file(recordings: Path, event: Event) -> Path | None:
    """The event's JPEG, only if it lies in its camera's alerts folder and still exists."""
    if not event.snapshot:
        return None
    root = (recordings / event.camera / "alerts").resolve()
    path = Path(event.snapshot).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


@routes.get(
    "/api/events/{event_id}/clip.mp4",
    "the recorded clips around the event, joined (no re-encoding), at most exportMaxSeconds from its start "
    "(X-Vsn-Cut then says so); 202 with Retry-After while they are still being written",
    answers={200: EXPORTED, 202: NotYet},
    errors=(401, 404),
)
async def clip(request: web.Request) -> web.StreamResponse:
    """The recorded clips from 5 s before the event's start to 5 s after its end, joined; 202 with
    Retry-After while the event goes on or the clips that will cover it are still being written (before:
    404, or a clip ending before the event). An event longer than one export (a car parked for hours is
    one event) gives its first `export_max_seconds` from 5 s before its start, the moment it appeared, with
    `X-Vsn-Cut` (the seconds the clip is cut to); once that much is recorded, also while it goes on. (Before,
    the clip of a car parked 6 h was a 6 h join, some 11 GB written to the recordings volume first.)"""
    event = await event_or_404(request)
    if not event.camera:
        raise web.HTTPNotFound(text="this event is about the service, not a camera: it has no clip")
    most = request.app[SERVICES].settings.export_max_seconds
    start = event.ts - CLIP_BEFORE
    if event.in_progress:
        if time.time() < start + most:
            reason = "the event goes on: its clip is ready once it has ended and been recorded"
            return not_yet("in progress", reason, None, None, POLL_SECONDS * 2)
        end = math.inf  # longer than one export already: its first one
    else:
        end = (event.end if event.end is not None else event.ts) + CLIP_AFTER
    cut = end - start > most
    end = min(end, start + most)
    clips = await asyncio.to_thread(request.app[SERVICES].clips.between, event.camera, start, end)
    covered = max((c.end for c in clips), default=None)
    now = time.time()
    if (covered is None or covered < end - 0.5) and now < end + PENDING_SECONDS:
        retry = max(POLL_SECONDS, math.ceil(end - now) + POLL_SECONDS)
        reason = "the clips covering this event are still being written"
        return not_yet("recording", reason, covered, end, retry)
    return await send_export(request, event.camera, start, end, {"X-Vsn-Cut": f"{most:g}"} if cut else None)


def not_yet(
    status: str, reason: str, covered: float | None, needed: float | None, retry: int
) -> web.Response:
    """202: the event's clip is not there yet; ask again in `retry` seconds."""
    body = {"status": status, "reason": reason, "coveredUntil": covered, "needed": needed}
    return reply(NotYet, body, status=202, headers={"Retry-After": str(retry)})
