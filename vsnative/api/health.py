"""`GET /api/health`: is the process up, and how many of its agents stream."""

from __future__ import annotations

import time

from aiohttp import web

from vsnative import __version__
from vsnative.api.keys import SERVICES

routes = web.RouteTableDef()


@routes.get("/api/health")
async def health(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    agents = services.pool.agents
    return web.json_response(
        {
            "status": "ok",
            "version": __version__,
            "uptime": int(time.time() - services.started_at),
            "agents": len(agents),
            "healthyAgents": sum(1 for a in agents if a.healthy),
        }
    )
