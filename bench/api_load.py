"""API load from a second process on loopback: latency of the metrics endpoint at a fixed request rate, delivery
lag of live updates to many WebSocket clients on one stream, and the API's peak memory.

The script starts what it needs: a PostgreSQL and a Redis of its own (``telemetra.dev.localstack``), writes
an hour of engine output for three streams through ``ServiceOutput``, then runs the API as a separate process
(``python -m telemetra.services``, one uvicorn worker, settings from ``TELEMETRA_*``) and loads it:

* **HTTP**: an open-loop generator sends ``GET /api/v1/streams/alpha/metrics`` at ``--rate`` requests/s for
  ``--duration`` s over keep-alive connections (raw HTTP/1.1 on asyncio). Latency is measured from each
  request's *scheduled* send time, so a stalled server cannot hide queueing delay (no coordinated omission).
  The queries are the dashboard's: the last 15 minutes of 10 s windows (90 windows), spread over
  ``--distinct`` different ``from`` values.
* **WebSocket**: ``--ws-clients`` clients subscribe to one stream; this process then plays the engine and
  publishes ``--updates`` live windows through ``ServiceOutput`` → Redis pub/sub → API → clients. Each client is a
  minimal asyncio protocol that timestamps data as it arrives (before any parsing), so the lag (arrival time −
  the update's ``published_at``) includes the API's fan-out, not the clients' own processing.
* **Memory**: ``VmHWM`` (peak resident set) of the API process after each phase, from ``/proc``.
* **Overload** (``--overload``, instead of the above): the capacity C (answers/s of a closed loop over
  ``--connections`` connections, as fast as they come back), then an open loop at ``--overload`` × C for
  ``--duration`` s, against an API with load shedding (``--max-in-flight``) and, as its peer in the same run,
  one without: latency of the answered requests and the share of 503s.

Usage::

    .venv/bin/python bench/api_load.py [--store postgres|sqlite] [--cache redis|memory] [--rate 1000]
        [--duration 30] [--ws-clients 1000] [--updates 60] [--interval 0.5] [--access-log]
    .venv/bin/python bench/api_load.py --overload 2 [--max-in-flight 256] [--no-query-cache]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import httpx

from telemetra.contract import format_ts
from telemetra.dev.localstack.postgres import PostgresServer
from telemetra.dev.localstack.process import free_port
from telemetra.dev.localstack.redis import RedisServer
from telemetra.dev.testing.services import process_mock
from telemetra.services.cache import open_cache
from telemetra.services.output import ServiceOutput
from telemetra.services.storage import open_store

STREAMS = ("alpha", "beta", "gamma")
START = 1_790_000_100.0
HOUR = 3600


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--cache", choices=["redis", "memory"], default="redis")
    parser.add_argument("--rate", type=float, default=1000.0, help="HTTP requests per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of HTTP load (after warm-up)")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--distinct", type=int, default=10, help="distinct metrics queries")
    parser.add_argument("--path", help="a fixed path to load instead of the metrics queries")
    parser.add_argument("--ws-clients", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=60, help="live updates published in the WS phase")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between live updates")
    parser.add_argument("--access-log", action="store_true", help="keep the API's per-request log line")
    parser.add_argument("--no-query-cache", action="store_true", help="answer every request from the store")
    parser.add_argument("--overload", type=float, help="offer this multiple of the measured capacity")
    parser.add_argument("--max-in-flight", type=int, default=64, help="the API's load-shedding limit")
    args = parser.parse_args(argv)
    if args.cache == "memory" and args.ws_clients:
        parser.error("the WS phase publishes from this process: it needs --cache redis")
    return args


# -- set-up ------------------------------------------------------------------------------------------------
@dataclass
class Backends:
    store_url: str
    cache_url: str
    namespace: str
    servers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for server in self.servers:
            server.cleanup()


def start_backends(args: argparse.Namespace, work: Path) -> Backends:
    servers: list[Any] = []
    if args.store == "postgres":
        postgres = PostgresServer()
        postgres.start()
        servers.append(postgres)
        store_url = postgres.create_database("bench")
    else:
        store_url = f"sqlite:///{work / 'bench.db'}"
    cache_url = "memory://"
    if args.cache == "redis":
        redis = RedisServer()
        redis.start()
        servers.append(redis)
        cache_url = redis.url()
    return Backends(store_url, cache_url, f"bench{uuid.uuid4().hex[:8]}", servers)


async def populate(backends: Backends) -> int:
    """An hour of three streams through the real engine, written like the engine writes."""
    result = process_mock(STREAMS, seconds=HOUR, rate=5.0, start=START)
    store = open_store(backends.store_url)
    cache = open_cache(backends.cache_url, namespace=backends.namespace)
    await store.start()
    await cache.start()
    sink = ServiceOutput(store, cache)
    await sink.write_windows(result.windows)
    await sink.write_moments(result.moments)
    await sink.close()
    await cache.close()
    await store.close()
    return len(result.windows)


def start_api(backends: Backends, port: int, args: argparse.Namespace, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TELEMETRA_STORE_URL": backends.store_url,
        "TELEMETRA_CACHE_URL": backends.cache_url,
        "TELEMETRA_CACHE_NAMESPACE": backends.namespace,
        "TELEMETRA_PORT": str(port),
        "TELEMETRA_ACCESS_LOG": "true" if args.access_log else "false",
        "TELEMETRA_QUERY_CACHE_MB": "0" if args.no_query_cache else "32",
        "TELEMETRA_LIVE_AFTER_S": "100000",
        "TELEMETRA_RATE_LIMIT_PER_S": "0",  # every request comes from one address here
        "TELEMETRA_MAX_IN_FLIGHT": str(args.max_in_flight),
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "telemetra.services"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the API did not become ready; see {log}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def preemptions(pid: int) -> int:
    """Involuntary context switches of the process's threads so far: how often the kernel took the CPU away
    while the API still had work, i.e. how much it competed with other processes on the machine."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            for line in (task / "status").read_text().splitlines():
                if line.startswith("nonvoluntary_ctxt_switches:"):
                    total += int(line.split()[1])
    return total


