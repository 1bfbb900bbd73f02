"""Pool throughput: one shared Kafka topic of many streams → per-stream sliding windows → PostgreSQL, per engine.

A pool is one job serving many streams from one topic (``telemetra.pool.<pool>.events``, keyed by stream id,
value = the contract event's JSON, as the producers write it). The script starts its own Kafka broker and
PostgreSQL (``telemetra.dev.localstack``), creates the pool topic (``--partitions``), and fills it with mock
traffic of ``--streams`` streams (``telemetra.producers.mock``: viewers, chat, money, metadata; ``--rate``
events/s per stream for ``--duration`` s of event time), all of it *before* any engine starts. Then each
``--engine`` consumes that backlog from the start, computes each stream's 60 s/10 s windows and stores the
closed ones, and is measured:

* **events/s** = events in the topic / time from the first record consumed to the last window stored (so
  start-up, group join and the engine's own warm-up before its first record are not counted);
* **CPU seconds** of the engine's processes over that time, and their **peak RSS** (``VmHWM`` from ``/proc``);
  the CPU the Kafka broker and PostgreSQL used while the engine ran is shown too (they share the cores).

Afterwards the windows an engine stored for ``--check-streams`` streams are compared with the project's own
offline engine (``telemetra.engine.offline.process_lines``) over the same events: chat messages, unique
chatters, sentiment, positive/neutral/negative and transactions per window. The offline engine flushes at the
end of input; a streaming engine cannot close the last windows of a stream (their end is within the allowed
lateness of the stream's newest event), so those are listed apart, as expected.

Engines are plugged in through :data:`ENGINES` (name → how to run it, how to read what it stored); each run is
``run_engine(name, topic, bootstrap, store_url, settings) -> Result``. ``quix`` (hopping windows) and
``quix-panes`` (10 s panes assembled into the windows) are the quixstreams peer in
``bench/peers/quix_windows.py``: ``--processes`` members of one consumer group, one core each. It needs the
``bench`` extra, which ``make bench`` installs into ``.venv/bench`` (quixstreams pins pydantic below the
project's, so not into ``.venv``). Usage::

    .venv/bin/python bench/pool_throughput.py [--engine spark --engine quix --engine quix-panes] [--streams 1000]
        [--rate 20] [--duration 120] [--partitions 4] [--processes 2] [--peer-python .venv/bench/bin/python]
        [--check-streams 5] [--no-changelog] [--commit-interval 5] [--peer-arg ARG …] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner
from spark_pipeline import job_processes, process_ticks, rss_mib

from telemetra.analytics.config import AnalyticsConfig
from telemetra.contract import parse_ts
from telemetra.dev.localstack.kafka import KafkaBroker
from telemetra.dev.localstack.postgres import PostgresServer
from telemetra.dev.localstack.process import terminate, track
from telemetra.engine.offline import process_lines
from telemetra.producers.mock import MockConfig, generate_batches
from telemetra.records import PoolTopics, WindowMetrics

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / "peers"
POOL_TABLE_SQL = PEERS / "pool_windows.sql"
START = 1_790_000_100.0  # 2026-09-21T14:15:00Z, on a window boundary
GROUP_JOIN_DELAY_MS = 3000  # the broker waits this long for every member before the first assignment
MiB = 1024 * 1024


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--engine", action="append", choices=sorted(ENGINES), help="default: spark, quix, quix-panes"
    )
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="mean events/s per stream (event time)")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of event time")
    parser.add_argument("--pool", default="default", help="its events topic (PoolTopics) is the pool topic")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2, help="consumer-group members (quix)")
    parser.add_argument(
        "--peer-python", help="interpreter with quixstreams (default: .venv/bench/bin/python)"
    )
    parser.add_argument("--commit-interval", type=float, default=5.0, help="quix checkpoint interval, s")
    parser.add_argument("--no-changelog", action="store_true", help="quix state without changelog topics")
    parser.add_argument(
        "--peer-arg", action="append", default=[], help="extra argument for each peer process"
    )
    parser.add_argument("--check-streams", type=int, default=5, help="streams compared with the engine")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up on an engine after this long")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", type=Path, help="also write the results here (JSON)")
    args = parser.parse_args(argv)
    args.engine = args.engine or ["spark", "quix", "quix-panes"]
    if args.processes > args.partitions:
        parser.error("--processes cannot exceed --partitions (a member without partitions would idle)")
    return args


# ---------------------------------------------------------------------------------------------------- engines


@dataclass
class EngineSettings:
    """What every engine gets besides the topic, the broker and the store."""

    work: Path  # a directory of its own
    events: int  # records in the topic (all of them valid events)
    end_offsets: dict[int, int]  # partition → its end offset (the backlog to consume)
    processes: int = 2
    peer_python: str = sys.executable
    commit_interval: float = 5.0
    changelog: bool = True
    timeout: float = 3600.0
    extra: list[str] = field(default_factory=list)  # engine-specific arguments (--peer-arg)


@dataclass
class Result:
    engine: str
    events: int
    seconds: float  # first record consumed → last window stored (or the end of input, if that was later)
    windows: int  # windows stored
    cpu_s: float  # CPU seconds of the engine's processes over ``seconds``
    peak_rss_mib: list[float]  # VmHWM of each of the engine's processes
    processes: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("nan")


# A stored window, in terms every engine can give: (stream id, window start in epoch seconds) → the fields
# compared with the offline engine.
WindowKey = tuple[str, int]
COMPARED = ("messages", "unique_chatters", "sentiment", "positive", "neutral", "negative", "transactions")


@dataclass(frozen=True)
class Engine:
    run: Callable[[str, str, str, EngineSettings], Result]  # (topic, bootstrap, store_url, settings)
    read_windows: Callable[[str, Sequence[str]], dict[WindowKey, dict[str, Any]]]  # (store_url, streams)
    what: str


def run_engine(name: str, topic: str, bootstrap: str, store_url: str, settings: EngineSettings) -> Result:
    return ENGINES[name].run(topic, bootstrap, store_url, settings)


def from_metrics(windows: Sequence[WindowMetrics]) -> dict[WindowKey, dict[str, Any]]:
    """The project's own window records (the offline engine's, or what ``read_store`` reads back from the
    service's tables) in the compared terms."""
    return {
        (w.stream_id, round(parse_ts(w.window_start))): {name: getattr(w, name) for name in COMPARED}
        for w in windows
    }


