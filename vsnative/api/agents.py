"""`GET /api/agents`: state and counters of the agents this process runs."""

from __future__ import annotations

from aiohttp import web

from vsnative.api.keys import SERVICES

routes = web.RouteTableDef()


@routes.get("/api/agents")
async def list_agents(request: web.Request) -> web.Response:
    pool = request.app[SERVICES].pool
    return web.json_response(
        {
            "maxAgents": pool.max_agents,
            "agents": [a.snapshot() for a in sorted(pool.agents, key=lambda a: a.camera.id)],
        }
    )


@routes.get("/api/agents/{camera_id}")
async def get_agent(request: web.Request) -> web.Response:
    agent = request.app[SERVICES].pool.get(request.match_info["camera_id"])
    if agent is None:
        raise web.HTTPNotFound(text=f"no agent runs camera {request.match_info['camera_id']!r} here")
    return web.json_response(agent.snapshot())
