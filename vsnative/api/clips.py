"""Recorded clips: list by time range (gaps marked), download with HTTP Range, play a range as HLS (the
clips as they are: vod.py), export a range as one MP4."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from vsnative.api.keys import SERVICES, Services
from vsnative.api.schemas import ClipList, TimeRange
from vsnative.api.spec import BINARY, ApiRoutes, Content, query, reply
from vsnative.clips import CAMERA_DIR, clip_file, gaps, iso
from vsnative.media.export import ExportError, export
from vsnative.vod import timeline_segment

routes = ApiRoutes()
DEFAULT_WINDOW = 3600.0
CHUNK = 256 * 1024
MP4 = Content("video/mp4", "MP4 video", BINARY)
EXPORTED = Content(
    "video/mp4",
    "the clips joined into one MP4 (no re-encoding)",
    BINARY,
    {
        "X-Vsn-Start": "the first frame's time (ISO 8601)",
        "X-Vsn-Start-Unix": "the same in unix seconds",
        "X-Vsn-Duration": "seconds",
        "X-Vsn-Cut": "an event's clip only, when the event lasted longer than one export: the seconds (from "
        "5 s before its start) the clip is cut to",
    },
)
PLAYLIST = Content("application/vnd.apple.mpegurl", "HLS playlist (fMP4)")
SEGMENT = Content(
    "video/mp4", "the clip's fragments (moof + mdat), placed on the playlist's timeline", BINARY
)


def time_range(request: web.Request, max_seconds: float | None = None) -> tuple[float, float]:
    """`start`/`end` query parameters (ISO 8601 or unix seconds); by default the last hour."""
    asked = query(request, TimeRange)
    end = asked.end if asked.end is not None else time.time()
    start = asked.start if asked.start is not None else end - DEFAULT_WINDOW
    if end <= start:
        raise web.HTTPBadRequest(text="end must be after start")
    if max_seconds is not None and end - start > max_seconds:
        raise web.HTTPBadRequest(text=f"a range of at most {max_seconds:g} s can be exported at once")
    return start, end


async def camera_dir(services: Services, camera_id: str) -> Path:
    """The camera's recordings folder; 404 when neither the camera nor recordings of it exist."""
    if not CAMERA_DIR.match(camera_id):
        raise web.HTTPNotFound(text=f"no camera {camera_id!r}")
    folder = services.settings.recordings_dir / camera_id
    if await services.store.get(camera_id) is None and not folder.is_dir():
        raise web.HTTPNotFound(text=f"no camera {camera_id!r}")
    return folder