# -- quix ----------------------------------------------------------------------------------------------------


def quix(name: str, windows: str) -> Callable[[str, str, str, EngineSettings], Result]:
    return lambda topic, bootstrap, store_url, settings: run_quix(
        name, windows, topic, bootstrap, store_url, settings
    )


def run_quix(
    name: str, windows: str, topic: str, bootstrap: str, store_url: str, settings: EngineSettings
) -> Result:
    """``settings.processes`` members of one consumer group, each ``bench/peers/quix_windows.py --windows
    WINDOWS``; stopped (SIGTERM: a last checkpoint writes the last windows) once every partition was processed
    to its end."""
    if not Path(settings.peer_python).exists():
        raise SystemExit(
            f"no interpreter at {settings.peer_python}: `make bench` installs the peer's (.venv/bench), or pass "
            "--peer-python with one that has quixstreams"
        )
    progress = settings.work / "progress"
    progress.mkdir(parents=True)
    offsets = ",".join(f"{p}:{end}" for p, end in sorted(settings.end_offsets.items()))
    group = f"quix-peer-{os.getpid()}-{int(time.time())}"
    processes, logs = [], []
    launched = time.time()
    for member in range(settings.processes):
        command = [
            settings.peer_python, "-W", "ignore", str(PEERS / "quix_windows.py"),
            "--bootstrap", bootstrap, "--topic", topic, "--store-url", store_url, "--group", group,
            "--state-dir", str(settings.work / f"state-{member}"), "--end-offsets", offsets,
            "--progress-dir", str(progress), "--stats", str(settings.work / f"stats-{member}.json"),
            "--commit-interval", str(settings.commit_interval), "--name", name, "--windows", windows,
        ]  # fmt: skip
        if not settings.changelog:
            command.append("--no-changelog")
        command += [arg.replace("{member}", str(member)) for arg in settings.extra]
        log = (settings.work / f"member-{member}.log").open("wb")
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        track(process)
        processes.append(process)
        logs.append(log)
    to_end = {p for p, end in settings.end_offsets.items() if end > 0}
    deadline = time.monotonic() + settings.timeout
    try:
        while not all((progress / f"end-{p}").exists() for p in to_end):
            failed = [i for i, process in enumerate(processes) if process.poll() is not None]
            if failed or time.monotonic() > deadline:
                tail = (settings.work / f"member-{failed[0] if failed else 0}.log").read_text()[-3000:]
                raise RuntimeError(f"quix member {failed or 'timeout'}:\n{tail}")
            time.sleep(0.05)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            terminate(process, timeout=300)
        for log in logs:
            log.close()
    stats = [orjson.loads((settings.work / f"stats-{m}.json").read_bytes()) for m in range(len(processes))]
    first = min(s["first_consumed"] for s in stats if s["first_consumed"] is not None)
    # The last windows are written by the final checkpoint (at SIGTERM), after the ends of the partitions; if
    # that checkpoint had nothing to write, the end of the last partition is when the work was done.
    last = max(max(s["last_stored"] or 0.0, s["last_end"] or 0.0) for s in stats)
    return Result(
        engine=name,
        events=sum(s["records"] for s in stats),
        seconds=last - first,
        windows=sum(s["windows"] for s in stats),
        cpu_s=sum(s["cpu_s_measured"] for s in stats),
        peak_rss_mib=[s["peak_rss_kib"] / 1024 for s in stats],
        processes=len(processes),
        details={
            "partitions per member": [s["partitions"] for s in stats],
            "records per member": [s["records"] for s in stats],
            "invalid": sum(s["invalid"] for s in stats),
            "CPU s per member (whole life)": [round(s["cpu_s"], 1) for s in stats],
            "first record after launch (s)": round(first - launched, 1),
            "writes": sum(s["writes"] for s in stats),
        },
    )


