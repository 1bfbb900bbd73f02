"""``python -m telemetra.dev.stack`` (``make stack``): the demo's experience on the real components, each a
local process.

PostgreSQL, Redis and Kafka (KRaft) start first, in parallel; then the API (serving the dashboard at ``/``)
over ``postgresql://`` and ``redis://``; then one Spark Structured Streaming job in local mode for the
``demo`` pool, which serves every channel from the pool's topic ``telemetra.pool.demo.events`` (keyed by
stream id), whose output offers moments to alerting; a dispatcher sending the alerts (both read the streams'
alert configs from the outbox in PostgreSQL: ``--alerts FILE`` writes them, as does the admin API); then the
mock producer writing the demo's channels and schedule to that topic. Everything lives
in one data directory (logs in ``logs/``), so history, topics and checkpoints survive a restart. Ctrl-C (or
SIGTERM) stops the parts in reverse order, each by its PID, and exits 0; a part that dies on its own stops
the rest and exits 1, after printing the end of its log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from telemetra.apps.demo import DEMO_STREAMS, DURATION, schedule
from telemetra.dev.localstack.process import (
    ServerError,
    free_port,
    port_open,
    progress,
    tail,
    terminate,
    track,
)
from telemetra.producers.scenarios import Scenario
from telemetra.records import PoolTopics

DATABASE = "telemetra"
POOL = "demo"  # the processing pool every channel of the stack is in
COMPACTED = {"cleanup.policy": "compact"}  # a pool's control topic keeps each stream's newest config
TRIGGER_INTERVAL = "3s"  # the dashboard feels live; a micro-batch costs 0.5–2 s of a core per job
SPARK_STARTUP_TIMEOUT = 180.0  # a cold JVM, the Kafka connector's jars and the first query plan
SPARK_STOP_TIMEOUT = 30.0
SPARK_DRIVER_MEMORY = "512m"  # the pool's job: its state is a few MB per channel
TASK_STOP_TIMEOUT = 30.0  # the producer flushes to Kafka; the API lets sockets close


@dataclass(frozen=True)
class StackOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".telemetra/stack")
    static_dir: Path | None = None  # the built dashboard (frontend/dist), served at /
    streams: Sequence[str] = DEMO_STREAMS
    rate: float = 40.0  # events/s per stream
    seed: int | None = None  # None: a new seed per run (event ids stay unique across restarts)
    speed: float = 1.0  # N: the producer runs N× faster than real time (event time runs ahead of the clock)
    duration: float = DURATION  # seconds of event time the producer writes, then it stops (the rest runs on)
    scenarios: Sequence[Scenario] | None = None  # None: the demo's schedule
    trigger_interval: str = TRIGGER_INTERVAL
    spark_master: str = "local[2]"
    alerts: Mapping[str, Any] | None = None  # stream id → its AlertConfig (``--alerts FILE``)


@dataclass
class Part:
    """A started component: how to stop it, and (for processes) how to tell it is still alive."""

    name: str
    stop: Callable[[], Awaitable[None]]
    alive: Callable[[], bool] = lambda: True
    log: Path | None = None
    pid: int | None = None

    def failure(self) -> str:
        """What to say when the part died on its own."""
        return f"{self.name} stopped unexpectedly" + (f"; {self.log}:\n{tail(self.log)}" if self.log else "")


@dataclass
class _Run:
    options: StackOptions
    root: Path
    parts: list[Part] = field(default_factory=list)


async def run_stack(options: StackOptions, stop: asyncio.Event) -> int:
    """Start everything, run until ``stop`` is set (0) or a part fails (1), then stop in reverse order."""
    root = options.data_dir.resolve()
    run = _Run(options, root)
    try:
        return await _start_and_watch(run, stop)
    except (ServerError, RuntimeError, OSError, TimeoutError) as error:  # KafkaSetupError is a RuntimeError
        progress(f"the stack could not start: {error}")
        return 1
    finally:
        await _stop_all(run.parts)


async def _start_and_watch(run: _Run, stop: asyncio.Event) -> int:
    from telemetra.dev.localstack.kafka import KafkaBroker
    from telemetra.dev.localstack.postgres import PostgresServer
    from telemetra.dev.localstack.redis import RedisServer
    from telemetra.services.server import until_serving

    options, root = run.options, run.root
    if port_open(options.port):
        raise ServerError(f"port {options.port} is taken; choose another with --port")
    _check_reachable_by_postgres(root)
    (root / "logs").mkdir(parents=True, exist_ok=True)

    postgres = PostgresServer(root / "postgres")
    redis = RedisServer(work_dir=root / "redis")
    kafka = KafkaBroker(root / "kafka")
    servers: list[tuple[str, Any]] = [("PostgreSQL", postgres), ("Redis", redis), ("Kafka", kafka)]
    for name, server in servers:  # registered first: a failed start still stops what did start
        run.parts.append(_server_part(name, server))
    progress(f"starting PostgreSQL, Redis and Kafka (KRaft) in {root}")
    # All three are waited for, even when one fails: none may still be starting when the others are stopped.
    results = await asyncio.gather(*(_timed(n, s) for n, s in servers), return_exceptions=True)
    for error in results:
        if isinstance(error, BaseException):
            raise error
    for part, (_, server) in zip(run.parts, servers, strict=True):
        part.pid = server.pid
    if stop.is_set():
        return 0

    store_url = await asyncio.to_thread(_ensure_database, postgres)
    cache_url = redis.url()
    topics = PoolTopics.of(POOL)
    existing = await _ensure_topics(kafka.bootstrap, {topics.events: {}, topics.control: COMPACTED})
    event_start = await _event_clock(kafka.bootstrap, [t for t in existing if t == topics.events])

    api_started = time.monotonic()
    api_stop = asyncio.Event()
    api = asyncio.create_task(_serve_api(options, store_url, cache_url, api_stop), name="api")
    run.parts.append(Part("API", lambda: _stop_task(api, api_stop), lambda: not api.done()))
    await until_serving(options.host, options.port, api)
    progress(f"API ready in {time.monotonic() - api_started:.1f} s on http://{options.host}:{options.port}")

    alerts_stop = asyncio.Event()
    alerts = asyncio.create_task(_dispatch_alerts(options, store_url, alerts_stop), name="alerts")
    run.parts.append(Part("alerts", lambda: _stop_task(alerts, alerts_stop), lambda: not alerts.done()))

    # One job for the pool: every channel, however many, in one JVM.
    await asyncio.to_thread(_ensure_spark_jars)
    job = PoolJobProcess(POOL, root, kafka.bootstrap, store_url, cache_url, options.trigger_interval,
                         options.spark_master)  # fmt: skip
    job.start()
    run.parts.append(Part(job.name, job.stop, job.alive, log=job.log_file, pid=job.pid))
    await job.wait_ready(stop)
    if stop.is_set():
        return 0

    producer_stop = asyncio.Event()
    producer = asyncio.create_task(
        _produce(options, kafka.bootstrap, topics.events, event_start, producer_stop)
    )
    run.parts.append(Part("producer", lambda: _stop_task(producer, producer_stop)))
    _announce(options, root, kafka.bootstrap, store_url, cache_url, job)
    return await _watch(run.parts, producer, stop)


# -- the servers -------------------------------------------------------------------------------------------
async def _timed(name: str, server: Any) -> None:
    started = time.monotonic()
    await asyncio.to_thread(server.start)
    progress(f"{name} ready in {time.monotonic() - started:.1f} s (pid {server.pid})")


def _server_part(name: str, server: Any) -> Part:
    return Part(name, lambda: asyncio.to_thread(server.stop), lambda: bool(server.running), server.log_file)


def _ensure_database(postgres: Any) -> str:
    exists = postgres.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'").strip()
    dsn: str = postgres.dsn(DATABASE) if exists else postgres.create_database(DATABASE)
    return dsn


def _check_reachable_by_postgres(root: Path) -> None:
    """As root, PostgreSQL runs as the ``postgres`` user, which must be able to reach the data directory."""
    if os.geteuid() != 0:
        return
    for directory in [root, *root.parents]:
        with contextlib.suppress(FileNotFoundError):
            mode = directory.stat().st_mode
            if not mode & stat.S_IXOTH:
                raise ServerError(
                    f"{directory} is private to root, and PostgreSQL runs as the 'postgres' user: "
                    "choose a --data-dir it can reach (e.g. under /tmp or /var/tmp)"
                )


async def _ensure_topics(bootstrap: str, topics: dict[str, dict[str, str]]) -> list[str]:
    """Each topic (name → its config) with one partition (the stack's pool is small; keyed by stream id,
    events keep their order); returns the topics that existed already (those just created are empty)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            response = await admin.create_topics(
                [NewTopic(t, 1, 1, topic_configs=topics[t]) for t in missing]
            )
            failed = [e for e in response.topic_errors if e[1] not in (0, 36)]  # 36: already exists
            if failed:
                raise ServerError(f"could not create Kafka topics: {failed}")
    finally:
        await admin.close()
    return [t for t in topics if t in existing]


