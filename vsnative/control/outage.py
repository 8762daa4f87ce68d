"""The backend being away: which errors say so, and how the API answers and logs them.

While Redis is unreachable, every route that needs it answers 503 with `Retry-After` (never a 500 with a
traceback), `/metrics` still serves the local figures with `vsnative_backend_up 0`, and one log line per
outage says so (then one per minute with the count of requests turned away), not one per request.
"""

from __future__ import annotations

import contextlib
import logging
import time

from vsnative.errors import BackendUnavailable

log = logging.getLogger(__name__)

#: Errors a backend raises while it is unreachable (redis-py's derive from these builtins or VsnError).
BACKEND_ERRORS: tuple[type[BaseException], ...] = (OSError, ConnectionError, TimeoutError)
#: ...of which an API handler answers 503 for: not OSError nor TimeoutError as such, which a handler's own
#: files and waits raise too (a clip gone is a 404 or a 500 of its own, not an outage)
UNREACHABLE: tuple[type[BaseException], ...] = (BackendUnavailable, ConnectionError)
with contextlib.suppress(ImportError):  # redis is needed only by the Redis backend
    from redis.exceptions import RedisError

    BACKEND_ERRORS += (RedisError,)
    UNREACHABLE += (RedisError,)

RETRY_AFTER_SECONDS = 5
LOG_EVERY_SECONDS = 60.0


class OutageLog:
    """Logs an outage once, then at most once a minute with what it cost."""

    def __init__(self) -> None:
        self._logged_at = -LOG_EVERY_SECONDS
        self._refused = 0

    def refused(self, what: str, exc: BaseException) -> None:
        """A request turned away (503) because the backend is unreachable."""
        self._refused += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_SECONDS:
            log.warning(
                "backend unreachable (%s): %s answered 503 (%d requests since the last report)",
                type(exc).__name__,
                what,
                self._refused,
            )
            self._logged_at, self._refused = now, 0
