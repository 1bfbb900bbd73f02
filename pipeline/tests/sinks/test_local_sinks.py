"""The file sink and the in-process bus: nothing lost, and a slow reader slows the writer down."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from telemetra.sinks import open_sink
from telemetra.sinks.file import FileSink
from telemetra.sinks.memory import InProcessBus, MemorySink

EVENTS = [{"event_id": str(i), "stream_id": "s", "type": "viewers", "ts": "2026-01-01T00:00:00Z", "viewers": i}
          for i in range(10)]  # fmt: skip


async def test_file_sink_writes_json_lines(tmp_path: Path) -> None:
    sink = open_sink(f"file://{tmp_path}/out/events.jsonl")
    assert isinstance(sink, FileSink)
    await sink.start()
    await sink.send(EVENTS[:4])
    await sink.send(EVENTS[4:])
    await sink.close()
    lines = (tmp_path / "out/events.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == EVENTS
    assert sink.stats.sent == 10 and sink.stats.failed == 0


async def test_bus_delivers_every_batch_to_every_subscriber() -> None:
    bus = InProcessBus()
    first, second = bus.subscribe(), bus.subscribe()
    sink = MemorySink(bus)
    await sink.send(EVENTS[:5])
    await sink.send(EVENTS[5:])
    await bus.close()
    for subscription in (first, second):
        assert [event async for batch in subscription for event in batch] == EVENTS


async def test_bus_applies_backpressure_instead_of_buffering_without_bound() -> None:
    bus = InProcessBus(capacity=2)
    subscription = bus.subscribe()
    await bus.publish(EVENTS[:1])
    await bus.publish(EVENTS[1:2])
    blocked = asyncio.create_task(bus.publish(EVENTS[2:3]))
    await asyncio.sleep(0.05)
    assert not blocked.done()  # the queue is full: the publisher waits
    assert await subscription.queue.get() == EVENTS[:1]
    await asyncio.wait_for(blocked, 1)
    subscription.cancel()
    await asyncio.wait_for(bus.publish(EVENTS[3:4]), 1)  # a cancelled subscriber no longer holds anyone up


def test_unknown_sink_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported sink"):
        open_sink("ftp://example")
