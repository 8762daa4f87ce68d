"""`GET /api/agents`: state and counters of the agents of the whole cluster, each with its manager
(`?scope=local`: this process's only); `GET /api/agents/{cameraId}`: one camera's agent, from its owner."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from vsnative.api.keys import SERVICES
from vsnative.api.peers import cluster_agents, get_json, owner_url, this_manager

routes = web.RouteTableDef()


@routes.get("/api/agents")
async def list_agents(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    pool = services.pool
    me = this_manager(services)
    agents = [{**a.snapshot(), "manager": me} for a in pool.agents]
    unreachable: list[str] = []
    scope = request.query.get("scope", "cluster")
    if scope not in ("cluster", "local"):
        raise web.HTTPBadRequest(text="scope is cluster (the default) or local")
    if scope == "cluster":
        others, unreachable = await cluster_agents(request)
        agents += others
    return web.json_response(
        {
            "maxAgents": pool.max_agents,
            "manager": me,
            "agents": sorted(agents, key=lambda a: (str(a["cameraId"]), str(a["manager"]))),
            "unreachable": unreachable,
        }
    )


@routes.get("/api/agents/{camera_id}")
async def get_agent(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    camera_id = request.match_info["camera_id"]
    agent = services.pool.get(camera_id)
    if agent is not None:
        return web.json_response({**agent.snapshot(), "manager": this_manager(services)})
    url = await owner_url(services, camera_id)
    if url is not None:
        try:
            body = await get_json(request, f"{url}/api/agents?scope=local")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise web.HTTPServiceUnavailable(
                text=f"the manager running camera {camera_id!r} does not answer", headers={"Retry-After": "5"}
            ) from exc
        for found in body.get("agents", []):
            if found.get("cameraId") == camera_id:
                return web.json_response(found)
    raise web.HTTPNotFound(text=f"no agent runs camera {camera_id!r}")
