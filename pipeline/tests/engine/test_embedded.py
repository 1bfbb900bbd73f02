"""The embedded engine over the in-process bus: many streams, closed windows, moments and live views."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from telemetra.analytics.moments import Moment
from telemetra.analytics.windows import WindowMetrics
from telemetra.engine.core import Engine
from telemetra.engine.embedded import run_embedded
from telemetra.producers.mock import MockConfig, generate_batches
from telemetra.producers.runner import pump
from telemetra.producers.scenarios import parse_scenario
from telemetra.sinks.memory import InProcessBus, MemorySink


class Collect:
    def __init__(self) -> None:
        self.windows: list[WindowMetrics] = []
        self.moments: list[Moment] = []
        self.live: list[WindowMetrics] = []

    async def write_windows(self, windows: Sequence[WindowMetrics]) -> None:
        self.windows += windows

    async def write_moments(self, moments: Sequence[Moment]) -> None:
        self.moments += moments

    async def publish_live(self, windows: Sequence[WindowMetrics]) -> None:
        self.live += windows


async def test_engine_consumes_the_bus_for_many_streams() -> None:
    bus = InProcessBus(capacity=8)
    subscription = bus.subscribe()
    out = Collect()
    engine = Engine()
    consumer = asyncio.create_task(run_embedded(subscription, engine, out, live_every=0.0))
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


async def test_invalid_events_on_the_bus_are_dead_letters_not_crashes() -> None:
    bus = InProcessBus()
    subscription = bus.subscribe()
    engine = Engine()
    consumer = asyncio.create_task(run_embedded(subscription, engine, Collect()))
    await bus.publish([{"type": "chat", "stream_id": "a"}, {"nonsense": True}])
    await bus.close()
    await asyncio.wait_for(consumer, 5)
    assert engine.stats.invalid == 2
    assert "user_id" in engine.dead_letters[0].reason
