"""The one exception tree of vsnative: every error we raise on purpose derives from VsnError."""

from __future__ import annotations

from enum import StrEnum


class VsnError(Exception):
    """Base class of every error vsnative raises on purpose."""


class ConfigError(VsnError):
    """A settings file or value is invalid. `problems` holds (field, message) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = "; ".join(f"{field}: {message}" for field, message in problems)
        super().__init__(f"{source}: {lines}")

    def lines(self) -> list[str]:
        """One `field: message` line per problem, prefixed by the source file."""
        return [f"{self.source}: {field}: {message}" for field, message in self.problems]


class NotFoundError(VsnError):
    """A camera (or other record) does not exist."""


class ConflictError(VsnError):
    """A record already exists, or the request contradicts the current state."""


class BackendUnavailable(VsnError):
    """The control-plane backend (Redis) cannot be reached right now; retry later."""


class PluginError(VsnError):
    """A plugin name is unknown or a plugin cannot be built from its configuration."""


class StreamFailure(StrEnum):
    """Why a camera stream failed; shown in the agent state."""

    UNREACHABLE = "unreachable"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    UNSUPPORTED = "unsupported_codec"
    MALFORMED = "malformed_stream"
    STALLED = "stalled"
    ENDED = "ended"
    CONFIG = "config_error"


READABLE = {  # what a person reads in the UI and the API; the raw text stays in the log and `detail`
    StreamFailure.UNREACHABLE: "camera unreachable",
    StreamFailure.UNAUTHORIZED: "wrong username or password",
    StreamFailure.NOT_FOUND: "path not found on the camera",
    StreamFailure.UNSUPPORTED: "no H.264 or H.265 video in the camera's stream",
    StreamFailure.MALFORMED: "not an RTSP video stream",
    StreamFailure.STALLED: "the camera stopped sending video",
    StreamFailure.ENDED: "the camera closed the stream",
}


PERMANENT_FAILURES = frozenset(
    {StreamFailure.UNAUTHORIZED, StreamFailure.NOT_FOUND, StreamFailure.UNSUPPORTED, StreamFailure.CONFIG}
)


class StreamError(VsnError):
    """A framer could not open or keep reading a stream. The message never holds credentials."""

    def __init__(self, failure: StreamFailure, message: str) -> None:
        self.failure = failure
        self.detail = message  # what the framer (FFmpeg) said, without credentials
        super().__init__(f"{failure.value}: {message}")

    @property
    def readable(self) -> str:
        """The failure as a person reads it ("wrong username or password"); a configuration error says
        its own message."""
        return READABLE.get(self.failure, self.detail)

    @property
    def permanent(self) -> bool:
        """True when retrying soon cannot help (bad credentials, wrong path, codec we cannot record)."""
        return self.failure in PERMANENT_FAILURES
