"""A Redis that hangs (SIGSTOP: its sockets stay open, nothing answers) is not a Redis that is down, and it must
not look healthy: WebSocket clients are told within a few seconds, and reads fall back to the store at once
instead of waiting on Redis for every request; when it resumes, so does everything."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect

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

pytestmark = pytest.mark.timeout(120)
TIMEOUT = 1.0  # the dependency timeout of this test's API


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        try:
            yield server
        finally:
            if server.pid is not None:
                os.kill(server.pid, signal.SIGCONT)  # whatever the test did, let it stop


async def timed_get(client: httpx.AsyncClient, path: str) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    answer = await client.get(path)
    return time.monotonic() - started, answer


async def test_a_frozen_redis_is_noticed_and_reads_do_not_wait_for_it(
    redis: RedisServer, tmp_path: object
) -> None:
    settings = settings_for_tests(
        f"sqlite:///{tmp_path}/store.db",
        redis.url(),
        health_interval_s=0.5,
        fallback_poll_s=0.3,
        dependency_timeout_s=TIMEOUT,
        ws_heartbeat_s=1.0,
    )
    server = ServerThread(create_app(settings), settings).start()
    output = ServiceOutput(server.state.store, server.state.cache, retry_after=0.2)
    stop = asyncio.Event()
    engine = asyncio.ensure_future(
        server.arun(run_engine(output, ["alpha"], seconds=3600, speed=50, stop=stop))
    )
    client = httpx.AsyncClient(base_url=server.url, timeout=10)
    assert redis.pid is not None
    try:
        await eventually(
            lambda: _status(client, "/api/v1/streams/alpha", 200), 20, "the stream is stored and cached"
        )
        async with connect(f"{server.ws_url}/ws/live/alpha") as ws:
            assert (await ws_receive(ws))["type"] == "snapshot"
            await ws_receive_type(ws, "live")

            os.kill(redis.pid, signal.SIGSTOP)
            frozen = time.monotonic()
            status = await ws_receive_type(ws, "status", within=4 * TIMEOUT + 2)
            assert status["data"]["cache"] == "down"
            assert time.monotonic() - frozen <= 4 * TIMEOUT + 2
            # After at most one read that met the hang, reads answer from the store without waiting.
            await timed_get(client, "/api/v1/streams/alpha")
            for path in ("/api/v1/streams/alpha", "/api/v1/streams", "/api/v1/streams/alpha"):
                seconds, answer = await timed_get(client, path)
                assert answer.status_code == 200 and answer.json()["degraded"] == ["cache"], answer.text
                assert seconds < TIMEOUT / 2, f"{path} waited {seconds:.2f} s for a frozen Redis"

            os.kill(redis.pid, signal.SIGCONT)
            assert (await ws_receive_type(ws, "status", within=15))["data"]["cache"] == "up"
            await eventually(
                lambda: _degraded(client, "/api/v1/streams/alpha", []), 10, "reads use the cache again"
            )
            await ws_receive_type(ws, "live", within=10)
    finally:
        stop.set()
        await asyncio.wait_for(engine, 30)
        await client.aclose()
        server.stop()


async def _status(client: httpx.AsyncClient, path: str, code: int) -> bool:
    return (await client.get(path)).status_code == code


async def _degraded(client: httpx.AsyncClient, path: str, expected: list[str]) -> bool:
    answer = await client.get(path)
    return answer.status_code == 200 and answer.json()["degraded"] == expected
