"""Process logging: one JSON line per record, with RTSP credentials redacted from every message."""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

import orjson

_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s'\"]*):(?P<pw>[^@/\s'\"]*)@"
)


_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"]*@")


def redact(text: str) -> str:
    """Replace the password of every `scheme://user:password@` in text by `***` (for the log, where the
    user name helps an operator)."""
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


def without_userinfo(text: str) -> str:
    """Replace the whole `user:password@` of every URL in text by `***@` (for API answers and the UI,
    which show no part of a credential)."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}***@", redact(text))


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: ts, level, logger, msg, and any `extra` fields."""

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class RedactingFormatter(logging.Formatter):
    """Plain-text formatter that still redacts credentials (for humans at a terminal)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class MalformedRequestFilter(logging.Filter):
    """aiohttp logs a malformed HTTP request (a client's fault, answered 400) as an error with a traceback;
    log it as one warning line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "aiohttp.server" and record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            if 400 <= getattr(exc, "code", 0) < 500:
                record.msg = f"{record.getMessage()}: {type(exc).__name__}: {exc}".replace("\n", " ")
                record.args = ()
                record.exc_info = None
                record.exc_text = None
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def configure(level: str = "INFO", json_lines: bool = True) -> None:
    """Install the single process-wide handler on the root logger (entry points only)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(MalformedRequestFilter())
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # libav prints through PyAV's logging bridge; keep it quiet unless asked for.
    logging.getLogger("libav").setLevel(logging.ERROR)
