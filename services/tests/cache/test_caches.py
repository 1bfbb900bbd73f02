"""Both live caches (in-process, and a real Redis) behind the one interface: latest state per stream, bounded
recent moments, and fan-out of changes to local subscribers."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from telemetra.dev.localstack.redis import RedisServer
from telemetra.records import Moment, WindowMetrics
from telemetra.services.cache import CacheUnavailable, LiveCache, open_cache
from telemetra.services.cache.redis import RedisCache

KEEP = 3


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[LiveCache]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_server").url()
    opened = open_cache(url, namespace=f"c{uuid.uuid4().hex[:10]}", recent_moments=KEEP)
    await opened.start()
    try:
        yield opened
    finally:
        await opened.close()


def windows_of(dataset: Any, stream_id: str) -> list[WindowMetrics]:
    return [w for w in dataset.windows if w.stream_id == stream_id]


def moments_named(base: Moment, count: int) -> list[Moment]:
    return [
        dataclasses.replace(base, moment_id=f"m{i}", start=f"2026-09-21T14:2{i}:00.000Z")
        for i in range(count)
    ]


async def next_message(mailbox: Any, within: float = 5.0) -> Any:
    async with asyncio.timeout(within):
        return await mailbox.get()


async def test_latest_closed_and_live_windows(cache: LiveCache, dataset: Any) -> None:
    alpha = windows_of(dataset, "alpha")
    await cache.put_windows(alpha[-3:], at=100.0)
    await cache.put_windows(alpha[:1], at=101.0)  # an old window re-emitted does not move the snapshot back
    live = dataclasses.replace(alpha[-1], final=False, messages=1)
    await cache.put_live([live], at=102.0)
    snapshot = await cache.snapshot("alpha")
    assert snapshot is not None
    assert snapshot.window == alpha[-1].to_dict()
    assert snapshot.live == live.to_dict()
    assert snapshot.last_activity == 102.0
    assert await cache.snapshot("nobody") is None


async def test_recent_moments_are_upserted_and_bounded(cache: LiveCache, dataset: Any) -> None:
    many = moments_named(dataset.moments[0], 5)
    await cache.put_moments(many[:2], at=1.0)
    await cache.put_moments(many[2:], at=2.0)
    grown = dataclasses.replace(many[4], ongoing=False, end="2026-09-21T14:25:00.000Z")
    await cache.put_moments([grown], at=3.0)
    snapshot = await cache.snapshot(many[0].stream_id)
    assert snapshot is not None
    assert [m["moment_id"] for m in snapshot.moments] == ["m4", "m3", "m2"]  # newest first, at most KEEP
    assert snapshot.moments[0] == grown.to_dict()


async def test_snapshots_list_and_forget(cache: LiveCache, dataset: Any) -> None:
    await cache.put_windows([windows_of(dataset, s)[-1] for s in ("alpha", "beta")], at=5.0)
    assert [s.stream_id for s in await cache.snapshots()] == ["alpha", "beta"]
    await cache.forget("alpha")
    assert [s.stream_id for s in await cache.snapshots()] == ["beta"]


async def test_snapshots_of_some_streams_with_or_without_moments(cache: LiveCache, dataset: Any) -> None:
    """The stream list reads its page's snapshots only, and takes their latest moment from the store."""
    await cache.put_windows([windows_of(dataset, s)[-1] for s in ("alpha", "beta", "gamma")], at=5.0)
    await cache.put_moments([dataclasses.replace(dataset.moments[0], stream_id="gamma")], at=6.0)
    some = await cache.snapshots(["gamma", "nobody", "alpha"])
    assert [(s.stream_id, len(s.moments)) for s in some] == [("alpha", 0), ("gamma", 1)]
    light = await cache.snapshots(["gamma", "alpha"], moments=False)
    assert [(s.stream_id, s.moments, s.last_activity) for s in light] == [
        ("alpha", [], 5.0),
        ("gamma", [], 6.0),
    ]
    assert light[1].window == windows_of(dataset, "gamma")[-1].to_dict()


async def test_changes_fan_out_to_the_stream_subscribers_only(cache: LiveCache, dataset: Any) -> None:
    alpha, beta = windows_of(dataset, "alpha")[-1], windows_of(dataset, "beta")[-1]
    with cache.fanout.subscribe("alpha") as mine, cache.fanout.subscribe("beta") as other:
        await cache.put_live([dataclasses.replace(alpha, final=False)], at=7.0)
        message = await next_message(mine)
        assert (message.type, message.stream_id, message.published_at) == ("live", "alpha", 7.0)
        assert message.data["window_start"] == alpha.window_start
        await cache.put_moments([dataclasses.replace(dataset.moments[0], stream_id="alpha")], at=8.0)
        assert (await next_message(mine)).type == "moments"
        await asyncio.sleep(0.1)
        assert len(other) == 0
        await cache.put_windows([beta], at=9.0)
        assert (await next_message(other)).type == "window"
    assert cache.fanout.subscribers() == 0


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


async def test_redis_outage_is_reported_and_recovered(own_redis: RedisServer, dataset: Any) -> None:
    cache = RedisCache(own_redis.url(), namespace="outage", timeout=0.5)
    await cache.start()
    try:
        assert cache.healthy
        with cache.fanout.subscribe("alpha") as mailbox:
            await asyncio.to_thread(own_redis.stop)
            status = await next_message(mailbox)
            assert status.type == "status" and status.data["cache"] == "down"
            assert not cache.healthy
            with pytest.raises(CacheUnavailable):
                await cache.put_windows(windows_of(dataset, "alpha")[-1:], at=1.0)
            with pytest.raises(CacheUnavailable):
                await cache.ping()
            await asyncio.to_thread(own_redis.start)
            recovered = await next_message(mailbox, within=10)
            assert recovered.type == "status" and recovered.data["cache"] == "up"
            await cache.put_windows(
                windows_of(dataset, "alpha")[-1:], at=2.0
            )  # the pool reconnects by itself
            assert (await next_message(mailbox)).type == "window"
    finally:
        await cache.close()


def test_unknown_cache_url() -> None:
    with pytest.raises(ValueError, match="memcached"):
        open_cache("memcached://localhost")
