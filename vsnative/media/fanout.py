"""Packet fan-out: one producer (the framer) to many subscribers, each with its own bounded queue.

The producer never waits. A subscriber that falls behind loses its backlog, receives one GAP marker and
resumes at the next video keyframe. Only the producer ends the stream (`close`); a subscriber leaves by
`unsubscribe`, which never affects the producer or the other subscribers.
"""

from __future__ import annotations

import asyncio
import collections
import enum
from collections.abc import AsyncIterator
from typing import Final

from vsnative.media.packets import EncodedPacket


class Marker(enum.Enum):
    GAP = "gap"  # packets were lost between the previous item and the next one


GAP: Final = Marker.GAP
Item = EncodedPacket | Marker


class PacketQueue:
    """A bounded queue with the fan-out's loss rules: it starts at a video keyframe; on overflow it loses
    its backlog, holds one GAP marker and resumes at the next keyframe (losses counted in `dropped`)."""

    def __init__(self, maxsize: int, audio_only: bool = False) -> None:
        self.maxsize = maxsize
        self.dropped = 0  # packets discarded because the consumer was too slow
        self.gaps = 0
        self._queue: collections.deque[Item] = collections.deque()
        self._audio_only = audio_only  # takes audio alone, from any packet on (no keyframe to wait for)
        self._need_keyframe = not audio_only

    def _offer(self, packet: EncodedPacket) -> bool:
        """Queue a packet by the rules above; True when the queue changed."""
        if self._audio_only and packet.is_video:
            return False
        if self._need_keyframe:
            if not (packet.keyframe and packet.is_video):
                if self.gaps:  # lost after an overflow (joining mid-GOP is not a loss)
                    self.dropped += 1
                return False
            self._need_keyframe = False
        queue = self._queue
        if len(queue) >= self.maxsize:
            self.dropped += sum(1 for item in queue if isinstance(item, EncodedPacket)) + 1
            self.gaps += 1
            queue.clear()
            queue.append(GAP)
            self._need_keyframe = not self._audio_only
            return True
        queue.append(packet)
        return True

    def drain(self) -> list[Item]:
        items = list(self._queue)
        self._queue.clear()
        return items

    def __len__(self) -> int:
        return len(self._queue)


class Subscription(PacketQueue):
    """A subscriber's view of the fan-out: `async for` over it ends when the producer closes."""

    def __init__(self, fanout: FanOut, name: str, maxsize: int, audio_only: bool = False) -> None:
        super().__init__(maxsize, audio_only)
        self.name = name
        self._fanout = fanout
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _offer(self, packet: EncodedPacket) -> bool:
        changed = super()._offer(packet)
        if changed:
            self._wake()
        return changed

    def _end(self) -> None:
        self._closed = True
        self._wake()

    def resume_mid_gop(self) -> None:
        """Accept packets at once instead of waiting for a keyframe (the subscriber already has the GOP's
        start from elsewhere). Call right after subscribing."""
        if not self.gaps:
            self._need_keyframe = False

    def get_nowait(self) -> Item | None:
        """Next item if one is queued, else None."""
        return self._queue.popleft() if self._queue else None

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        await self._waiter

    async def get(self) -> Item | None:
        """Next item; None once the producer has closed and the queue is drained."""
        while not self._queue:
            if self._closed:
                return None
            await self._wait()
        return self._queue.popleft()

    def __aiter__(self) -> AsyncIterator[Item]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Item]:
        while (item := await self.get()) is not None:
            yield item

    def unsubscribe(self) -> None:
        if self in self._fanout._subscribers:
            self._fanout._subscribers.discard(self)
            self._fanout._left[self.name.split("-", 1)[0]] += self.dropped  # its losses stay counted
        self._end()

    @property
    def backlog(self) -> int:
        return len(self._queue)


class FanOut:
    """Distributes packets to subscribers. All methods run on the event loop thread."""

    def __init__(self, default_maxsize: int = 256) -> None:
        self.default_maxsize = default_maxsize
        self._subscribers: set[Subscription] = set()
        self._left: collections.Counter[str] = collections.Counter()  # drops of subscribers that left
        self.closed = False
        self.published = 0

    def subscribe(self, name: str, maxsize: int | None = None, audio_only: bool = False) -> Subscription:
        sub = Subscription(self, name, maxsize or self.default_maxsize, audio_only)
        if self.closed:
            sub._end()
        else:
            self._subscribers.add(sub)
        return sub

    def publish(self, packet: EncodedPacket) -> None:
        """Hand a packet to every subscriber without ever waiting."""
        if self.closed:
            return
        self.published += 1
        for sub in self._subscribers:
            sub._offer(packet)

    def close(self) -> None:
        """End the stream for all subscribers (producer only)."""
        self.closed = True
        for sub in self._subscribers:
            sub._end()
        self._subscribers.clear()

    @property
    def dropped(self) -> int:
        """Packets every subscriber ever lost (those that left included)."""
        return sum(sub.dropped for sub in self._subscribers) + sum(self._left.values())

    def dropped_by(self) -> dict[str, int]:
        """The same, by the kind of subscriber (the part of its name before the first "-")."""
        counts = collections.Counter(self._left)
        for sub in self._subscribers:
            counts[sub.name.split("-", 1)[0]] += sub.dropped
        return dict(counts)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def names(self) -> list[str]:
        """The subscriptions' names ("detector", "viewer-1a2b3c4d"...), sorted."""
        return sorted(sub.name for sub in self._subscribers)
