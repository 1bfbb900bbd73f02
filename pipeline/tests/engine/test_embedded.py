"""The embedded engine over the in-process bus: many streams, closed windows, moments and live views."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import orjson

from telemetra.engine.core import Engine
from telemetra.engine.embedded import run_embedded
from telemetra.engine.journal import Journal
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


# -- the journal: a crash loses no open window -----------------------------------------------------------
def traffic(seconds: int = 420) -> list[list[dict[str, object]]]:
    mock = MockConfig(
        streams=["a", "b"], rate=30, duration=seconds, seed=9, start=1_790_000_000,
        scenarios=[parse_scenario("hype@300/a")],
    )  # fmt: skip
    return [batch for _, batch in generate_batches(mock)]


async def run_batches(batches: list[list[dict[str, object]]], out: Collect, journal: Journal | None) -> None:
    async def source() -> AsyncIterator[list[dict[str, object]]]:
        for batch in batches:
            yield batch

    await run_embedded(source(), Engine(), out, journal=journal)


def stored(out: Collect) -> dict[tuple[str, str], WindowMetrics]:
    """What a store holds after these writes: the last version of each window (upserts by key)."""
    return {(w.stream_id, w.window_start): w for w in out.windows}


async def test_after_a_crash_the_journal_rebuilds_the_open_windows(tmp_path: Path) -> None:
    batches = traffic()
    reference = Collect()
    await run_batches(batches, reference, None)

    crash_at = 200  # batches (one per second of traffic): windows are open at the crash
    with_journal, without = Collect(), Collect()
    await run_batches(batches[:crash_at], with_journal, Journal(tmp_path / "journal"))
    await run_batches(batches[crash_at:], with_journal, Journal(tmp_path / "journal"))  # a fresh engine
    await run_batches(batches[:crash_at], without, None)
    await run_batches(batches[crash_at:], without, None)

    expected = stored(reference)
    assert stored(with_journal) == expected
    assert {m.moment_id: m for m in with_journal.moments} == {m.moment_id: m for m in reference.moments}
    spanning = [k for k, w in stored(without).items() if expected[k] != w]
    assert spanning, "without the journal, the windows open at the crash are stored with part of their events"


async def test_a_journal_that_no_longer_reaches_back_emits_only_complete_records(tmp_path: Path) -> None:
    batches = traffic()
    reference = Collect()
    await run_batches(batches, reference, None)
    now = [0.0]
    journal = Journal(tmp_path / "journal", keep_seconds=120, segment_seconds=30, clock=lambda: now[0])

    async def paced() -> AsyncIterator[list[dict[str, object]]]:
        for batch in batches[:300]:
            now[0] += 1.0  # a batch a second of wall time
            yield batch

    await run_embedded(paced(), Engine(), Collect(), journal=journal)
    assert 4 <= len(journal.segments()) <= 6  # older segments were deleted
    recovered = Collect()
    await run_batches(batches[300:], recovered, Journal(tmp_path / "journal", keep_seconds=120))
    expected = stored(reference)
    got = stored(recovered)
    assert got and all(expected[key] == window for key, window in got.items())  # nothing partial
    first_retained = min(w.window_start for w in got.values())
    assert first_retained > min(k[1] for k in expected)  # the journal no longer reached the start