def memory_kib(pid: int) -> dict[str, int]:
    """Current (VmRSS) and peak (VmHWM) resident memory of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


# -- statistics --------------------------------------------------------------------------------------------
def percentiles(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "p99.9": at(0.999), "max": ordered[-1]}


def ms(stats: dict[str, float]) -> str:
    return ", ".join(f"{k} {v * 1000:.2f} ms" for k, v in stats.items())


# -- HTTP load ---------------------------------------------------------------------------------------------
class HttpConnection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        return cls(reader, writer)

    async def get(self, path: str) -> tuple[int, int]:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        match = re.search(rb"(?i)content-length: *(\d+)", head)
        length = int(match.group(1)) if match else 0
        body = await self.reader.readexactly(length)
        return status, len(body)


def metrics_paths(count: int) -> list[str]:
    """The last 15 minutes of the stored hour, ending at ``count`` different 10 s boundaries."""
    end = START + HOUR
    paths = []
    for i in range(count):
        to = end - 10 * i
        frm = to - 900
        paths.append(f"/api/v1/streams/alpha/metrics?from={format_ts(frm)}&to={format_ts(to)}&limit=100")
    return paths


@dataclass
class HttpResult:
    sent: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latency: list[float] = field(default_factory=list)  # from the scheduled send time
    by_status: dict[int, list[float]] = field(default_factory=dict)  # the same, by status
    service: list[float] = field(default_factory=list)  # from the actual send time
    bytes: int = 0
    elapsed: float = 0.0


async def http_load(
    port: int, paths: list[str], rate: float, duration: float, connections: int
) -> HttpResult:
    idle: asyncio.Queue[HttpConnection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await HttpConnection.open(port))
    result = HttpResult()
    total = int(rate * duration)
    tasks: set[asyncio.Task[None]] = set()

    async def one(index: int, scheduled: float) -> None:
        connection = await idle.get()
        sent = time.perf_counter()
        try:
            status, size = await connection.get(paths[index % len(paths)])
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
            connection = await HttpConnection.open(port)
        else:
            done = time.perf_counter()
            result.statuses[status] = result.statuses.get(status, 0) + 1
            result.latency.append(done - scheduled)
            result.by_status.setdefault(status, []).append(done - scheduled)
            result.service.append(done - sent)
            result.bytes += size
        idle.put_nowait(connection)

    # perf_counter, not loop.time(): uvloop's clock has millisecond resolution.
    start = time.perf_counter() + 0.05
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(index, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        result.sent += 1
    await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait().writer.close()
    return result


async def capacity(port: int, paths: list[str], duration: float, connections: int) -> float:
    """Answers (200) a second of a closed loop: each connection asks again as soon as it is answered."""
    answered = 0

    async def loop(connection: HttpConnection, deadline: float) -> None:
        nonlocal answered
        index = 0
        while time.perf_counter() < deadline:
            status, _ = await connection.get(paths[index % len(paths)])
            answered += status == 200
            index += 1
        connection.writer.close()

    pool = [await HttpConnection.open(port) for _ in range(connections)]
    started = time.perf_counter()
    await asyncio.gather(*(loop(connection, started + duration) for connection in pool))
    return answered / (time.perf_counter() - started)


# -- WebSocket load ----------------------------------------------------------------------------------------
_PUBLISHED_AT = re.compile(rb'"published_at":([0-9.eE+-]+)')


class LagClient(asyncio.Protocol):
    """A minimal WebSocket client: handshake, then read frames, timestamping each chunk on arrival."""

    by_update: ClassVar[dict[float, list[float]]] = {}  # shared by all clients: lags per update

    def __init__(self, path: str, lags: list[float], ready: asyncio.Future[None]):
        self.path, self.lags, self.ready = path, lags, ready
        self.buffer = b""
        self.handshaken = False
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses
        self.messages = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        arrived = time.time()  # before any parsing: the client's own work is not part of the lag
        self.buffer += data
        if not self.handshaken:
            _, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            self.handshaken = True
            self.buffer = rest
        for opcode, payload in self._frames():
            if opcode == 0x9:  # ping: answer, or the server drops us as dead
                self._send(0xA, payload)
            elif opcode == 0x1:
                self._message(payload, arrived)

    def _message(self, payload: bytes, arrived: float) -> None:
        self.messages += 1
        if self.messages == 1 and not self.ready.done():
            self.ready.set_result(None)  # the snapshot
        elif payload.startswith(b'{"type":"live"'):
            match = _PUBLISHED_AT.search(payload)
            if match:
                published = float(match.group(1))
                self.lags.append(arrived - published)
                self.by_update.setdefault(published, []).append(arrived - published)

    def _frames(self) -> Iterator[tuple[int, bytes]]:
        while len(self.buffer) >= 2:
            opcode, length, offset = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F, 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length, offset = int.from_bytes(self.buffer[2:4], "big"), 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                length, offset = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < offset + length:
                return
            payload, self.buffer = self.buffer[offset : offset + length], self.buffer[offset + length :]
            yield opcode, payload

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport is not None and len(payload) < 126
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)


async def ws_load(
    port: int, backends: Backends, clients: int, updates: int, interval: float
) -> tuple[list[float], int, float]:
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    protocols: list[LagClient] = []
    started = time.monotonic()
    for batch in range(0, clients, 50):  # connect in batches: a burst of 1,000 handshakes is not the point
        waits = []
        for _ in range(min(50, clients - batch)):
            ready: asyncio.Future[None] = loop.create_future()
            _, protocol = await loop.create_connection(
                lambda ready=ready: LagClient("/ws/live/alpha", lags, ready), "127.0.0.1", port
            )
            protocols.append(protocol)
            waits.append(ready)
        await asyncio.wait_for(asyncio.gather(*waits), 60)
    connect_time = time.monotonic() - started

    cache = open_cache(backends.cache_url, namespace=backends.namespace)
    store = open_store(backends.store_url)
    await store.start()
    await cache.start()
    sink = ServiceOutput(store, cache)  # this process plays the engine
    template = process_mock(["alpha"], seconds=120, rate=5.0, start=START + HOUR).windows[-1]
    for n in range(updates):
        await sink.publish_live([replace(template, messages=n, final=False)])
        await asyncio.sleep(interval)
    await asyncio.sleep(1.0)
    await cache.close()
    await store.close()
    for protocol in protocols:
        if protocol.transport is not None:
            protocol.transport.close()
    return lags, len(protocols), connect_time


# -- main --------------------------------------------------------------------------------------------------
@dataclass
class Probe:
    """What the API process used while a phase ran, and how much it had to compete for the machine."""

    pid: int
    cpu: float = 0.0
    preempted: int = 0
    load: float = 0.0
    started: float = 0.0

    def __enter__(self) -> Probe:
        self.cpu, self.preempted = cpu_seconds(self.pid), preemptions(self.pid)
        self.load, self.started = os.getloadavg()[0], time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = cpu_seconds(self.pid) - self.cpu
        self.preempted = preemptions(self.pid) - self.preempted
        self.started = time.monotonic() - self.started  # now: the phase's duration

    def gc(self, port: int) -> str:
        """Full (generation 2) collections in the API so far, from its /metrics."""
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        count = re.search(r'telemetra_gc_pause_seconds_count\{generation="2"\} ([0-9.e+]+)', text)
        total = re.search(r'telemetra_gc_pause_seconds_sum\{generation="2"\} ([0-9.e+]+)', text)
        if not count or not total or float(count.group(1)) == 0:
            return "no full collections"
        n = float(count.group(1))
        return f"{n:.0f} full collections, {float(total.group(1)) / n * 1000:.0f} ms on average"

    def report(self, requests: int = 0) -> None:
        per_request = f" ({self.cpu / requests * 1e6:.0f} µs/request)" if requests else ""
        print(f"API CPU {self.cpu / self.started:.0%} of a core{per_request}; preempted {self.preempted} times; "
              f"load average {self.load:.2f} → {os.getloadavg()[0]:.2f}")  # fmt: skip
        print(f"API memory: {memory_kib(self.pid)} KiB")


def report_http(label: str, result: HttpResult) -> None:
    print(f"\n## HTTP: {label}")
    print(f"sent {result.sent} in {result.elapsed:.1f} s = {result.sent / result.elapsed:.0f} req/s; "
          f"statuses {result.statuses}; errors {result.errors}; "
          f"{result.bytes / max(len(result.latency), 1) / 1024:.1f} KiB per answer")  # fmt: skip
    print(f"latency (from scheduled send): {ms(percentiles(result.latency))}")
    print(f"service time (from actual send): {ms(percentiles(result.service))}")


def report_ws(lags: list[float], connected: int, seconds: float, args: argparse.Namespace) -> None:
    print(
        f"\n## WebSocket: {connected} clients on one stream, {args.updates} updates every {args.interval} s"
    )
    print(f"connected in {seconds:.1f} s; deliveries {len(lags)} of {connected * args.updates}")
    mean = statistics.fmean(lags) * 1000 if lags else 0.0
    print(f"delivery lag (published → arrived): {ms(percentiles(lags))}; mean {mean:.2f} ms")
    order = {published: n for n, published in enumerate(sorted(LagClient.by_update))}
    worst = sorted(LagClient.by_update.items(), key=lambda item: -max(item[1]))[:3]
    spans = ", ".join(f"#{order[p] + 1}: {min(v) * 1000:.0f}–{max(v) * 1000:.0f} ms" for p, v in worst)
    print(f"slowest updates (first–last client): {spans}")


def report_overload(label: str, result: HttpResult) -> None:
    answered, shed = result.by_status.get(200, []), result.by_status.get(503, [])
    print(f"\n## {label}")
    others = {status: len(v) for status, v in result.by_status.items() if status not in (200, 503)}
    print(f"offered {result.sent / result.elapsed:.0f} req/s; answered {len(answered) / result.elapsed:.0f}/s; "
          f"503 {len(shed) / max(result.sent, 1):.1%}; other statuses {others}; errors {result.errors}")  # fmt: skip
    print(f"answered (200), from scheduled send: {ms(percentiles(answered))}")
    if shed:
        print(f"shed (503), from scheduled send: {ms(percentiles(shed))}")


async def overload(args: argparse.Namespace, backends: Backends, work: Path) -> None:
    """Capacity, then ``args.overload`` × capacity against shedding on and (the peer) off."""
    paths = [args.path] if args.path else metrics_paths(args.distinct)
    offered = 0.0
    for limit in (args.max_in_flight, 1_000_000):
        port = free_port()
        api = await asyncio.to_thread(
            start_api,
            backends,
            port,
            argparse.Namespace(**{**vars(args), "max_in_flight": limit}),
            work / "api.log",
        )
        try:
            await capacity(port, paths, args.warmup, args.connections)  # warm-up
            if not offered:
                measured = await capacity(port, paths, 10.0, args.connections)
                offered = measured * args.overload
                print(
                    f"# capacity (closed loop, {args.connections} connections, 10 s): {measured:.0f} answers/s"
                )
            result = await http_load(port, paths, offered, args.duration, 4 * args.max_in_flight)
            shedding = f"max_in_flight {limit}" if limit == args.max_in_flight else "no load shedding (peer)"
            report_overload(
                f"{args.overload:g} × capacity = {offered:.0f} req/s for {args.duration:g} s, {shedding}",
                result,
            )
        finally:
            api.terminate()
            api.wait(15)


async def steady(args: argparse.Namespace, backends: Backends, work: Path, windows: int) -> None:
    """The HTTP rate, then the WebSocket fan-out, against one API process."""
    port = free_port()
    api = await asyncio.to_thread(start_api, backends, port, args, work / "api.log")
    try:
        print(
            f"# API load: store {args.store}, cache {args.cache}, {windows} windows stored, API pid {api.pid}"
        )
        print(f"API memory after start-up: {memory_kib(api.pid)} KiB")
        paths = [args.path] if args.path else metrics_paths(args.distinct)
        await http_load(port, paths, args.rate, args.warmup, args.connections)  # warm-up, not reported
        with Probe(api.pid) as probe:
            own_cpu = time.process_time()
            result = await http_load(port, paths, args.rate, args.duration, args.connections)
            own_cpu = time.process_time() - own_cpu
        plural = "y" if len(paths) == 1 else "ies"
        report_http(f"{len(paths)} distinct quer{plural}, {args.rate:.0f} req/s", result)
        probe.report(result.sent)
        print(f"load generator CPU {own_cpu / result.elapsed:.0%} of a core")
        if args.ws_clients:
            with Probe(api.pid) as probe:
                lags, connected, seconds = await ws_load(
                    port, backends, args.ws_clients, args.updates, args.interval
                )
            report_ws(lags, connected, seconds, args)
            probe.report()
        print(f"API garbage collector since start-up: {probe.gc(port)}")
    finally:
        api.terminate()
        api.wait(15)


async def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="telemetra-bench-"))
    backends = start_backends(args, work)
    try:
        windows = await populate(backends)
        if args.overload:
            print(f"# API overload: store {args.store}, cache {args.cache}, {windows} windows stored")
            await overload(args, backends, work)
        else:
            await steady(args, backends, work, windows)
    finally:
        backends.close()
    shutil.rmtree(work, ignore_errors=True)  # kept on failure: the API's log is in it
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop

        return uvloop.run(run(args))
    except ImportError:
        return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
