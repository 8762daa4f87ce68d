"""The parts of an agent recording does not need (detectors, live view, alerters), each under its own guard.

Only the framer and the recorder are essential to an agent. Any other part that raises is marked
`failed` with its reason (shown by `/api/agents` and `/metrics`), logged once with the traceback, and
restarted after a capped backoff, while recording goes on. A part that turns itself off because it
cannot work (a model that does not load) is `disabled`, with its reason, and not restarted.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from vsnative.backoff import Backoff
from vsnative.media.packets import EncodedPacket

log = logging.getLogger(__name__)
HEALTHY_RESET_SECONDS = 60.0  # a part that ran this long without failing starts its backoff afresh


class PartState(enum.StrEnum):
    RUNNING = "running"
    FAILED = "failed"  # raised: restarted after a backoff
    DISABLED = "disabled"  # turned itself off (its configuration or model cannot work): not restarted
    STOPPED = "stopped"


@dataclass
class Part:
    """One guarded part of an agent, as the API shows it."""

    name: str  # "detector", "webrtc", "alerter:mqtt", "alerts"...
    camera_id: str
    state: PartState = PartState.RUNNING
    reason: str | None = None
    failures: int = 0  # times it raised
    last_failure: str | None = None  # what it raised last (kept once it runs again)
    since: float = field(default_factory=time.time)  # wall clock of the last change of state
    retry_at: float = 0.0  # monotonic: a failed thread-side part is offered packets again from then on
    backoff: Backoff = field(default_factory=lambda: Backoff(1.0, 60.0), repr=False)

    def set(self, state: PartState, reason: str | None = None) -> None:
        if state != self.state or reason != self.reason:
            self.state, self.reason, self.since = state, reason, time.time()

    def fail(self, exc: BaseException) -> float:
        """It raised: counted, logged once with the traceback; returns the delay before it runs again."""
        self.failures += 1
        delay = self.backoff.next_delay()
        self.last_failure = f"{type(exc).__name__}: {exc}"[:500]
        self.set(PartState.FAILED, self.last_failure)
        log.error(
            "camera %s: %s failed (%s); recording goes on, %s restarts in %.0f s",
            self.camera_id,
            self.name,
            self.reason,
            self.name,
            delay,
            exc_info=exc,
        )
        return delay

    def snapshot(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state.value,
            "reason": self.reason,
            "failures": self.failures,
            "lastFailure": self.last_failure,
            "since": int(self.since),
        }


async def guarded(part: Part, run: Callable[[], Awaitable[None]]) -> None:
    """Run `run` until it returns or is cancelled; when it raises, mark the part failed, wait a capped
    backoff and run it again. `run` returning ends the part (stopped, or disabled once it set that)."""
    while True:
        started = time.monotonic()
        if part.state != PartState.DISABLED:
            part.set(PartState.RUNNING)
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the guard's job: what a part raises stays in that part
            if time.monotonic() - started > HEALTHY_RESET_SECONDS:
                part.backoff.reset()
            await asyncio.sleep(part.fail(exc))
            continue
        if part.state != PartState.DISABLED:
            part.set(PartState.STOPPED)
        return


class ThreadGuard:
    """The same guard for a part fed in the framer thread (`offer`): a part that raises is skipped for a
    backoff, then offered packets again; the framer thread and the other parts go on."""

    def __init__(
        self, part: Part, offer: Callable[[EncodedPacket], None], restart: Callable[[], None]
    ) -> None:
        self.part = part
        self._offer = offer
        self._restart = restart  # what the part does before it takes packets again (forget its state)

    def offer(self, packet: EncodedPacket, now: float) -> None:
        part = self.part
        if part.retry_at:
            if now < part.retry_at:
                return
            part.retry_at = 0.0
            self._restart()
            part.set(PartState.RUNNING)
        try:
            self._offer(packet)
        except Exception as exc:  # noqa: BLE001 - the guard's job, in the framer thread
            part.retry_at = now + part.fail(exc)
