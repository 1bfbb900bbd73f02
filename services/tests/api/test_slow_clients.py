"""Slow and greedy clients cost bounded resources: a connection that does not complete a request head in time
is closed (silent, trickling, or idle between two requests), a body that does not arrive in time gets 408,
and one client asking too often gets 429 with Retry-After while other clients and probes are unaffected."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx

from telemetra.dev.testing.services import ADMIN_TOKEN


def address(api: Any) -> tuple[str, int]:
    host, port = api.url.removeprefix("http://").split(":")
    return host, int(port)


def closed_by_server(connection: socket.socket, within: float) -> bool:
    """True when the server closes ``connection`` within ``within`` seconds (answers before that are read)."""
    connection.settimeout(within)
    try:
        while connection.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_connections_without_a_complete_head_are_closed(make_api: Any) -> None:
    api = make_api(header_timeout_s=0.5)
    silent = [socket.create_connection(address(api)) for _ in range(50)]
    trickling = socket.create_connection(address(api))
    trickling.sendall(b"GET /api/v1/streams HTTP/1.1\r\nHost: x\r\n")  # the head never ends
    started = time.monotonic()
    assert closed_by_server(trickling, 3)
    assert all(closed_by_server(connection, 3) for connection in silent)
    assert time.monotonic() - started < 2
    assert httpx.get(f"{api.url}/api/v1/streams", timeout=5).status_code == 200


def test_a_keep_alive_connection_may_idle_but_not_trickle_its_next_head(make_api: Any) -> None:
    api = make_api(header_timeout_s=0.5)
    connection = socket.create_connection(address(api))
    connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    connection.settimeout(3)
    assert connection.recv(65536).startswith(b"HTTP/1.1 200")
    connection.sendall(b"GET /health HTTP/1.1\r\n")  # the second head starts, and stalls
    started = time.monotonic()
    assert closed_by_server(connection, 3)
    assert time.monotonic() - started < 1.5


def test_a_slow_answer_is_not_cut_by_the_head_timeout(make_api: Any) -> None:
    api = make_api(header_timeout_s=0.3)
    store = api.server.state.store
    listing = store.list_streams

    async def slow(query: Any) -> Any:
        await asyncio.sleep(1.0)
        return await listing(query)

    store.list_streams = slow
    assert httpx.get(f"{api.url}/api/v1/streams", timeout=5).status_code == 200


def test_a_body_that_does_not_arrive_in_time_gets_408(make_api: Any) -> None:
    api = make_api(body_timeout_s=0.5)
    connection = socket.create_connection(address(api))
    connection.sendall(
        b"PATCH /api/v1/streams/alpha HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b'\r\nContent-Length: 100\r\n\r\n{"title"'
    )
    connection.settimeout(3)
    started = time.monotonic()
    answer = b"".join(iter(lambda: connection.recv(65536), b""))  # until the server closes
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"not received in time" in answer
    assert 0.4 < time.monotonic() - started < 2


def test_a_client_over_its_rate_gets_429_and_others_do_not(make_api: Any) -> None:
    api = make_api(rate_limit_per_s=2, rate_limit_burst=5)
    with httpx.Client(base_url=api.url, timeout=5) as client:
        statuses = [client.get("/api/v1/streams").status_code for _ in range(8)]
        assert statuses == [200] * 5 + [429] * 3
        limited = client.get("/api/v1/streams")
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "1"
        assert "too many requests" in limited.json()["detail"]
        # loopback is a trusted proxy by default: the address it forwards is another client with its own bucket
        other = client.get("/api/v1/streams", headers={"X-Forwarded-For": "203.0.113.7"})
        assert other.status_code == 200
        assert client.get("/health").status_code == 200  # probes are exempt
        assert "telemetra_http_rate_limited_total 4.0" in client.get("/metrics").text
        time.sleep(1.1)  # two tokens a second: the client may ask again
        assert client.get("/api/v1/streams").status_code == 200


async def test_a_websocket_outlives_the_head_timeout(make_api: Any, dataset: Any) -> None:
    from websockets.asyncio.client import connect

    api = make_api(data=dataset, header_timeout_s=0.3)
    async with connect(api.url.replace("http", "ws") + "/ws/live/alpha") as websocket:
        await asyncio.sleep(1.0)
        await asyncio.wait_for(await websocket.ping(), 3)  # the connection is still open and answering
