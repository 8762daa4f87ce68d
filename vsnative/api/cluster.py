"""`GET /api/cluster`: the managers that announced themselves, their agents, the orphan backlog; and
`GET /api/cluster/scale`: how many manager pods the cameras need (what KEDA scales the Deployment on)."""

from __future__ import annotations

import math

from aiohttp import web

from vsnative.api.keys import SERVICES
from vsnative.api.schemas import Cluster, Scale
from vsnative.api.spec import ApiRoutes, reply

routes = ApiRoutes()


@routes.get("/api/cluster", "managers, capacity, orphan backlog", answers={200: Cluster}, errors=(401, 503))
async def cluster(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    managers = await services.registry.managers()
    cameras = await services.store.list_cameras()
    holders = await services.leases.holders([c.id for c in cameras])
    return reply(
        Cluster,
        {
            "backend": services.settings.backend,
            "managers": managers,
            "capacity": sum(m.get("maxAgents", 0) for m in managers),
            "orphanBacklog": await services.queue.backlog(),
            "cameras": len(cameras),
            "excluded": sum(1 for c in cameras if c.excluded),
            "owned": len(holders),
            "unowned": sorted(c.id for c in cameras if not c.excluded and c.id not in holders),
        },
    )


def managers_needed(cameras_to_own: int, slots_per_pod: int) -> int:
    """Manager pods for every camera to be owned: ceil(cameras to own / slots per pod), at least one.

    Cameras to own are all the cameras not excluded, owned or waiting: the orphan backlog is part of them
    (a waiting camera is one of the cameras, so it is not added twice), and the answer never falls below
    what the current cameras need, so removing pods never orphans cameras (the flapping of scaling on the
    backlog alone: with nothing waiting it scaled back to the minimum, orphaning the removed pods' cameras;
    and `lagCount: 1` asked for one pod per waiting camera)."""
    return max(1, math.ceil(cameras_to_own / max(1, slots_per_pod)))


@routes.get(
    "/api/cluster/scale",
    "manager pods the cameras need: ceil(cameras to own / slots per pod), what KEDA scales the manager "
    "Deployment on",
    answers={200: Scale},
    errors=(401, 503),
)
async def scale(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    cameras = await services.store.list_cameras()
    to_own = sum(1 for c in cameras if not c.excluded)
    slots = services.pool.max_agents  # every pod of the manager Deployment has the same VSN_MAX_AGENTS
    return reply(
        Scale,
        {
            "camerasToOwn": to_own,
            "slotsPerPod": slots,
            "orphanBacklog": await services.queue.backlog(),
            "managersNeeded": managers_needed(to_own, slots),
        },
    )
