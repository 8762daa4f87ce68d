"""The API's error mapping, one case per error: the backend away is 503 with Retry-After (logged once per
outage, not per request); a handler's own failure is a 500 without a traceback; HTTP errors keep their
status and headers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from vsnative.api.errors import error_middleware
from vsnative.api.keys import OUTAGE
from vsnative.control.outage import OutageLog
from vsnative.errors import BackendUnavailable


def raising(exc: BaseException) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(_: web.Request) -> web.StreamResponse:
        raise exc

    return handler


async def answer(exc: BaseException) -> tuple[int, dict[str, str], dict[str, object]]:
    app = web.Application(middlewares=[error_middleware])
    app[OUTAGE] = OutageLog()
    app.router.add_get("/x", raising(exc))
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/x")
        return resp.status, dict(resp.headers), await resp.json()


@pytest.mark.parametrize(
    "exc",
    [
        RedisConnectionError("Connection closed by server."),
        RedisTimeoutError("Timeout reading from socket"),
        ConnectionRefusedError(111, "Connection refused"),
        BackendUnavailable("backend unreachable: ..."),
    ],
    ids=["redis-connection", "redis-timeout", "socket-refused", "backend-unavailable"],
)
async def test_the_backend_away_is_503_with_retry_after(exc: BaseException) -> None:
    status, headers, body = await answer(exc)
    assert status == 503
    assert headers["Retry-After"] == "5"
    assert body == {"error": "the control-plane backend is unreachable; retry shortly", "status": 503}


@pytest.mark.parametrize(
    "exc",
    [FileNotFoundError(2, "No such file"), TimeoutError(), ValueError("bug")],
    ids=["own-file", "own-wait", "bug"],
)
async def test_a_handlers_own_failure_is_a_500_without_traceback(
    exc: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    status, _, body = await answer(exc)
    assert status == 500
    assert body == {"error": "internal error (see the service log)", "status": 500}
    assert any(r.exc_info for r in caplog.records), "the traceback goes to the log"


async def test_http_errors_keep_their_status_and_headers() -> None:
    status, headers, body = await answer(
        web.HTTPServiceUnavailable(text="full", headers={"Retry-After": "9"})
    )
    assert (status, headers["Retry-After"], body["error"]) == (503, "9", "full")


def test_an_outage_is_logged_once_then_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageLog()
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            outage.refused("GET /api/cameras", RedisConnectionError("down"))
    assert len([r for r in caplog.records if "backend unreachable" in r.getMessage()]) == 1
