"""`/api/cameras`: list, read, create, replace, patch, delete. `rtspUrl` is write-only: never returned."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from vsnative.api.keys import SERVICES, Services
from vsnative.api.schemas import CameraList, CameraView, Error
from vsnative.api.spec import ApiRoutes, reply
from vsnative.control.leases import Lease
from vsnative.errors import ConflictError, NotFoundError
from vsnative.log import redact
from vsnative.models import RUNTIME_FIELDS, Camera, CameraSettings

routes = ApiRoutes()


def invalid(exc: ValidationError) -> web.Response:
    fields = [
        {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": redact(err["msg"])}
        for err in exc.errors()
    ]
    reason = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return reply(Error, {"error": f"invalid camera: {reason}", "status": 400, "fields": fields}, status=400)


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise web.HTTPBadRequest(text=f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    written = sorted(set(body) & set(RUNTIME_FIELDS))
    if written:
        raise web.HTTPBadRequest(text=f"fields written by the service only: {', '.join(written)}")
    return body


def record(services: Services, camera: Camera, holder: Lease | None) -> dict[str, Any]:
    """What the API shows of a camera: public fields, its owner (manager id) and its agent's state here."""
    public = camera.public()
    public["owner"] = holder.owner if holder else None
    agent = services.pool.get(camera.id)
    public["state"] = "excluded" if camera.excluded else (agent.state.value if agent else None)
    return public


async def view(services: Services, camera: Camera) -> dict[str, Any]:
    return record(services, camera, (await services.leases.holders([camera.id])).get(camera.id))


def camera_id(request: web.Request) -> str:
    return request.match_info["camera_id"]


async def wake(services: Services, camera: Camera) -> None:
    """A camera that should run now gets an orphan request at once, not at the next monitor sweep."""
    if not camera.excluded:
        await services.queue.publish(camera.id)


@routes.get("/api/cameras", "every camera", answers={200: CameraList}, errors=(401,))
async def list_cameras(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    cameras = await services.store.list_cameras()
    holders = await services.leases.holders([c.id for c in cameras])
    return reply(CameraList, {"cameras": [record(services, c, holders.get(c.id)) for c in cameras]})


@routes.get("/api/cameras/{camera_id}", "one camera", answers={200: CameraView}, errors=(401, 404))
async def get_camera(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    camera = await services.store.get(camera_id(request))
    if camera is None:
        raise web.HTTPNotFound(text=f"no camera {camera_id(request)!r}")
    return reply(CameraView, await view(services, camera))


@routes.post(
    "/api/cameras",
    "add a camera (its agent starts at once unless excluded)",
    body=CameraSettings,
    answers={201: CameraView},
    errors=(400, 401, 409),
)
async def create_camera(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await json_body(request)
    try:
        camera = Camera.model_validate(body)
    except ValidationError as exc:
        return invalid(exc)
    try:
        await services.store.create(camera)
    except ConflictError as exc:
        raise web.HTTPConflict(text=str(exc)) from exc
    await wake(services, camera)
    return reply(
        CameraView,
        await view(services, camera),
        status=201,
        headers={"Location": f"/api/cameras/{camera.id}"},
    )


async def replace_or_create(services: Services, camera: Camera) -> tuple[Camera, int]:
    """Replace the camera, or create it (201) when there is none; a create that another PUT or POST beat
    to it replaces what that one made, as PUT would have had it come second."""
    for _ in range(3):
        try:
            return await services.store.replace(camera), 200
        except NotFoundError:
            pass
        try:
            return await services.store.create(camera), 201
        except ConflictError:
            continue
    raise ConflictError(f"camera {camera.id!r} kept being created and deleted meanwhile; try again")


@routes.put(
    "/api/cameras/{camera_id}",
    "replace a camera's fields, or create it (201)",
    body=CameraSettings,
    body_omits=("id",),
    answers={200: CameraView, 201: CameraView},
    errors=(400, 401, 409),
)
async def replace_camera(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await json_body(request)
    cid = camera_id(request)
    if body.setdefault("id", cid) != cid:
        raise web.HTTPBadRequest(text=f"the body's id {body['id']!r} differs from the URL's {cid!r}")
    try:
        camera = Camera.model_validate(body)
    except ValidationError as exc:
        return invalid(exc)
    try:
        saved, status = await replace_or_create(services, camera)
    except ConflictError as exc:  # edited by others again and again while this write was being made
        raise web.HTTPConflict(text=str(exc)) from exc
    await wake(services, saved)
    return reply(CameraView, await view(services, saved), status=status)


@routes.patch(
    "/api/cameras/{camera_id}",
    "change some of a camera's fields (the others are kept)",
    body=CameraSettings,
    body_omits=("id",),
    answers={200: CameraView},
    errors=(400, 401, 404, 409),
)
async def patch_camera(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await json_body(request)
    if "id" in body and body["id"] != camera_id(request):
        raise web.HTTPBadRequest(text="a camera's id cannot change")
    body.pop("id", None)
    try:
        saved = await services.store.patch(camera_id(request), body)
    except NotFoundError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    except ConflictError as exc:
        raise web.HTTPConflict(text=str(exc)) from exc
    except ValidationError as exc:
        return invalid(exc)
    await wake(services, saved)
    return reply(CameraView, await view(services, saved))


@routes.delete(
    "/api/cameras/{camera_id}",
    "remove a camera (its agent stops; its recordings stay until retention removes them)",
    answers={204: "deleted"},
    errors=(401, 404),
)
async def delete_camera(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if not await services.store.delete(camera_id(request)):
        raise web.HTTPNotFound(text=f"no camera {camera_id(request)!r}")
    return web.Response(status=204)
