"""HTTP API (aiohttp): `create_app(services)` wires the routes; handlers live in one module per resource."""

from __future__ import annotations

from aiohttp import web

from vsnative.api import agents, cameras, cluster, health
from vsnative.api.errors import error_middleware
from vsnative.api.keys import SERVICES, Services

__all__ = ["SERVICES", "Services", "create_app"]


def create_app(services: Services) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=1 << 20)
    app[SERVICES] = services
    app.router.add_routes(health.routes)
    app.router.add_routes(agents.routes)
    app.router.add_routes(cameras.routes)
    app.router.add_routes(cluster.routes)
    return app
