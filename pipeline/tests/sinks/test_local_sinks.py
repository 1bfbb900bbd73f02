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


# -- the file sink is durable --------------------------------------------------------------------------------
def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


async def test_file_sink_appends_by_default_and_overwrites_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    for url_sink in (open_sink(f"file://{path}"), open_sink(f"file://{path}")):
        await url_sink.start()
        await url_sink.send(EVENTS[:3])
        await url_sink.close()
    assert len(lines_of(path)) == 6
    overwriting = open_sink(f"file://{path}", overwrite=True)
    assert len(lines_of(path)) == 6  # nothing is truncated before start()
    await overwriting.start()
    await overwriting.send(EVENTS[:2])
    await overwriting.close()
    assert [orjson.loads(line) for line in lines_of(path)] == EVENTS[:2]


async def test_file_sink_writes_within_its_flush_interval_without_being_closed(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = FileSink(path, flush_interval=0.05)
    await sink.start()
    await sink.send(EVENTS)
    assert lines_of(path) == []  # buffered: small writes are batched
    for _ in range(500):  # up to 5 s: a loaded machine may be late, the sink's timer is not skipped
        if len(lines_of(path)) == len(EVENTS):
            break
        await asyncio.sleep(0.01)
    assert len(lines_of(path)) == len(EVENTS)
    assert sink.stats.sent == len(EVENTS)
    await sink.close()


async def test_file_sink_buffer_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = FileSink(path, flush_interval=3600, max_buffer=200)
    await sink.start()
    await sink.send(EVENTS[:1])
    assert lines_of(path) == []
    await sink.send(EVENTS[1:4])  # past 200 bytes: written at once, without waiting for the timer
    assert len(lines_of(path)) == 4
    await sink.close()


async def test_file_sink_ends_a_torn_last_line_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(orjson.dumps(EVENTS[0]) + b"\n" + b'{"event_id": "torn by kill -9", "str')
    sink = FileSink(path)
    await sink.start()
    await sink.send(EVENTS[1:2])
    await sink.close()
    first, torn, appended = lines_of(path)
    assert (orjson.loads(first), orjson.loads(appended)) == (EVENTS[0], EVENTS[1])
    assert torn.startswith(b'{"event_id": "torn')


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file://", "names no file"),
        ("file://{tmp}", "is a directory"),
        ("file://{tmp}/plain/x.jsonl", "not a directory"),
    ],
)
def test_file_sink_refuses_impossible_paths_before_opening_anything(
    tmp_path: Path, url: str, reason: str
) -> None:
    (tmp_path / "plain").write_text("a file, not a directory")
    with pytest.raises(ValueError, match=reason):
        open_sink(url.format(tmp=tmp_path), overwrite=True)
    assert (tmp_path / "plain").read_text() == "a file, not a directory"