def spark_pool(topic: str, bootstrap: str, store_url: str, settings: EngineSettings) -> Result:
    """The pool job over the backlog (``--available-now``: it stops when it has read the topic): from its
    query's start to its end, every window stored; and sustained, from the end of its first micro-batch (JVM
    warm-up, the Python workers' start and the first query plan left out, as ``bench/spark_pipeline.py``
    measures one stream's job). Memory and CPU: the job's process tree (driver, JVM, Python workers), sampled
    twice a second: the peak of its total resident set, and each process's CPU time."""
    from telemetra.dev.localstack.spark_jars import ensure_spark_jars
    from telemetra.dev.testing.spark import create_topic
    from telemetra.spark.jars import JARS_ENV

    pool = topic.removeprefix("telemetra.pool.").removesuffix(".events")
    control = PoolTopics.of(pool).control
    with contextlib.suppress(Exception):  # already there from an earlier run
        asyncio.run(create_topic(bootstrap, control, 1, **{"cleanup.policy": "compact"}))
    command = [
        sys.executable, "-m", "telemetra.apps.spark_job", "--pool", pool, "--kafka-bootstrap", bootstrap,
        "--checkpoint-dir", (settings.work / "checkpoint").as_uri(), "--store-url", store_url,
        "--available-now", "--metrics-port", "0", "--shuffle-partitions", "2", "--master", "local[2]",
        "--conf", "spark.driver.memory=1g", *settings.extra,
    ]  # fmt: skip
    env = {**os.environ, JARS_ENV: ",".join(str(jar) for jar in ensure_spark_jars())}
    log_path = settings.work / "spark.log"
    ticks: dict[int, int] = {}  # pid → user + system CPU ticks, as last seen
    kinds: dict[int, str] = {}  # pid → driver, JVM or Python workers (spark_pipeline.JOB_PARTS)
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        track(process)
        peak = 0.0
        deadline = time.monotonic() + settings.timeout
        while process.poll() is None:
            if time.monotonic() > deadline:
                terminate(process)
                raise RuntimeError(f"the pool job did not finish; {log_path}")
            parts = {"driver (Python)": [process.pid], **job_processes(process.pid)}
            peak = max(peak, sum(rss_mib(pid) for pids in parts.values() for pid in pids))
            for kind, pids in parts.items():
                ticks.update((pid, seen) for pid in pids if (seen := process_ticks(pid)))
                kinds.update((pid, kind) for pid in pids)
            time.sleep(0.5)
    if process.returncode:
        raise RuntimeError(f"the pool job exited with {process.returncode}; {log_path}")
    lines = [orjson.loads(line) for line in log_path.read_bytes().splitlines() if line.startswith(b"{")]
    started = next(parse_ts(e["ts"]) for e in lines if e.get("msg") == "query started")
    ended = next(parse_ts(e["ts"]) for e in lines if e.get("msg") == "job ended")
    batches = [e for e in lines if e.get("msg") == "batch written"]
    windows = sum(e.get("windows", 0) for e in batches)  # a batch that closed none logs at DEBUG
    first = parse_ts(batches[0]["ts"])
    cpu: dict[str, float] = {}
    for pid, seen in ticks.items():
        cpu[kinds.get(pid, "?")] = cpu.get(kinds.get(pid, "?"), 0.0) + seen / os.sysconf("SC_CLK_TCK")
    return Result(
        engine="spark",
        events=settings.events,  # --available-now ends once every record was read and its output stored
        seconds=ended - started,
        windows=windows,
        cpu_s=sum(cpu.values()),  # the job's whole life, JVM start included
        peak_rss_mib=[peak],
        processes=1,
        details={
            "batches closing windows": len(batches),
            "sustained events/s after the first micro-batch": round(
                (settings.events - batches[0]["events"]) / (ended - first)
            ),
            "first micro-batch written after the query started (s)": round(first - started, 1),
            "CPU s by process (whole life)": {
                kind: round(seconds, 1) for kind, seconds in sorted(cpu.items())
            },
            "log": str(log_path),
        },
    )


