"""WHEP signalling for live view: `POST /api/cameras/{id}/whep` with an SDP offer answers `201` with the
SDP answer and the viewer's `Location`; `DELETE` on that location ends the viewer."""

from __future__ import annotations

from aiohttp import web

from vsnative.api.keys import SERVICES
from vsnative.api.peers import relay_to_owner
from vsnative.api.schemas import Deleted, Viewers
from vsnative.api.spec import ApiRoutes, Content, reply
from vsnative.streamers.webrtc import ViewerError, WebRtcStreamer
from vsnative.webrtc.ice import IceSettings

routes = ApiRoutes()
MAX_OFFER_BYTES = 64 << 10
SDP = "application/sdp"


async def _live(request: web.Request, body: bytes | None = None) -> WebRtcStreamer | web.Response:
    """The camera's live-view streamer here, or the answer of the pod that runs it (the request relayed)."""
    services = request.app[SERVICES]
    camera_id = request.match_info["camera_id"]
    agent = services.pool.get(camera_id)
    if agent is None:
        camera = await services.store.get(camera_id)
        if camera is None:
            raise web.HTTPNotFound(text=f"no camera {camera_id!r}")
        if camera.excluded:
            raise web.HTTPConflict(text=f"camera {camera_id!r} is excluded")
        relayed = await relay_to_owner(request, camera_id, body)  # the pod that runs the camera answers
        if relayed is not None:
            return relayed
        holder = (await services.leases.holders([camera_id])).get(camera_id)
        where = f"manager {holder.owner}" if holder else "no manager yet"
        raise web.HTTPConflict(text=f"camera {camera_id!r} does not run here (owner: {where})")
    live = agent.live
    if live is None:
        raise web.HTTPConflict(text=f"camera {camera_id!r} has no webrtc streamer in its pipeline")
    return live


@routes.post(
    "/api/cameras/{camera_id}/whep",
    "WHEP: watch a camera live over WebRTC (H.264 relayed without re-encoding)",
    description="Send the viewer's complete SDP offer (non-trickle ICE). Answers 201 with the SDP answer and "
    "the viewer's Location, which DELETE ends; the configured STUN/TURN servers as `Link` headers. Any pod "
    "answers: one that does not run the camera relays the offer to the one that does.",
    body=Content(SDP, "the SDP offer"),
    answers={
        201: Content(SDP, "the SDP answer", headers={"Location": "the viewer, for DELETE"}),
    },
    errors=(400, 401, 404, 409, 413, 415, 503),
)
async def offer(request: web.Request) -> web.Response:
    if request.content_type != "application/sdp":
        raise web.HTTPUnsupportedMediaType(text="send the SDP offer as Content-Type: application/sdp")
    if request.content_length is not None and request.content_length > MAX_OFFER_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_OFFER_BYTES, request.content_length)
    body = await request.read()
    try:
        sdp = body.decode()
    except UnicodeDecodeError as exc:
        raise web.HTTPBadRequest(text="the SDP offer is not UTF-8 text") from exc
    live = await _live(request, body)
    if isinstance(live, web.Response):
        return live
    try:
        viewer, answer = await live.add_viewer(sdp)
    except ViewerError as exc:
        if exc.status == 503:
            raise web.HTTPServiceUnavailable(text=exc.reason, headers={"Retry-After": "10"}) from exc
        if exc.status == 409:
            raise web.HTTPConflict(text=exc.reason) from exc
        raise web.HTTPBadRequest(text=exc.reason) from exc
    location = f"/api/cameras/{request.match_info['camera_id']}/whep/{viewer.id}"
    response = web.Response(
        status=201, body=answer.encode(), content_type="application/sdp", headers={"Location": location}
    )
    for link in ice_server_links(request.app[SERVICES].settings.ice()):
        response.headers.add("Link", link)
    return response


def ice_server_links(ice: IceSettings) -> list[str]:
    """The configured STUN/TURN servers as WHEP `Link: <url>; rel="ice-server"` headers (RFC 9725)."""
    links = []
    for url in ice.servers:
        link = f'<{url}>; rel="ice-server"'
        if url.startswith("turn") and ice.username and ice.credential:
            link += f'; username="{ice.username}"; credential="{ice.credential}"; credential-type="password"'
        links.append(link)
    return links


@routes.delete(
    "/api/cameras/{camera_id}/whep/{viewer_id}",
    "WHEP: end a viewer",
    answers={200: Deleted},
    errors=(401, 404, 409),
)
async def stop(request: web.Request) -> web.Response:
    live = await _live(request)
    if isinstance(live, web.Response):
        return live
    if not await live.close_viewer(request.match_info["viewer_id"]):
        raise web.HTTPNotFound(text="no such viewer (it ended already)")
    return reply(Deleted, {"deleted": request.match_info["viewer_id"]})


@routes.get(
    "/api/cameras/{camera_id}/viewers",
    "the camera's live viewers on this process",
    answers={200: Viewers},
    errors=(401, 404, 409),
)
async def viewers(request: web.Request) -> web.Response:
    live = await _live(request)
    if isinstance(live, web.Response):
        return live
    return reply(
        Viewers,
        {
            "maxViewers": live.config.maxViewers,
            "viewers": [v.snapshot() for v in live.viewers.values()],
            "live": live.status(),
        },
    )
