"""Test and benchmark support: engine output from the mock producer, and the API served by uvicorn in a
thread of its own (a real server on loopback, so clients in the test's event loop talk to it over TCP)."""

from __future__ import annotations

import asyncio
import base64
import inspect
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import httpx
import orjson
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection

from telemetra.engine.core import Engine
from telemetra.engine.embedded import run_embedded
from telemetra.engine.offline import OfflineResult, process_lines
from telemetra.engine.ports import OutputPort
from telemetra.producers.mock import MockConfig, generate_batches
from telemetra.producers.scenarios import parse_scenario
from telemetra.services.api.state import AppState
from telemetra.services.server import uvicorn_config
from telemetra.services.settings import Settings
from telemetra.sinks.base import RawEvent

T = TypeVar("T")
START = 1_790_000_100.0  # 2026-09-21T14:15:00Z, a multiple of 5 minutes, so every roll-up bucket is whole
# The service tests' dataset: ten minutes of three streams, with a chat spike on each, a raid on beta and a gift
# bomb on gamma.
STREAMS = ("alpha", "beta", "gamma")
SCENARIOS = ("hype@300", "raid@420/beta", "gift_bomb@450/gamma")
ADMIN_TOKEN = "admin-token-0123456789"
WRITE_TOKEN = "write-token-0123456789"
READ_TOKEN = "read-token-01234567890"
TOKENS = f"{ADMIN_TOKEN}:admin,{WRITE_TOKEN}:write,{READ_TOKEN}:read"


def mock_lines(
    streams: Sequence[str],
    *,
    seconds: float,
    rate: float = 20.0,
    seed: int = 11,
    start: float = START,
    scenarios: Sequence[str] = (),
) -> list[bytes]:
    config = MockConfig(
        streams=list(streams),
        rate=rate,
        duration=seconds,
        seed=seed,
        start=start,
        scenarios=[parse_scenario(spec) for spec in scenarios],
    )
    return [orjson.dumps(event) for _, batch in generate_batches(config) for event in batch]


def process_mock(streams: Sequence[str], *, seconds: float, **options: Any) -> OfflineResult:
    """Run the real engine over mock traffic: closed windows and the final version of each moment."""
    return process_lines(mock_lines(streams, seconds=seconds, **options))


async def paced_batches(
    streams: Sequence[str],
    *,
    seconds: float,
    speed: float,
    rate: float = 20.0,
    start: float = START,
    seed: int = 5,
) -> AsyncIterator[list[RawEvent]]:
    """Mock traffic as the embedded engine consumes it: one simulated second per ``1 / speed`` s of wall time."""
    config = MockConfig(streams=list(streams), rate=rate, duration=seconds, seed=seed, start=start)
    for _, batch in generate_batches(config):
        yield batch
        await asyncio.sleep(1 / speed)


async def run_engine(
    output: OutputPort,
    streams: Sequence[str],
    *,
    seconds: float,
    speed: float,
    stop: asyncio.Event,
    **options: Any,
) -> None:
    """The real embedded engine over paced mock traffic, writing through ``output`` until ``stop`` is set."""
    batches = paced_batches(streams, seconds=seconds, speed=speed, **options)
    await run_embedded(batches, Engine(live_every=0.2), output, stop=stop)


def settings_for_tests(store_url: str, cache_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "store_url": store_url,
        "cache_url": cache_url,
        "cache_namespace": f"t{uuid.uuid4().hex[:12]}",  # one Redis serves many tests: own keys and channels
        "port": 0,
        "access_log": False,
        "gc_freeze": False,  # many apps in one test process: freezing would keep each one's garbage forever
        "api_tokens": TOKENS,
        "live_after_s": 3600,
        "health_interval_s": 0.5,
        "fallback_poll_s": 0.5,
        "ws_heartbeat_s": 5,
        "rate_limit_per_s": 0,  # suites send hundreds of requests a second from one address (tested on its own)
        **overrides,
    }
    return Settings(**values)


class ServerThread:
    """``app`` under uvicorn in a daemon thread with its own event loop; ``port=0`` picks a free port."""

    def __init__(self, app: FastAPI, settings: Settings):
        self.app = app
        self.settings = settings
        self.server = uvicorn.Server(uvicorn_config(app, settings))
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="telemetra-test-api", daemon=True)

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.telemetra
        return state

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            loop.run_until_complete(self.server.serve())
        finally:
            loop.close()

    def start(self, timeout: float = 60.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the API server exited during start-up (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError("the API server did not start in time")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)

    @property
    def port(self) -> int:
        port: int = self.server.servers[0].sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run ``coroutine`` in the server's loop (where its cache and fan-out live) and wait for it."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def arun(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self.loop is not None
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))


# -- clients ---------------------------------------------------------------------------------------------
async def ws_receive(ws: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(within):
        body: dict[str, Any] = orjson.loads(await ws.recv())
    return body


async def ws_receive_type(ws: ClientConnection, kind: str, within: float = 5.0) -> dict[str, Any]:
    """The next message of ``kind``, skipping others (heartbeats, other updates)."""
    async with asyncio.timeout(within):
        while True:
            body: dict[str, Any] = orjson.loads(await ws.recv())
            if body["type"] == kind:
                return body


async def silent_websocket(port: int, path: str) -> asyncio.StreamWriter:
    """A WebSocket client that completes the handshake and then reads nothing, with small socket buffers.
    (Client libraries keep draining the socket into their own memory, which would hide backpressure.)"""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    status = await reader.readuntil(b"\r\n\r\n")
    if not status.startswith(b"HTTP/1.1 101"):
        raise AssertionError(f"handshake refused: {status[:80]!r}")
    return writer


def metric_value(base_url: str, name: str, **labels: str) -> float:
    """Sum of the samples of metric family ``name`` (matching ``labels``) at ``base_url``/metrics."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return sum(
                s.value for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())
            )
    raise AssertionError(f"{name} is not exported")


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], within: float, what: str, every: float = 0.05
) -> None:
    """Wait until ``check()`` (sync or async) is true, failing with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(every)
