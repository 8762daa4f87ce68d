"""`GET /api/cluster`: the managers that announced themselves, their agents, the orphan backlog."""

from __future__ import annotations

from aiohttp import web

from vsnative.api.keys import SERVICES

routes = web.RouteTableDef()


@routes.get("/api/cluster")
async def cluster(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    managers = await services.registry.managers()
    cameras = await services.store.list_cameras()
    holders = await services.leases.holders([c.id for c in cameras])
    return web.json_response(
        {
            "backend": services.settings.backend,
            "managers": managers,
            "capacity": sum(m.get("maxAgents", 0) for m in managers),
            "orphanBacklog": await services.queue.backlog(),
            "cameras": len(cameras),
            "excluded": sum(1 for c in cameras if c.excluded),
            "owned": len(holders),
            "unowned": sorted(c.id for c in cameras if not c.excluded and c.id not in holders),
        }
    )
