"""Overload: beyond ``max_in_flight`` requests in progress, the API answers 503 with Retry-After at once
instead of queueing, the requests in progress still complete, probes are never shed, and beyond
``max_connections`` open connections the server refuses more with 503."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx


def slow_store(api: Any, seconds: float) -> None:
    """Make the store answer the stream listing after ``seconds`` (a slow database, injected)."""
    store = api.server.state.store
    listing = store.list_streams

    async def slow(query: Any) -> Any:
        await asyncio.sleep(seconds)
        return await listing(query)

    store.list_streams = slow


async def test_requests_beyond_the_limit_get_503_at_once(make_api: Any) -> None:
    api = make_api(max_in_flight=2)
    slow_store(api, 1.0)
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        started = time.monotonic()
        answers = await asyncio.gather(*(client.get("/api/v1/streams") for _ in range(6)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 200, 503, 503, 503, 503]
        shed = [a for a in answers if a.status_code == 503]
        assert all(
            a.headers["retry-after"] == "1" and a.json()["detail"].startswith("overloaded") for a in shed
        )
        assert time.monotonic() - started < 2.5  # nothing queued behind the slow ones
        during = asyncio.gather(*(client.get("/api/v1/streams") for _ in range(2)))
        await asyncio.sleep(0.2)
        assert (await client.get("/health")).status_code == 200  # probes are never shed
        metrics = (await client.get("/metrics")).text
        await during
    assert "telemetra_http_shed_total 4.0" in metrics
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        assert (await client.get("/api/v1/streams")).status_code == 200  # back to normal


def test_connections_beyond_the_cap_are_refused(make_api: Any) -> None:
    api = make_api(max_connections=2)
    host, port = api.url.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(2)]
    try:
        time.sleep(0.3)  # the server has accepted both
        answer = httpx.get(f"{api.url}/api/v1/streams", timeout=5)
        assert answer.status_code == 503
    finally:
        for connection in idle:
            connection.close()
    time.sleep(0.3)
    assert httpx.get(f"{api.url}/api/v1/streams", timeout=5).status_code == 200
