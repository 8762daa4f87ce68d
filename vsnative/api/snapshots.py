"""`GET /api/cameras/{id}/snapshot.jpg`: the camera's latest picture (its latest keyframe, decoded when
asked, at most once per keyframe: media/picture.py), or, when it has none to show, a placeholder picture
that says the camera's state and why (an `<img>` in the grid shows it as it is). `X-Vsn-Snapshot` says
which (`picture` or `placeholder`); `X-Vsn-Picture-Time` when the picture was filmed. On a cluster, a
camera run by another pod is answered by that pod (relayed), as live view is."""

from __future__ import annotations

import asyncio
import functools
import time

from aiohttp import web

from vsnative.alerters.draw import encode_jpeg, placeholder
from vsnative.api.keys import SERVICES
from vsnative.api.peers import relay_to_owner
from vsnative.api.spec import BINARY, ApiRoutes, Content
from vsnative.log import without_userinfo
from vsnative.media.camera_clock import filmed_by_reports

routes = ApiRoutes()
FRESH_SECONDS = 10.0  # a picture older than this (no packet since) is not the camera's latest any more
HEADERS = {"Cache-Control": "no-cache", "Content-Type": "image/jpeg"}


@functools.lru_cache(maxsize=64)
def placeholder_jpeg(*lines: str) -> bytes:
    """A pure function of its text, so its result is kept (a grid refreshing a dead camera)."""
    return encode_jpeg(placeholder(list(lines)), 8)


async def _placeholder(*lines: str) -> web.Response:
    data = await asyncio.to_thread(placeholder_jpeg, *lines)
    return web.Response(body=data, headers={**HEADERS, "X-Vsn-Snapshot": "placeholder"})


@routes.get(
    "/api/cameras/{camera_id}/snapshot.jpg",
    "the camera's latest picture (its latest keyframe, decoded once), or a placeholder picture with its "
    "state; from the pod that runs it",
    answers={
        200: Content(
            "image/jpeg",
            "JPEG",
            BINARY,
            {
                "X-Vsn-Snapshot": "`picture` or `placeholder`",
                "X-Vsn-Picture-Time": "when the picture was filmed (unix seconds)",
            },
        ),
    },
    errors=(401, 404),
)
async def snapshot(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    camera_id = request.match_info["camera_id"]
    agent = services.pool.get(camera_id)
    if agent is None:
        camera = await services.store.get(camera_id)
        if camera is None:
            raise web.HTTPNotFound(text=f"no camera {camera_id!r}")
        if camera.excluded:
            return await _placeholder(camera.name or camera_id, "EXCLUDED")
        relayed = await relay_to_owner(request, camera_id)
        if relayed is not None:
            return relayed
        return await _placeholder(camera.name or camera_id, "NOT RUNNING", "waiting for an agent")
    name = agent.camera.name or camera_id
    if time.monotonic() - agent.router.last_packet_at < FRESH_SECONDS:
        got = await agent.picture.jpeg(agent.env.detect_executor)
        if got is not None:
            packet, data = got
            headers = {
                **HEADERS,
                "X-Vsn-Snapshot": "picture",
                "X-Vsn-Picture-Time": f"{filmed_by_reports(packet):.3f}",
            }
            return web.Response(body=data, headers=headers)
        if agent.router.keyframe is None:
            return await _placeholder(name, "STARTING", "no picture yet")
    reason = without_userinfo(agent.last_error) or "no video"
    return await _placeholder(name, agent.state.value.upper(), reason)