def read_service_windows(store_url: str, streams: Sequence[str]) -> dict[WindowKey, dict[str, Any]]:
    """What the pool job stored, through the service's own store code."""
    from telemetra.dev.testing.spark import read_windows

    stored = asyncio.run(read_windows(store_url, streams))
    return {key: value for windows in stored.values() for key, value in from_metrics(windows).items()}


def read_pool_windows(engine: str) -> Callable[[str, Sequence[str]], dict[WindowKey, dict[str, Any]]]:
    """The rows a peer stored in ``pool_windows``."""

    def read(store_url: str, streams: Sequence[str]) -> dict[WindowKey, dict[str, Any]]:
        async def fetch() -> list[asyncpg.Record]:
            connection = await asyncpg.connect(store_url)
            try:
                return await connection.fetch(
                    "SELECT stream_id, extract(epoch FROM window_start)::bigint AS start, messages, "
                    "unique_chatters, sentiment, positive, neutral, negative, transactions::text "
                    "FROM pool_windows WHERE engine = $1 AND stream_id = any($2::text[])",
                    engine,
                    list(streams),
                )
            finally:
                await connection.close()

        return {
            (row["stream_id"], row["start"]): {
                **{name: row[name] for name in COMPARED if name != "transactions"},
                "transactions": orjson.loads(row["transactions"]),
            }
            for row in asyncio.run(fetch())
        }

    return read


ENGINES: dict[str, Engine] = {
    "quix": Engine(
        run=quix("quix", "hopping"),
        read_windows=read_pool_windows("quix"),
        what="quixstreams peer, hopping windows 60 s / 10 s (bench/peers/quix_windows.py --windows hopping)",
    ),
    "quix-panes": Engine(
        run=quix("quix-panes", "panes"),
        read_windows=read_pool_windows("quix-panes"),
        what="quixstreams peer, 10 s tumbling panes → 60 s windows (bench/peers/quix_windows.py --windows panes)",
    ),
    "spark": Engine(
        run=spark_pool,
        read_windows=read_service_windows,
        what="Telemetra's pool job: one Spark Structured Streaming application, local[2] "
        "(python -m telemetra.apps.spark_job --pool NAME --available-now)",
    ),
}


# ---------------------------------------------------------------------------------------------------- the topic