async def _event_clock(bootstrap: str, topics: Sequence[str]) -> float:
    """Now, or just after the newest event already in Kafka when an earlier faster-than-real-time run left
    event time ahead of the clock: the job's watermark would drop everything older as late."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from telemetra.contract import parse_ts

    now = float(int(time.time()))
    if not topics:
        return now
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(t, 0) for t in topics]
        consumer.assign(partitions)
        newest = now
        for partition, end in (await consumer.end_offsets(partitions)).items():
            if end > 0:
                consumer.seek(partition, end - 1)
                record = await asyncio.wait_for(consumer.getone(partition), 10)
                with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
                    newest = max(newest, parse_ts(_json(record.value)["ts"]) + 1)
    finally:
        await consumer.stop()
    if newest > now:
        progress(f"event time continues after the newest event in Kafka, {newest - now:.0f} s ahead of now")
    return float(int(newest))


def _json(value: bytes | None) -> dict[str, Any]:
    import orjson

    decoded: dict[str, Any] = orjson.loads(value or b"{}")
    return decoded


# -- the API -------------------------------------------------------------------------------------------------
async def _serve_api(options: StackOptions, store_url: str, cache_url: str, stop: asyncio.Event) -> None:
    from telemetra.services.api import create_app
    from telemetra.services.server import serve
    from telemetra.services.settings import Settings

    settings = Settings(
        host=options.host,
        port=options.port,
        store_url=store_url,
        cache_url=cache_url,
        dashboard_dir=options.static_dir,
    )
    app = create_app(settings)
    await serve(app, settings, stop)


# -- alerts ------------------------------------------------------------------------------------------------
async def _dispatch_alerts(options: StackOptions, store_url: str, stop: asyncio.Event) -> None:
    """The ``--alerts`` file's configs into the outbox (in the stack's PostgreSQL), then a dispatcher until
    ``stop``. The Spark job's output reads the configs from there and offers its moments."""
    from telemetra.apps.demo import store_file_configs
    from telemetra.services.alerts import AlertSettings, open_outbox, run_dispatcher

    settings = AlertSettings(outbox_url=store_url)
    outbox = open_outbox(settings.outbox_url)
    await outbox.start()
    try:
        await store_file_configs(outbox, options.alerts or {})
    finally:
        await outbox.close()
    await run_dispatcher(settings, stop)


