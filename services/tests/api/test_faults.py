"""Faults during a run: the embedded engine streams mock traffic through the sink into PostgreSQL and Redis
while a WebSocket client watches; Redis is stopped, then PostgreSQL, then both come back. The API must stay
up, say what is wrong on /ready, degrade as documented, and recover without a restart, losing nothing."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect

from telemetra.contract import parse_ts
from telemetra.dev.localstack.postgres import PostgresServer
from telemetra.dev.localstack.redis import RedisServer
from telemetra.dev.testing.services import (
    ServerThread,
    eventually,
    run_engine,
    settings_for_tests,
    ws_receive,
    ws_receive_type,
)
from telemetra.services.api import create_app
from telemetra.services.output import ServiceOutput

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def servers() -> Iterator[tuple[PostgresServer, RedisServer]]:
    """A PostgreSQL and a Redis of this test's own: it stops them."""
    with PostgresServer() as postgres, RedisServer() as redis:
        yield postgres, redis


async def reason_is(client: httpx.AsyncClient, expected: str | None) -> bool:
    answer = await client.get("/ready")
    return bool(answer.json()["reason"] == expected and (answer.status_code == 200) == (expected is None))


async def window_starts(client: httpx.AsyncClient, stream_id: str) -> list[float]:
    answer = await client.get(f"/api/v1/streams/{stream_id}/metrics", params={"limit": 1000})
    if answer.status_code == 404:  # no window closed yet
        return []
    return [parse_ts(w["window_start"]) for w in answer.json()["items"]]


async def count_at_least(client: httpx.AsyncClient, stream_id: str, count: int) -> bool:
    return len(await window_starts(client, stream_id)) >= count


async def test_redis_then_postgres_fail_and_recover_during_a_run(
    servers: tuple[PostgresServer, RedisServer],
) -> None:
    postgres, redis = servers
    settings = settings_for_tests(
        postgres.create_database("faults"),
        redis.url(),
        health_interval_s=0.2,
        fallback_poll_s=0.3,
        output_retry_s=0.2,
        dependency_timeout_s=1.0,
        ws_heartbeat_s=1.0,
    )
    server = ServerThread(create_app(settings), settings).start()
    state = server.state
    sink = ServiceOutput(state.store, state.cache, retry_after=settings.output_retry_s)
    stop = asyncio.Event()
    # 50 simulated seconds per wall second: a window closes every 0.2 s, a live view every 0.2 s.
    engine = asyncio.ensure_future(
        server.arun(run_engine(sink, ["alpha", "beta"], seconds=3600, speed=50, stop=stop))
    )
    client = httpx.AsyncClient(base_url=server.url, timeout=10)
    try:
        await eventually(lambda: count_at_least(client, "alpha", 3), 20, "first windows stored")
        async with connect(f"{server.ws_url}/ws/live/alpha") as ws:
            assert (await ws_receive(ws))["type"] == "snapshot"
            await ws_receive_type(ws, "live")  # pushes flow from the cache

            # -- Redis down: history from the store, live from the store at a reduced rate ----------------
            await asyncio.to_thread(redis.stop)
            await eventually(lambda: reason_is(client, "cache unavailable"), 10, "/ready names the cache")
            status = await ws_receive_type(ws, "status")
            assert status["data"]["cache"] == "down"
            fallback = await ws_receive_type(ws, "window", within=10)
            assert fallback["source"] == "store"
            assert (await client.get("/health")).status_code == 200
            assert (await client.get("/api/v1/streams/alpha/metrics")).status_code == 200
            listing = (await client.get("/api/v1/streams")).json()
            assert listing["degraded"] == ["cache"] and len(listing["items"]) == 2

            # -- PostgreSQL down too: history 503 with the reason, the process still answers -------------
            await asyncio.to_thread(postgres.stop)
            both = "store unavailable; cache unavailable"
            await eventually(lambda: reason_is(client, both), 10, "/ready names both")
            answer = await client.get("/api/v1/streams/alpha/metrics")
            assert answer.status_code == 503 and answer.json()["detail"] == "store unavailable"
            assert "postgres" not in answer.text.lower() and "asyncpg" not in answer.text
            assert (await client.get("/api/v1/streams")).json()["detail"] == "store and cache unavailable"
            assert (await client.get("/health")).status_code == 200
            assert (await ws_receive_type(ws, "heartbeat", within=5))["stream_id"] == "alpha"

            # -- Redis back (empty): live pushes resume from the cache while the store is still down -----
            await asyncio.to_thread(redis.start)
            await eventually(
                lambda: reason_is(client, "store unavailable"), 15, "/ready names the store only"
            )
            assert (await ws_receive_type(ws, "status", within=10))["data"]["cache"] == "up"
            await ws_receive_type(ws, "live", within=10)
            detail = (await client.get("/api/v1/streams/alpha")).json()
            assert detail["degraded"] == ["store"] and detail["live"] is True and detail["live_window"]
            assert (await client.get("/api/v1/streams/alpha/metrics")).status_code == 503
            await eventually(lambda: sink.stats.buffered > 0, 10, "the sink buffers for the store")

            # -- PostgreSQL back: everything recovers, and what was buffered is stored --------------------
            await asyncio.to_thread(postgres.start)
            await eventually(lambda: reason_is(client, None), 15, "/ready recovers")
            await eventually(lambda: sink.stats.buffered == 0, 15, "the buffer drains")
            assert (await ws_receive_type(ws, "window", within=10)).get(
                "source"
            ) is None  # pushed, not polled

        # -- nothing lost: the windows closed during both outages are all in the store ---------------------
        stop.set()
        await asyncio.wait_for(engine, 30)
        await server.arun(sink.close())
        starts = await window_starts(client, "alpha")
        assert len(starts) >= 10
        assert [b - a for a, b in itertools.pairwise(starts)] == [10.0] * (len(starts) - 1)
        assert sink.stats.store_failures > 0 and sink.stats.cache_failures > 0
        assert sink.stats.dropped == 0 and sink.stats.buffered == 0
    finally:
        stop.set()
        await asyncio.wait_for(engine, 30)
        await client.aclose()
        server.stop()