@dataclass
class Backlog:
    events: int
    bytes: int
    end_offsets: dict[int, int]
    check_lines: list[bytes]  # every event of the checked streams, in order
    last_ts: dict[str, float]  # newest event time of each checked stream
    seconds: float


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def fill_topic(bootstrap: str, topic: str, config: MockConfig, check: set[str]) -> Backlog:
    """Every event into the pool topic as the producers write it (``KafkaSink``: key = stream id, value = the
    event's orjson, the default partitioner's partition for the key, lz4, idempotent), in time order, in
    record batches of up to 512 KiB per partition."""
    started = time.monotonic()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", compression_type="lz4",
        max_batch_size=512 * 1024, max_request_size=1024 * 1024,
    )  # fmt: skip
    await producer.start()
    partitions = sorted(await producer.partitions_for(topic))
    partitioner = DefaultPartitioner()
    keys = {stream: stream.encode() for stream in config.streams}
    partition_of = {stream: partitioner(key, partitions, partitions) for stream, key in keys.items()}
    batches = {p: producer.create_batch() for p in partitions}
    pending: list[asyncio.Future[Any]] = []
    events = size = 0
    check_lines: list[bytes] = []
    last_ts: dict[str, float] = {}

    async def submit(partition: int) -> None:
        batch, batches[partition] = batches[partition], producer.create_batch()
        batch.close()
        pending.append(await producer.send_batch(batch, topic, partition=partition))
        if len(pending) > 64:
            await pending.pop(0)

    try:
        for _, batch in generate_batches(config):
            for event in batch:
                stream = event["stream_id"]
                value = orjson.dumps(event)
                partition = partition_of[stream]
                if batches[partition].append(key=keys[stream], value=value, timestamp=None) is None:
                    await submit(partition)
                    batches[partition].append(key=keys[stream], value=value, timestamp=None)
                events += 1
                size += len(value)
                if stream in check:
                    check_lines.append(value)
                    last_ts[stream] = max(last_ts.get(stream, 0.0), parse_ts(event["ts"]))
        for partition in partitions:
            if batches[partition].record_count():
                await submit(partition)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    ends = await end_offsets(bootstrap, topic, partitions)
    if sum(ends.values()) != events:
        raise RuntimeError(f"the topic holds {sum(ends.values())} records, {events} were sent")
    return Backlog(events, size, ends, check_lines, last_ts, time.monotonic() - started)


async def end_offsets(bootstrap: str, topic: str, partitions: Sequence[int]) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
    finally:
        await consumer.stop()
    return {tp.partition: offset for tp, offset in ends.items()}


async def create_pool_table(store_url: str) -> None:
    connection = await asyncpg.connect(store_url)
    try:
        await connection.execute(POOL_TABLE_SQL.read_text())
    finally:
        await connection.close()


# ---------------------------------------------------------------------------------------------------- checks


def compare(
    stored: dict[WindowKey, dict[str, Any]],
    expected: dict[WindowKey, dict[str, Any]],
    last_ts: dict[str, float],
    lateness: float,
    window: int,
) -> tuple[int, list[str], list[WindowKey], list[str]]:
    """(equal windows, differences, windows still open at the end as expected, unexpected problems)."""
    equal, differences, still_open, problems = 0, [], [], []
    for key, want in sorted(expected.items()):
        got = stored.get(key)
        if got is None:
            stream, start = key
            if start + window > last_ts[stream] - lateness:  # the stream's watermark never passed its end
                still_open.append(key)
            else:
                problems.append(f"{key}: missing")
            continue
        fields = [
            name
            for name in COMPARED
            if not (
                abs(got[name] - want[name]) <= 1e-9
                if name == "sentiment" and got[name] is not None and want[name] is not None
                else got[name] == want[name]
            )
        ]
        if fields:
            differences.append(f"{key}: " + ", ".join(f"{n} {got[n]!r} vs {want[n]!r}" for n in fields))
        else:
            equal += 1
    problems += [f"{key}: not in the offline engine's output" for key in sorted(set(stored) - set(expected))]
    return equal, differences, still_open, problems


# ---------------------------------------------------------------------------------------------------- report


def cpu_ticks(pid: int | None, with_children: bool = False) -> float:
    """CPU seconds of a process (and its descendants: PostgreSQL's backends), from /proc."""
    if pid is None:
        return 0.0
    from telemetra.dev.stack import descendants

    pids = [pid, *descendants(pid)] if with_children else [pid]
    return sum(process_ticks(each) for each in pids) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def report(result: Result, others_cpu: float, wall: float) -> None:
    rss = result.peak_rss_mib
    print(f"== {result.engine}: {ENGINES[result.engine].what}")
    print(f"   {result.events:,} events in {result.seconds:.1f} s (first record consumed → last window stored)"
          f" = {result.events_per_s:,.0f} events/s")  # fmt: skip
    print(
        f"   windows stored: {result.windows:,}; CPU per event: {result.cpu_s / result.events * 1e6:.0f} µs"
    )
    print(f"   CPU: {result.cpu_s:.1f} s in {result.processes} process(es) over those {result.seconds:.1f} s "
          f"({result.cpu_s / result.seconds:.2f} cores); Kafka broker + PostgreSQL: {others_cpu:.1f} s "
          f"over the engine's {wall:.1f} s of life")  # fmt: skip
    print(f"   peak RSS (VmHWM): {' + '.join(f'{m:.0f}' for m in rss)} = {sum(rss):.0f} MiB")
    for name, value in result.details.items():
        print(f"   {name}: {value}")