# -- the Spark jobs ------------------------------------------------------------------------------------------
def _ensure_spark_jars() -> None:
    """The Kafka connector's jars, resolved here on a first run, so that wait is shown and done once; named in
    ``$TELEMETRA_SPARK_JARS``, which the jobs inherit."""
    from telemetra.dev.localstack.spark_jars import export_spark_jars, jars_home
    from telemetra.spark.jars import SparkSetupError

    started = time.monotonic()
    try:
        export_spark_jars()
    except SparkSetupError as error:
        raise ServerError(str(error)) from None
    if time.monotonic() - started > 1:
        progress(f"Spark Kafka connector ready in {time.monotonic() - started:.1f} s ({jars_home()})")


class PoolJobProcess:
    """``python -m telemetra.apps.spark_job --pool NAME``, as a child process in a session of its own (Ctrl-C
    in the terminal reaches the stack, which stops the job in order). Its JVM and Python workers are its
    children; ``stop`` waits for them too."""

    def __init__(
        self,
        pool: str,
        root: Path,
        bootstrap: str,
        store_url: str,
        cache_url: str,
        trigger_interval: str = TRIGGER_INTERVAL,
        master: str = "local[2]",
    ):
        self.pool = pool
        self.name = f"Spark job (pool {pool})"
        self.root = root
        self.metrics_port = free_port()
        self.log_file = root / "logs" / f"spark-{pool}.log"
        self.command = spark_command(
            pool, bootstrap, root / "spark" / "checkpoints" / f"pool-{pool}", store_url, cache_url,
            trigger_interval=trigger_interval, master=master, metrics_port=self.metrics_port,
        )  # fmt: skip
        # Also in the environment, where the job looks when a flag is missing (as it does on Kubernetes).
        self.env = {**os.environ, "TELEMETRA_STORE_URL": store_url, "TELEMETRA_CACHE_URL": cache_url}
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._started = 0.0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        self._log = self.log_file.open("ab")
        self._log.write(f"---- stack: {' '.join(self.command)}\n".encode())
        self._log.flush()
        self._started = time.monotonic()
        progress(f"starting {self.name} (local mode; log {self.log_file})")
        self._process = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        track(self._process)

    async def wait_ready(self, stop: asyncio.Event, within: float = SPARK_STARTUP_TIMEOUT) -> None:
        """Ready when the job reports its streaming query active on its metrics endpoint."""
        import httpx

        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2) as client:
            while not stop.is_set():
                if not self.alive():
                    code = self._process.returncode if self._process else None
                    raise ServerError(f"{self.name} exited with code {code}; {self.log_file}:\n"
                                      f"{tail(self.log_file)}")  # fmt: skip
                with contextlib.suppress(httpx.HTTPError):
                    if query_active((await client.get(self.metrics_url)).text):
                        progress(
                            f"{self.name} ready in {time.monotonic() - self._started:.1f} s (pid {self.pid})"
                        )
                        return
                if time.monotonic() > deadline:
                    raise ServerError(f"{self.name} not ready after {within:.0f} s; {self.log_file}:\n"
                                      f"{tail(self.log_file)}")  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            family = descendants(process.pid)  # the JVM and Python workers: they leave after the driver
            await asyncio.to_thread(terminate, process, signal.SIGTERM, SPARK_STOP_TIMEOUT)
            await asyncio.to_thread(_reap, family, 15.0)
        if self._log is not None:
            self._log.close()
            self._log = None


