"""`GET /api/health`: is the process up, and how many of its agents stream."""

from __future__ import annotations

import time

from aiohttp import web

from vsnative import __version__
from vsnative.api.keys import SERVICES
from vsnative.api.schemas import ServiceHealth
from vsnative.api.spec import ApiRoutes, reply

routes = ApiRoutes()


@routes.get(
    "/api/health",
    "liveness: 200 while every role of the process runs, 503 naming those down",
    answers={200: ServiceHealth, 503: ServiceHealth},
    public=True,
)
async def health(request: web.Request) -> web.Response:
    """200 while every role of the process runs; 503 naming those that are down (a role restarting after
    it failed, or given up: the process is then on its way out for its orchestrator to restart it)."""
    services = request.app[SERVICES]
    agents = services.pool.agents
    supervisor = services.supervisor
    down = supervisor.down() if supervisor is not None else []
    body: dict[str, object] = {
        "status": "degraded" if down else "ok",
        "version": __version__,
        "uptime": int(time.time() - services.started_at),
        "agents": len(agents),
        "healthyAgents": sum(1 for a in agents if a.healthy),
        "roles": {} if supervisor is None else {n: r.snapshot() for n, r in supervisor.roles.items()},
    }
    if down:
        body["down"] = down
        return reply(ServiceHealth, body, status=503, headers={"Retry-After": "5"})
    return reply(ServiceHealth, body)
