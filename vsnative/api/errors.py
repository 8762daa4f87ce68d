"""JSON errors for every route: 4xx with a reason, 5xx without a traceback."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from vsnative.api.keys import OUTAGE
from vsnative.control.outage import RETRY_AFTER_SECONDS, UNREACHABLE

log = logging.getLogger(__name__)


def json_error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason, "status": status}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = json_error(
            exc.status, exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        )
        for header in ("Allow", "WWW-Authenticate", "Retry-After"):  # e.g. 405 must say what is allowed
            if header in exc.headers:
                response.headers[header] = exc.headers[header]
        return response
    except UNREACHABLE as exc:  # Redis is away: try again soon, not a server bug
        request.app[OUTAGE].refused(f"{request.method} {request.path}", exc)
        response = json_error(503, "the control-plane backend is unreachable; retry shortly")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal error (see the service log)")
