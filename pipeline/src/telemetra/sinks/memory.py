"""The in-process bus: the embedded platform's stand-in for Kafka.

Each subscriber gets a bounded queue of batches. Publishing awaits while any subscriber's queue is full, so a
slow consumer slows the producer down instead of losing events or growing memory without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from telemetra.sinks.base import RawEvent, SinkStats

_CLOSED: list[RawEvent] = []  # sentinel batch: the bus was closed


class Subscription:
    def __init__(self, bus: InProcessBus, capacity: int):
        self._bus = bus
        self.queue: asyncio.Queue[list[RawEvent]] = asyncio.Queue(maxsize=capacity)

    def __aiter__(self) -> AsyncIterator[list[RawEvent]]:
        return self._batches()

    async def _batches(self) -> AsyncIterator[list[RawEvent]]:
        while (batch := await self.queue.get()) is not _CLOSED:
            yield batch

    def cancel(self) -> None:
        self._bus.unsubscribe(self)


class InProcessBus:
    def __init__(self, capacity: int = 256):
        self.capacity = capacity  # batches buffered per subscriber
        self._subscribers: list[Subscription] = []

    def subscribe(self) -> Subscription:
        subscription = Subscription(self, self.capacity)
        self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    async def publish(self, events: Sequence[RawEvent]) -> None:
        batch = list(events)
        for subscriber in list(self._subscribers):
            await subscriber.queue.put(batch)

    async def close(self) -> None:
        for subscriber in list(self._subscribers):
            await subscriber.queue.put(_CLOSED)


_BUSES: dict[str, InProcessBus] = {}


def get_bus(name: str = "default") -> InProcessBus:
    """The named bus of this process (``memory://NAME``), created on first use."""
    return _BUSES.setdefault(name, InProcessBus())


class MemorySink:
    """Publishes to an in-process bus; delivery is immediate, so nothing can fail after ``send`` returns."""

    def __init__(self, bus: InProcessBus):
        self.bus = bus
        self.stats = SinkStats()

    @classmethod
    def from_url(cls, url: str) -> MemorySink:
        return cls(get_bus(url.removeprefix("memory://") or "default"))

    async def start(self) -> None:
        return None

    async def send(self, events: Sequence[RawEvent]) -> None:
        await self.bus.publish(events)
        self.stats.sent += len(events)

    async def close(self) -> None:
        return None
