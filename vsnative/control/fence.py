"""Fencing on the write path: an agent writes only while it can prove it still owns its camera.

A lease is held in the backend for `ttl` seconds from when the backend granted or renewed it, which is
after we sent the request. So the agent's own deadline is the *send* time of the last successful request
plus the TTL, minus a margin (for clock-rate differences between the two machines and the few
microseconds between a check and the write it guards), on the monotonic clock. The recorder checks it
before every packet it muxes, every clip it opens and every index line it publishes; the data plane
checks it before handing a packet on (live view, detection). A process that wakes from a pause (SIGSTOP,
a VM freeze, CPU throttling, a long GC) sees its deadline passed before it touches a file, whatever its
renew loop has not yet noticed. A renewal that succeeds again (nobody took the camera meanwhile) moves
the deadline on, and recording resumes at the next keyframe; a lease lost is revoked at once.

The deadline is a float read by the mux and framer threads and written by the event loop: one
attribute load, atomic in CPython, and monotonic time never goes back.
"""

from __future__ import annotations

import time

MARGIN_FRACTION = 0.2  # of the TTL: 3 s at the default 15 s lease, renewed every 5 s


class Fence:
    """The write permission of one lease (`token`), valid until `deadline` (monotonic)."""

    def __init__(self, token: int, ttl: float, sent_at: float, margin: float | None = None) -> None:
        self.token = token
        self.ttl = ttl
        self.margin = ttl * MARGIN_FRACTION if margin is None else margin
        self.deadline = sent_at + ttl - self.margin
        self.revoked = False

    def valid(self, now: float | None = None) -> bool:
        """May the agent write now (`now`: monotonic, when the caller has it already)? Any thread."""
        return not self.revoked and (time.monotonic() if now is None else now) < self.deadline

    def renewed(self, sent_at: float) -> None:
        """The renewal sent at `sent_at` (monotonic) succeeded: the deadline moves on."""
        self.deadline = max(self.deadline, sent_at + self.ttl - self.margin)

    def revoke(self) -> None:
        """The lease is lost: nothing more is written under it, whatever the deadline says."""
        self.revoked = True

    def remaining(self) -> float:
        """Seconds left before writing stops (negative once passed); 0 when revoked."""
        return 0.0 if self.revoked else self.deadline - time.monotonic()
