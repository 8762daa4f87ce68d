"""HTTP API (aiohttp): `create_app(services)` wires the routes; handlers live in one module per resource."""

from __future__ import annotations

from aiohttp import web

from vsnative.api import (
    agents,
    cameras,
    clips,
    cluster,
    events,
    health,
    metrics,
    openapi,
    snapshots,
    ui,
    whep,
)
from vsnative.api.auth import bearer_auth
from vsnative.api.errors import error_middleware
from vsnative.api.keys import OPERATIONS, OUTAGE, SERVICES, Services
from vsnative.api.peers import PEER_FAILURES, PeerFailures, peer_session
from vsnative.control.outage import OutageLog

__all__ = ["SERVICES", "Services", "create_app"]
MAX_REQUEST_BYTES = 1 << 20


def create_app(services: Services, token: str | None = None) -> web.Application:
    """The application; with `token`, every route but /api/health needs `Authorization: Bearer <token>`."""
    middlewares = [error_middleware] + ([bearer_auth(token)] if token else [])
    app = web.Application(middlewares=middlewares, client_max_size=MAX_REQUEST_BYTES)
    app[SERVICES] = services
    app[OUTAGE] = OutageLog()
    app[PEER_FAILURES] = PeerFailures()  # calls to other pods that got no answer
    app.cleanup_ctx.append(peer_session)  # the client other pods are asked with
    operations = {}
    for module in (health, agents, cameras, cluster, clips, events, metrics, openapi, snapshots, whep, ui):
        app.router.add_routes(module.routes.table)
        operations.update(module.routes.operations)
    app[OPERATIONS] = operations
    return app
