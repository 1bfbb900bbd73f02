"""The engine's sink over a real SQLite store and the in-process cache, with outages injected into the store
and cache objects (the buffering and retry policy is pure logic; the fault tests exercise real outages)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from telemetra.dev.testing.alerts import configure, grown, make_moment, webhook_config
from telemetra.dev.testing.services import eventually
from telemetra.records import WindowMetrics
from telemetra.services.alerts import AlertIntake
from telemetra.services.alerts.sqlite import SqliteOutbox
from telemetra.services.cache import CacheUnavailable
from telemetra.services.cache.memory import MemoryCache
from telemetra.services.output import ServiceOutput
from telemetra.services.storage import StoreUnavailable
from telemetra.services.storage.sqlite import SqliteStore


class Flaky:
    """Wraps a real backend; while ``down`` is set its write methods raise the backend's unavailability."""

    def __init__(self, inner: Any, error: type[Exception], methods: Sequence[str]):
        self._inner, self._error, self._methods = inner, error, set(methods)
        self.down = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in self._methods:
            return attribute

        async def maybe_failing(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise self._error("injected outage")
            return await attribute(*args, **kwargs)

        return maybe_failing


@pytest.fixture
async def backends(tmp_path: Path) -> AsyncIterator[tuple[Flaky, Flaky]]:
    store = SqliteStore(tmp_path / "sink.db")
    await store.start()
    try:
        yield (
            Flaky(store, StoreUnavailable, ["upsert_windows", "upsert_moments", "register_streams"]),
            Flaky(MemoryCache(), CacheUnavailable, ["put_windows", "put_live", "put_moments"]),
        )
    finally:
        await store.close()


def closed_windows(dataset: Any, stream_id: str = "alpha") -> list[WindowMetrics]:
    return [w for w in dataset.windows if w.stream_id == stream_id]


async def stored(store: Any, stream_id: str = "alpha") -> list[WindowMetrics]:
    result: list[WindowMetrics] = await store.windows(stream_id, start=0, end=4e10, align=0, limit=10_000)
    return result


async def test_write_through_to_store_and_cache(backends: Any, dataset: Any) -> None:
    store, cache = backends
    sink = ServiceOutput(store, cache)
    windows = closed_windows(dataset)
    provisional = dataclasses.replace(windows[-1], final=False)
    await sink.write_windows([*windows, provisional])  # a provisional window never reaches the store
    await sink.write_moments(dataset.moments)
    await sink.publish_live([provisional])
    assert await stored(store) == windows
    snapshot = await cache.snapshot("alpha")
    assert snapshot.window == windows[-1].to_dict() and snapshot.live == provisional.to_dict()
    assert sink.stats.windows_stored == len(windows) and sink.stats.moments_stored == len(dataset.moments)
    assert sink.stats.live_published == 1


async def test_a_first_provisional_window_makes_the_stream_known_to_the_store(
    backends: Any, dataset: Any
) -> None:
    """The listing pages the store's streams: a new stream is in it from its first provisional window on, not
    only once its first window closes; a store that is down then is caught up with later."""
    store, cache = backends
    sink = ServiceOutput(store, cache, retry_after=0.05, clock=lambda: 1234.0)
    first = dataclasses.replace(closed_windows(dataset)[0], final=False)
    store.down = True
    await sink.publish_live([dataclasses.replace(first, stream_id="early")])
    assert await store.get_stream("early") is None and (await cache.snapshot("early")).live is not None
    store.down = False
    await sink.write_windows(closed_windows(dataset)[:1])
    await eventually(lambda: sink.stats.buffered == 0, 5, "the store is back")
    await sink.publish_live([dataclasses.replace(first, stream_id="early"), first])
    early = await store.get_stream("early")
    assert early is not None and (early.first_seen, early.last_activity, early.latest_window) == (
        1234.0,
        1234.0,
        None,
    )
    alpha = await store.get_stream("alpha")
    assert alpha is not None and alpha.latest_window == closed_windows(dataset)[0]  # known streams untouched
    await sink.close()


async def test_store_outage_buffers_then_catches_up_by_itself(backends: Any, dataset: Any) -> None:
    store, cache = backends
    sink = ServiceOutput(store, cache, retry_after=0.05)
    windows = closed_windows(dataset)
    store.down = True
    for window in windows:
        await sink.write_windows([window])
    moment = dataset.moments[0]
    for version in range(5):  # a growing episode re-emitted: buffered once, latest version wins
        await sink.write_moments([dataclasses.replace(moment, score=float(version))])
    assert sink.stats.buffered == len(windows) + 1
    assert sink.stats.store_failures >= 1
    assert (await cache.snapshot("alpha")).window == windows[-1].to_dict()  # the cache stayed fresh
    store.down = False
    await eventually(lambda: sink.stats.buffered == 0, 5, "the retry task flushed the buffer")
    assert await stored(store) == windows
    assert [
        m.score for m in await store.recent_moments(moment.stream_id, 10) if m.moment_id == moment.moment_id
    ] == [4.0]
    assert sink.stats.dropped == 0
    await sink.close()


async def test_the_buffer_is_bounded_and_drops_are_counted(
    backends: Any, dataset: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store, cache = backends
    sink = ServiceOutput(store, cache, buffer_limit=10, retry_after=60)
    store.down = True
    windows = closed_windows(dataset)[:25]
    with caplog.at_level(logging.ERROR, logger="telemetra.services.output"):
        for window in windows:
            await sink.write_windows([window])
    assert sink.stats.buffered == 10 and sink.stats.dropped == 15
    assert any("dropped" in r.getMessage() for r in caplog.records)
    store.down = False
    assert await sink.flush()
    assert await stored(store) == windows[-10:]  # the newest were kept
    await sink.close()


async def test_cache_outage_does_not_stop_the_store(backends: Any, dataset: Any) -> None:
    store, cache = backends
    sink = ServiceOutput(store, cache, retry_after=60)
    cache.down = True
    windows = closed_windows(dataset)
    await sink.write_windows(windows[:10])
    await sink.write_windows(windows[10:])  # within the back-off: not even tried
    await sink.publish_live([dataclasses.replace(windows[-1], final=False)])
    assert await stored(store) == windows
    assert sink.stats.cache_failures == 1 and sink.stats.cache_skipped == 2


async def test_close_gives_up_on_a_store_that_stays_down(backends: Any, dataset: Any) -> None:
    store, cache = backends
    sink = ServiceOutput(store, cache, retry_after=0.05)
    store.down = True
    await sink.write_windows(closed_windows(dataset)[:3])
    await asyncio.wait_for(sink.close(grace=0.2), 5)
    assert sink.stats.dropped == 3  # counted, and logged: never lost silently


# -- alerts --------------------------------------------------------------------------------------------------
@pytest.fixture
async def alerting(tmp_path: Path, backends: Any) -> AsyncIterator[tuple[ServiceOutput, Flaky, Any, Flaky]]:
    """An output whose moments alert through a real SQLite outbox (the store's file), with outages injectable
    into the store and the outbox."""
    store, cache = backends
    outbox = SqliteOutbox(tmp_path / "sink.db")
    await outbox.start()
    flaky_outbox = Flaky(outbox, StoreUnavailable, ["offer"])
    intake = AlertIntake(flaky_outbox, max_age_s=None)
    await configure(intake, "alpha", webhook_config("http://127.0.0.1:9/hook"))
    sink = ServiceOutput(store, cache, retry_after=0.05, alerts=intake)
    try:
        yield sink, store, outbox, flaky_outbox
    finally:
        await sink.close(grace=1)
        await outbox.close()


async def test_a_stored_moment_is_offered_to_alerting_once_and_its_growth_updates_it(alerting: Any) -> None:
    sink, _, outbox, _ = alerting
    moment = make_moment(1)
    await sink.write_moments([moment])
    await sink.write_moments([moment])  # re-emitted unchanged: no new revision
    await sink.write_moments([grown(moment)])
    [row] = await outbox.deliveries()
    assert (row.moment_id, row.state, row.revision) == (moment.moment_id, "pending", 2)
    await sink.write_moments([make_moment(2, stream="beta")])  # a stream without alert rules
    assert len(await outbox.deliveries()) == 1


async def test_moments_wait_for_the_store_then_for_the_outbox(alerting: Any) -> None:
    sink, store, outbox, flaky_outbox = alerting
    store.down = True
    await sink.write_moments([make_moment(1)])
    assert await outbox.deliveries() == []  # not history yet: no alert
    flaky_outbox.down = True
    store.down = False
    await eventually(lambda: sink.stats.moments_stored == 1, 5, "the moment stored")
    assert await outbox.deliveries() == [] and sink.stats.alerts_offered == 0
    flaky_outbox.down = False
    await eventually(lambda: sink.stats.alerts_offered == 1, 5, "the moment offered to alerting")
    [row] = await outbox.deliveries()
    assert row.state == "pending"