# ---------------------------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="telemetra-pool-bench-"))
    try:
        summary = measure(args, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json is not None:
        args.json.write_text(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    return 0


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Broker, store, backlog, then each engine in turn: measured, reported and checked."""
    peer_python = args.peer_python or str(BENCH.parent / ".venv" / "bench" / "bin" / "python")
    topic = PoolTopics.of(args.pool).events
    streams = [f"s{i:04d}" for i in range(args.streams)]
    check = set(streams[:: max(1, args.streams // max(1, args.check_streams))][: args.check_streams])
    config = MockConfig(streams=streams, rate=args.rate, duration=args.duration, seed=17, start=START)
    print(f"work directory: {work}; load average {loadavg()}; "
          f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC; {os.cpu_count()} cores")  # fmt: skip
    broker = KafkaBroker(
        work / "kafka", overrides={"group.initial.rebalance.delay.ms": str(GROUP_JOIN_DELAY_MS)}
    )
    with broker, PostgresServer() as postgres:
        asyncio.run(create_topic(broker.bootstrap, topic, args.partitions))
        backlog = asyncio.run(fill_topic(broker.bootstrap, topic, config, check))
        print(f"topic {topic}: {backlog.events:,} events of {args.streams:,} streams ({args.rate:g}/s each for "
              f"{args.duration:g} s of event time; {backlog.bytes / backlog.events:.0f} B of JSON each) in "
              f"{args.partitions} partitions {sorted(backlog.end_offsets.values())}, written in "
              f"{backlog.seconds:.1f} s (generation included), before any engine starts")  # fmt: skip
        reference = from_metrics(process_lines(backlog.check_lines).windows)
        summary: dict[str, Any] = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": " ".join(sys.argv),
            "topic": topic,
            "streams": args.streams,
            "partitions": args.partitions,
            "events": backlog.events,
            "results": [],
        }
        for name in args.engine:
            store_url = postgres.create_database("pool_" + name.replace("-", "_"))
            asyncio.run(create_pool_table(store_url))
            settings = EngineSettings(
                work=work / name, events=backlog.events, end_offsets=backlog.end_offsets,
                processes=args.processes, peer_python=peer_python, commit_interval=args.commit_interval,
                changelog=not args.no_changelog, timeout=args.timeout, extra=args.peer_arg,
            )  # fmt: skip
            settings.work.mkdir()
            print(f"running {name} (load average {loadavg()}) …", flush=True)
            others = cpu_ticks(broker.pid) + cpu_ticks(postgres.pid, with_children=True)
            began = time.monotonic()
            result = run_engine(name, topic, broker.bootstrap, store_url, settings)
            wall = time.monotonic() - began
            others = cpu_ticks(broker.pid) + cpu_ticks(postgres.pid, with_children=True) - others
            report(result, others, wall)
            if result.events != backlog.events:
                print(f"   !! consumed {result.events:,} records, the topic holds {backlog.events:,}")
            stored = ENGINES[name].read_windows(store_url, sorted(check))
            analytics = AnalyticsConfig()
            equal, differences, still_open, problems = compare(
                stored, reference, backlog.last_ts, analytics.lateness, analytics.window
            )
            print(f"   check against the offline engine ({len(check)} streams: {', '.join(sorted(check))}): "
                  f"{equal} windows equal, {len(differences)} differ, {len(problems)} missing or extra; "
                  f"{len(still_open)} not closed at the end of input (within the lateness of the stream's "
                  f"last event: the offline engine flushes them, a streaming engine cannot)")  # fmt: skip
            for line in (differences + problems)[:10]:
                print(f"     {line}")
            print(f"   load average after: {loadavg()}")
            summary["results"].append(
                {
                    **asdict(result),
                    "events_per_s": round(result.events_per_s),
                    "check": {"equal": equal, "differ": len(differences), "problems": len(problems),
                              "still_open": len(still_open)},
                    "load_average_after": os.getloadavg(),
                }
            )  # fmt: skip
    return summary


if __name__ == "__main__":
    sys.exit(main())