@routes.get(
    "/api/cameras/{camera_id}/clips",
    "the camera's clips of a range (the last hour by default), oldest first, and the gaps between them",
    query=TimeRange,
    answers={200: ClipList},
    errors=(400, 401, 404),
)
async def list_clips(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    camera_id = request.match_info["camera_id"]
    await camera_dir(services, camera_id)
    start, end = time_range(request)
    clips = await asyncio.get_running_loop().run_in_executor(
        None, services.clips.between, camera_id, start, end
    )
    return reply(
        ClipList,
        {
            "cameraId": camera_id,
            "start": iso(start),
            "end": iso(end),
            "clips": [
                {
                    "start": iso(c.start),
                    "startUnix": c.start,
                    "duration": c.duration,
                    "frames": c.frames,
                    "size": c.size,
                    "url": f"/api/cameras/{camera_id}/clips/{c.day}/{c.name}",
                }
                for c in clips
            ],
            "gaps": [
                {"start": iso(a), "end": iso(b), "duration": round(b - a, 3)}
                for a, b in gaps(clips, start, end)
            ],
        },
    )


async def clip_named(request: web.Request) -> Path:
    """The clip file the URL's camera_id, day and name give; 404 when there is none."""
    services = request.app[SERVICES]
    info = request.match_info
    await camera_dir(services, info["camera_id"])
    path = clip_file(services.settings.recordings_dir, info["camera_id"], info["day"], info["name"])
    if path is None:
        raise web.HTTPNotFound(text="no such clip")
    return path


@routes.get(
    "/api/cameras/{camera_id}/clips/{day}/{name}",
    "one clip (HTTP Range supported)",
    answers={200: MP4, 206: MP4},
    errors=(401, 404),
)
async def get_clip(request: web.Request) -> web.FileResponse:
    path = await clip_named(request)
    return web.FileResponse(
        path, headers={"Content-Type": "video/mp4", "Cache-Control": "private, max-age=86400"}
    )


@routes.get(
    "/api/cameras/{camera_id}/vod.m3u8",
    "an HLS playlist (fMP4) of the clips of a range, any length, served from the clips as they are by byte "
    "range; EVENT (no ENDLIST) when the range reaches now",
    query=TimeRange,
    answers={200: PLAYLIST},
    errors=(400, 401, 404),
)
async def vod_playlist(request: web.Request) -> web.Response:
    """An HLS playlist of the clips of [start, end) (the last hour by default; any length), served from the
    clips on disk by byte range: no re-encoding, no copying."""
    services = request.app[SERVICES]
    camera_id = request.match_info["camera_id"]
    await camera_dir(services, camera_id)
    start, end = time_range(request)
    token = request.query.get("access_token")
    query = urlencode({"access_token": token}) if token else ""

    camera = await services.store.get(camera_id)
    may_grow = camera is not None and not camera.excluded  # (a deleted or excluded camera records no more)
    build = functools.partial(services.playlists.build, camera_id, start, end, query, may_grow=may_grow)
    text, listed = await asyncio.get_running_loop().run_in_executor(None, build)
    if not listed:
        raise web.HTTPNotFound(text=f"no recordings of {camera_id!r} between {iso(start)} and {iso(end)}")
    return web.Response(
        text=text,
        content_type="application/vnd.apple.mpegurl",
        headers={"Cache-Control": "no-cache"},
    )


@routes.get(
    "/api/cameras/{camera_id}/vod/{at}/{day}/{name}",
    "a playlist's media segment: a clip's fragments as they are, their decode times moved to `at` "
    "microseconds on the playlist's timeline (8 bytes a fragment; no re-encoding)",
    answers={200: SEGMENT},
    errors=(401, 404),
)
async def vod_segment(request: web.Request) -> web.Response:
    at = request.match_info["at"]
    if not (at.isdigit() and len(at) <= 16):
        raise web.HTTPNotFound(text="no such segment")
    path = await clip_named(request)
    try:
        data = await asyncio.get_running_loop().run_in_executor(None, timeline_segment, path, int(at))
    except FileNotFoundError as exc:  # retention removed it meanwhile
        raise web.HTTPNotFound(text="no such clip") from exc
    except ValueError as exc:
        raise web.HTTPNotFound(text=f"this clip cannot be played: {exc}") from exc
    return web.Response(
        body=data, content_type="video/mp4", headers={"Cache-Control": "private, max-age=86400"}
    )


@routes.get(
    "/api/cameras/{camera_id}/export.mp4",
    "the clips covering a range joined into one MP4 (no re-encoding)",
    query=TimeRange,
    answers={200: EXPORTED},
    errors=(400, 401, 404),
)
async def export_range(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    camera_id = request.match_info["camera_id"]
    await camera_dir(services, camera_id)
    start, end = time_range(request, services.settings.export_max_seconds)
    return await send_export(request, camera_id, start, end)


async def send_export(
    request: web.Request, camera_id: str, start: float, end: float, headers: dict[str, str] | None = None
) -> web.StreamResponse:
    """Join the clips of [start, end) into one MP4 (no re-encoding) and send it, with `headers` too; 404
    when none covers it."""
    root = request.app[SERVICES].settings.recordings_dir
    loop = asyncio.get_running_loop()
    clips = await loop.run_in_executor(None, request.app[SERVICES].clips.between, camera_id, start, end)
    if not clips:
        raise web.HTTPNotFound(text="no recording in that range")
    fd, name = tempfile.mkstemp(prefix=".export-", suffix=".mp4", dir=root)
    os.close(fd)
    tmp = Path(name)
    try:
        try:
            result = await loop.run_in_executor(
                None, export, [(c.path, c.start) for c in clips], start, end, tmp
            )
        except ExportError as exc:
            raise web.HTTPNotFound(text=str(exc)) from exc
        response = web.StreamResponse(
            headers={
                "Content-Type": "video/mp4",
                "Content-Disposition": f'attachment; filename="{camera_id}-{iso(result.start)}.mp4"',
                "X-Vsn-Start": iso(result.start),
                "X-Vsn-Start-Unix": f"{result.start:.6f}",
                "X-Vsn-Duration": f"{result.duration:.3f}",
                **(headers or {}),
            }
        )
        response.content_length = await loop.run_in_executor(None, os.path.getsize, tmp)
        await response.prepare(request)
        with open(tmp, "rb") as fh:  # noqa: ASYNC230 - chunks are read in a worker thread below
            while chunk := await loop.run_in_executor(None, fh.read, CHUNK):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        await loop.run_in_executor(None, _remove, tmp)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
