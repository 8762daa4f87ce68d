"""A loop that was cancelled stops, even when asyncio lost the CancelledError on the way.

Python 3.11's `asyncio.wait_for` returns the awaited result instead of raising when that result is ready in
the same loop iteration as the cancellation (cpython gh-86296; 3.12 rebuilt `wait_for` on
`asyncio.timeout` and fixed it). redis-py sends every command through `wait_for` (its socket timeout), so an
agents-monitor sweeping Redis every second ignored the SIGTERM that cancelled it and was still running 20 s
later in CI (1 run of about 30): its orchestrator would have killed it with -9. The request is not lost
entirely: `wait_for` never uncancels, so `Task.cancelling()` stays above 0. A long-lived loop passes through
`check()` (or `sleep()`) once a round and stops there.

Where not to call them: cleanup code that runs after a CancelledError was caught (it runs with
`cancelling()` > 0 on purpose), and a task that was the parent of a TaskGroup whose child failed: 3.11's
TaskGroup then leaves its parent counted as cancelled (the supervisor runs each role in a task of its own
for this reason). The loops that call them: the agents-monitor's, the agents-manager's, retention's.
"""

from __future__ import annotations

import asyncio


def requested() -> bool:
    """This task was cancelled and has not taken it back (`uncancel`)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def check() -> None:
    """Raise the CancelledError of a cancellation this task was sent and did not see."""
    if requested():
        raise asyncio.CancelledError


async def sleep(seconds: float) -> None:
    """`asyncio.sleep` between a loop's rounds, which first stops a loop cancelled meanwhile."""
    check()
    await asyncio.sleep(seconds)
