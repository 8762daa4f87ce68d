"""Optional bearer-token authentication for every API, clip and metrics route (`/api/health` stays open)."""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from vsnative.api.errors import json_error

PUBLIC = frozenset({"/api/health"})
PROTECTED_PREFIXES = ("/api/", "/metrics")


def needs_token(path: str) -> bool:
    """Every API, clip and metrics route but /api/health (the UI's files are public: they hold no data)."""
    return path not in PUBLIC and path.startswith(PROTECTED_PREFIXES)


def bearer_auth(token: str) -> Middleware:
    """Require `Authorization: Bearer <token>` (or `?access_token=`, for <video src> links)."""
    expected = token.encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not needs_token(request.path):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        given = header[7:].strip() if header.startswith("Bearer ") else request.query.get("access_token", "")
        if not hmac.compare_digest(given.encode(), expected):
            response = json_error(401, "missing or wrong bearer token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="vsnative"'
            return response
        return await handler(request)

    return check
