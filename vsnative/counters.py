"""Per-agent counters, shown by `GET /api/agents` and exported as metrics. Mutated on the event loop only."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class AgentCounters:
    packets: int = 0
    keyframes: int = 0
    bytes: int = 0
    clips: int = 0
    reconnects: int = 0
    recovered: int = 0  # unfinished clips a writer left (killed, fenced off), finalised at start
    unrecoverable: int = 0  # ...and those nothing could be read from (removed) or whose recovery failed
    last_clip_end: float = 0.0  # wall clock

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)
