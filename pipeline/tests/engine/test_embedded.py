"""The embedded engine over the in-process bus: many streams, closed windows, moments and live views."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson

from telemetra.engine.core import Engine
from telemetra.engine.embedded import run_embedded
from telemetra.producers.mock import MockConfig, generate_batches
from telemetra.producers.runner import pump
from telemetra.producers.scenarios import parse_scenario
from telemetra.records import DeadLetter, Moment, StreamDescription, WindowMetrics
from telemetra.sinks.memory import InProcessBus, MemorySink


class Collect:
    """An output port that keeps what it is given."""

    def __init__(self) -> None:
        self.dead_letters: list[DeadLetter] = []
        self.windows: list[WindowMetrics] = []
        self.moments: list[Moment] = []
        self.live: list[WindowMetrics] = []
        self.described: list[tuple[str, str | None, str | None]] = []
        self.stored: set[str] = set()

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self.dead_letters += letters

    async def write_windows(self, windows: Sequence[WindowMetrics]) -> None:
        self.windows += windows
        self.stored |= {w.stream_id for w in windows}

    async def write_moments(self, moments: Sequence[Moment]) -> None:
        self.moments += moments

    async def publish_live(self, windows: Sequence[WindowMetrics]) -> None:
        self.live += windows

    async def describe_stream(self, description: StreamDescription) -> bool:
        if description.stream_id not in self.stored:  # like the store: unknown until its first window
            return False
        self.described.append((description.stream_id, description.title, description.category))
        return True

    async def flush(self) -> bool:
        return True


async def test_engine_consumes_the_bus_for_many_streams() -> None:
    bus = InProcessBus(capacity=8)
    subscription = bus.subscribe()
    out = Collect()
    engine = Engine(live_every=0.0)
    consumer = asyncio.create_task(run_embedded(subscription, engine, out))
    mock = MockConfig(
        streams=["a", "b", "c"], rate=50, duration=600, seed=5, start=1_790_000_000,
        scenarios=[parse_scenario("hype@400/b")],
    )  # fmt: skip
    batches = list(generate_batches(mock))
    await pump(batches, MemorySink(bus), speed=0)
    await bus.close()
    await asyncio.wait_for(consumer, 30)

    assert engine.stats.events == sum(len(batch) for _, batch in batches)
    assert {w.stream_id for w in out.windows} == {"a", "b", "c"}
    assert all(w.final for w in out.windows) and not any(w.final for w in out.live)
    spikes = [m.stream_id for m in out.moments if m.kind == "chat_spike" and not m.ongoing]
    assert spikes == ["b"]
    per_stream = {s: [w.window_start for w in out.windows if w.stream_id == s] for s in "abc"}
    assert all(starts == sorted(set(starts)) for starts in per_stream.values())  # each window once, in order


async def test_titles_and_categories_reach_the_sink_once_the_stream_is_stored() -> None:
    """The start event comes before the stream's first window is stored; it is passed on afterwards, then
    again only when it changes."""
    bus = InProcessBus(capacity=8)
    subscription = bus.subscribe()
    out = Collect()
    consumer = asyncio.create_task(run_embedded(subscription, Engine(), out))
    mock = MockConfig(streams=["a"], rate=20, duration=300, seed=3, start=1_790_000_000)
    batches = list(generate_batches(mock))
    await pump(batches, MemorySink(bus), speed=0)
    await bus.close()
    await asyncio.wait_for(consumer, 30)

    metas = [e for _, batch in batches for e in batch if e["type"] == "stream_meta" and e["kind"] != "raid"]
    start = next(e for e in metas if e["kind"] == "start")
    assert out.described[0] == ("a", start["title"], start["category"])
    titles = [e["title"] for e in metas if e.get("title")]
    assert [title for _, title, _ in out.described] == [
        t for i, t in enumerate(titles) if i == 0 or t != titles[i - 1]
    ]


async def test_invalid_events_on_the_bus_are_dead_letters_not_crashes() -> None:
    bus = InProcessBus()
    subscription = bus.subscribe()
    engine, out = Engine(), Collect()
    consumer = asyncio.create_task(run_embedded(subscription, engine, out))
    await bus.publish([{"type": "chat", "stream_id": "a"}, {"nonsense": True}])
    await bus.close()
    await asyncio.wait_for(consumer, 5)
    assert engine.stats.invalid == 2
    first, second = out.dead_letters
    assert "user_id" in first.reason and first.stream_id == "a" and first.source == "bus:1"
    assert second.stream_id is None and second.source == "bus:2"
    assert orjson.loads(first.raw or "") == {"type": "chat", "stream_id": "a"}