def query_active(metrics: str) -> bool:
    """Whether a job's Prometheus text says its streaming query runs."""
    return any(
        line.startswith("telemetra_spark_query_active{") and float(line.rsplit(" ", 1)[1]) == 1
        for line in metrics.splitlines()
    )


def spark_command(
    pool: str,
    bootstrap: str,
    checkpoint: Path,
    store_url: str,
    cache_url: str,
    *,
    trigger_interval: str = TRIGGER_INTERVAL,
    master: str = "local[2]",
    metrics_port: int = 9108,
) -> list[str]:
    """The pool's job (``telemetra.apps.spark_job``), its endpoints on loopback."""
    return [
        sys.executable, "-m", "telemetra.apps.spark_job",
        "--pool", pool,
        "--kafka-bootstrap", bootstrap,
        "--checkpoint-dir", checkpoint.as_uri(),
        "--store-url", store_url,
        "--cache-url", cache_url,
        "--trigger-interval", trigger_interval,
        "--starting-offsets", "earliest",
        "--metrics-port", str(metrics_port),
        "--metrics-host", "127.0.0.1",
        "--master", master,
        # A few channels' state is small: a smaller heap than the job's default 1g suits a laptop.
        "--conf", f"spark.driver.memory={SPARK_DRIVER_MEMORY}",
    ]  # fmt: skip


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc; empty where there is none)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name is in parentheses and may hold spaces: the fields after it are fixed.
            parent = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _reap(pids: Sequence[int], timeout: float) -> None:
    """Wait for these PIDs to go; SIGKILL, by PID, whichever is still there after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if _exists(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


# -- the producer --------------------------------------------------------------------------------------------
async def _produce(
    options: StackOptions, bootstrap: str, topic: str, start: float, stop: asyncio.Event
) -> None:
    from telemetra.producers.mock import MockConfig, generate_batches
    from telemetra.producers.runner import pump
    from telemetra.sinks.kafka import KafkaSink

    mock = MockConfig(
        streams=options.streams,
        rate=options.rate,
        duration=options.duration,
        seed=int(start) if options.seed is None else options.seed,
        start=start,
        scenarios=schedule(144) if options.scenarios is None else options.scenarios,
    )
    sink = KafkaSink(bootstrap, topic_template=topic)  # the pool's topic, keyed by stream id
    report = await pump(generate_batches(mock), sink, speed=options.speed, stop=stop)
    if not stop.is_set():
        progress(
            f"producer finished: {report.events} events in {report.seconds:.1f} s; the rest keeps running"
        )


# -- running and stopping ------------------------------------------------------------------------------------
async def _watch(parts: list[Part], producer: asyncio.Task[None], stop: asyncio.Event) -> int:
    """Until ``stop``: 0. A part that dies (or a producer that fails) stops the stack: 1."""
    while not stop.is_set():
        if producer.done() and producer.exception() is not None:
            progress(f"the producer failed: {producer.exception()}")
            return 1
        for part in parts:
            if not part.alive():
                progress(part.failure())
                return 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    return 0


async def _stop_all(parts: list[Part]) -> None:
    """Reverse order of start; a part that fails to stop does not keep the others running."""
    if parts:
        progress("stopping")
    for part in reversed(parts):
        started = time.monotonic()
        try:
            await part.stop()
        except Exception as error:  # keep stopping the rest
            progress(f"{part.name} did not stop cleanly: {error}")
        else:
            pid = f" (pid {part.pid})" if part.pid else ""
            progress(f"{part.name} stopped{pid} in {time.monotonic() - started:.1f} s")
    parts.clear()


async def _stop_task(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.wait_for(task, TASK_STOP_TIMEOUT)


def _announce(
    options: StackOptions,
    root: Path,
    bootstrap: str,
    store_url: str,
    cache_url: str,
    job: PoolJobProcess,
) -> None:
    from telemetra.services.api.dashboard import is_built

    base = f"http://{options.host}:{options.port}"
    has_dashboard = is_built(options.static_dir)
    topics = PoolTopics.of(job.pool)
    lines = [
        "",
        "  Telemetra local stack is running (Ctrl-C stops it)",
        f"  dashboard      {base}/"
        if has_dashboard
        else "  dashboard      not built (make frontend), using the API docs",
        f"  API docs       {base}/docs",
        f"  streams        {base}/api/v1/streams",
        f"  live           ws://{options.host}:{options.port}/ws/live/{options.streams[0]}",
        f"  Kafka          {bootstrap}  (topics {topics.events}, {topics.control})",
        f"  PostgreSQL     {store_url}",
        f"  Redis          {cache_url}",
        f"  alerts         {len(options.alerts or {})} streams from --alerts; more at "
        f"{base}/api/v1/admin/streams/{{id}}/alerts",
        f"  Spark metrics  {job.metrics_url}  (pool {job.pool}: {', '.join(options.streams)})",
        f"  data           {root}  (logs: {root / 'logs'})",
    ]
    if options.scenarios is None:
        raid, warmup = 35 / options.speed, 120 / options.speed
        lines.append(f"  moments        first raid after ~{raid:.0f} s; chat spikes, gift bombs, swings after "
                     f"the warm-up (~{warmup:.0f} s)")  # fmt: skip
    print("\n".join([*lines, ""]), flush=True)


# -- the command line ----------------------------------------------------------------------------------------
def _duration(text: str) -> str:
    from telemetra.spark.settings import parse_duration_ms

    try:
        parse_duration_ms(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    from telemetra.apps.cli import _scenario, _stream_list

    default_static = Path(__file__).resolve().parents[4] / "frontend" / "dist"
    parser = argparse.ArgumentParser(
        prog="python -m telemetra.dev.stack",
        description="The demo on real components as local processes: Kafka, Spark (local mode), PostgreSQL, "
        "Redis. Ctrl-C stops them.",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("TELEMETRA_LOG_LEVEL", "INFO"),
        help="DEBUG, INFO, WARNING or ERROR (env TELEMETRA_LOG_LEVEL; default INFO)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address the API listens on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port of the API and dashboard (default 8000)")
    parser.add_argument(
        "--data-dir",
        default=".telemetra/stack",
        help="Kafka, PostgreSQL and Spark checkpoint data and the logs; kept between runs "
        "(default .telemetra/stack)",
    )
    parser.add_argument("--static-dir", default=str(default_static), help="built dashboard to serve at /")
    parser.add_argument(
        "--streams",
        type=_stream_list,
        help="comma-separated stream ids (default: the demo's three channels)",
    )
    parser.add_argument("--rate", type=float, default=40.0, help="mean events/s per stream (default 40)")
    parser.add_argument("--seed", type=int, help="random seed of the traffic (default: a new one per run)")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="N = produce N× faster than real time; event time then runs ahead of the clock (default 1)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=7 * 24 * 3600.0,
        help="seconds of event time to produce; the rest keeps running after (default: a week)",
    )
    parser.add_argument(
        "--scenario",
        type=_scenario,
        action="append",
        default=[],
        help="KIND@START[+DURATION][xFACTOR][/STREAM] instead of the demo's schedule, repeatable "
        "(see telemetra produce --scenario)",
    )
    parser.add_argument(
        "--trigger-interval",
        type=_duration,
        default=TRIGGER_INTERVAL,
        help=f"Spark micro-batch period, e.g. 2s; shorter is livelier and busier (default {TRIGGER_INTERVAL})",
    )
    parser.add_argument(
        "--alerts",
        metavar="FILE",
        help="alert rules: a JSON object {stream_id: {destinations, rules}}, as for telemetra demo --alerts",
    )
    return parser


def options_from(args: argparse.Namespace) -> StackOptions:
    from telemetra.apps.cli import _alert_configs

    return StackOptions(
        host=args.host,
        port=args.port,
        data_dir=Path(args.data_dir),
        static_dir=Path(args.static_dir) if args.static_dir else None,
        streams=args.streams or DEMO_STREAMS,
        rate=args.rate,
        seed=args.seed,
        speed=args.speed,
        duration=args.duration,
        scenarios=args.scenario or None,
        trigger_interval=args.trigger_interval,
        alerts=_alert_configs(args.alerts) if args.alerts else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    from telemetra.apps.cli import _fail, _one_line, _run_until_signal
    from telemetra.logs import configure_logging

    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        options = options_from(args)
    except (ValueError, OSError) as error:
        return _fail("stack", _one_line(error), 2)
    return _run_until_signal(lambda stop: run_stack(options, stop))


if __name__ == "__main__":
    sys.exit(main())
