"""BatchingSink: many writers' events reach the inner sink in few, large calls; a slow inner sink holds the
writers back; a failing one fails them, and close() flushes everything."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from telemetra.sinks.base import DeliveryError, RawEvent, SinkStats
from telemetra.sinks.batching import BatchingSink


class Inner:
    def __init__(self, *, gate: asyncio.Event | None = None, fail_after: int | None = None):
        self.stats = SinkStats()
        self.calls: list[list[RawEvent]] = []
        self.gate, self.fail_after = gate, fail_after
        self.started = self.closed = False

    async def start(self) -> None:
        self.started = True

    async def send(self, events: Sequence[RawEvent]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            self.stats.fail("broker gone", len(events))
            raise DeliveryError(self.stats)
        self.calls.append(list(events))
        self.stats.sent += len(events)

    async def close(self) -> None:
        self.closed = True
        if self.stats.failed:
            raise DeliveryError(self.stats)


def events(stream: str, count: int) -> list[RawEvent]:
    return [{"stream_id": stream, "n": i} for i in range(count)]


async def test_many_writers_make_few_calls_in_order_per_writer() -> None:
    inner = Inner()
    sink = BatchingSink(inner, linger=0.05)
    await sink.start()
    assert inner.started and sink.stats is inner.stats

    async def writer(stream: str) -> None:
        for _ in range(5):
            await sink.send(events(stream, 4))
            await asyncio.sleep(0.01)

    await asyncio.gather(*(writer(f"s{i}") for i in range(200)))
    await sink.close()
    assert inner.closed
    delivered = [event for call in inner.calls for event in call]
    assert len(delivered) == sink.accepted == inner.stats.sent == 200 * 5 * 4
    assert len(inner.calls) <= 20  # ~0.1 s of writing, a call per linger (plus a full batch or two)
    for stream in ("s0", "s77", "s199"):
        assert [e["n"] for e in delivered if e["stream_id"] == stream] == [0, 1, 2, 3] * 5


async def test_a_full_batch_goes_without_waiting_for_the_linger() -> None:
    inner = Inner()
    sink = BatchingSink(inner, linger=30, max_batch=100, max_buffered=1000)
    await sink.start()
    await sink.send(events("a", 150))
    async with asyncio.timeout(5):
        while not inner.calls:  # noqa: ASYNC110 - polling the fake is the point
            await asyncio.sleep(0.01)
    assert len(inner.calls[0]) == 150
    await sink.send(events("a", 3))
    await sink.close()  # does not wait for the linger either
    assert [len(call) for call in inner.calls] == [150, 3]


async def test_a_slow_inner_sink_holds_the_writers_back() -> None:
    gate = asyncio.Event()
    inner = Inner(gate=gate)
    sink = BatchingSink(inner, linger=0.01, max_batch=10, max_buffered=50)
    await sink.start()
    await sink.send(events("a", 10))  # taken by the flusher, which then waits at the gate
    await asyncio.sleep(0.05)
    for _ in range(5):
        await sink.send(events("a", 10))
    blocked = asyncio.create_task(sink.send(events("a", 10)))
    await asyncio.sleep(0.1)
    assert not blocked.done() and sink.buffered == 50
    gate.set()
    await asyncio.wait_for(blocked, 5)
    await sink.close()
    assert inner.stats.sent == 70


async def test_a_failing_inner_sink_fails_the_writers_and_close() -> None:
    inner = Inner(fail_after=1)
    sink = BatchingSink(inner, linger=0.01)
    await sink.start()
    await sink.send(events("a", 5))
    await asyncio.sleep(0.05)
    await sink.send(events("a", 5))  # accepted; its delivery fails
    await asyncio.wait_for(sink.failed.wait(), 5)
    assert isinstance(sink.failure, DeliveryError)
    with pytest.raises(DeliveryError):
        await sink.send(events("a", 1))
    with pytest.raises(DeliveryError):
        await sink.close()
    assert inner.closed and inner.stats.sent == 5 and inner.stats.failed == 5


async def test_misuse_is_refused() -> None:
    with pytest.raises(ValueError, match="max_buffered"):
        BatchingSink(Inner(), max_batch=10, max_buffered=5)
    sink = BatchingSink(Inner())
    with pytest.raises(RuntimeError):
        await sink.send(events("a", 1))
    await sink.start()
    await sink.close()
    with pytest.raises(RuntimeError):
        await sink.send(events("a", 1))
