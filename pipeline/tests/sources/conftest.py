"""A sink that keeps what it is sent, for the source tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from telemetra.sinks.base import RawEvent, SinkStats


class CollectingSink:
    def __init__(self, fail_with: Exception | None = None):
        self.stats = SinkStats()
        self.batches: list[list[RawEvent]] = []
        self.fail_with = fail_with
        self._arrived = asyncio.Event()

    @property
    def events(self) -> list[RawEvent]:
        return [event for batch in self.batches for event in batch]

    async def start(self) -> None:
        return None

    async def send(self, events: Sequence[RawEvent]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.batches.append(list(events))
        self.stats.sent += len(events)
        self._arrived.set()

    async def close(self) -> None:
        return None

    async def wait_for(self, count: int) -> list[RawEvent]:
        """Wait until at least ``count`` events arrived; fails the test after 10 s."""
        async with asyncio.timeout(10):
            while len(self.events) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.events


@pytest.fixture
def sink() -> CollectingSink:
    return CollectingSink()
