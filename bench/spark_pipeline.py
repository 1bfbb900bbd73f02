"""Kafka → Spark job (``python -m telemetra.apps.spark_job``) → PostgreSQL: sustained throughput, freshness, memory.

Starts its own Kafka broker, PostgreSQL and Redis, and runs the job through its entry point (a child process,
as the local stack and the operator run it), one stream.

* ``throughput``: pre-loads ``--events`` mock events into the stream's topic, starts the job and measures
  the rate at which it processes them, from the end of its first micro-batch (JVM start, planning and the
  first batch are excluded) to the last record, from the job's own Prometheus counters. Then checks that the
  stored windows are exactly the embedded engine's.
* ``freshness``: produces mock traffic in real time (event time = wall clock) at ``--rate`` events/s and
  polls PostgreSQL every 50 ms. A window can only be written once the watermark passes its end, i.e. once an
  event ``lateness`` seconds newer than the end exists; freshness is the wall time from that moment (window
  end + lateness) to the row being visible. For moments: from ``detected_at`` (the event time of the event
  that revealed the moment) to the row being visible.

Memory: the peak RSS of the job's driver (Python), its JVM, the Python workers, the Kafka broker and
PostgreSQL (server and backends), sampled every second. Usage::

    .venv/bin/python bench/spark_pipeline.py throughput [--events 2000000] [--max-offsets 500000]
    .venv/bin/python bench/spark_pipeline.py freshness [--rate 5000] [--duration 600] [--trigger 1s]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from telemetra.contract import parse_ts
from telemetra.dev.localstack.kafka import KafkaBroker
from telemetra.dev.localstack.postgres import PostgresServer
from telemetra.dev.localstack.process import free_port
from telemetra.dev.localstack.redis import RedisServer
from telemetra.dev.localstack.spark_jars import export_spark_jars
from telemetra.dev.testing.spark import (
    JobProcess,
    engine_reference,
    read_store,
    send_events,
    window_differences,
)
from telemetra.producers.mock import MockConfig, generate_batches
from telemetra.producers.scenarios import parse_scenario
from telemetra.sinks.kafka import KafkaSink

STREAM = "bench"
LATENESS = 10.0
SLOTS = 10  # sends per second in the freshness run
WARMUP = 60.0  # seconds of traffic before freshness is steady (see freshness())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    throughput = modes.add_parser("throughput", help="sustained events/s on a pre-loaded topic")
    throughput.add_argument("--events", type=int, default=2_000_000)
    throughput.add_argument("--density", type=float, default=5_000, help="events per second of event time")
    throughput.add_argument("--max-offsets", type=int, default=500_000, help="records per micro-batch")
    throughput.add_argument("--trigger", default="0", help="trigger interval (0: back to back)")
    throughput.add_argument("--no-check", action="store_true", help="skip comparing with the embedded engine")
    freshness = modes.add_parser("freshness", help="event time → row visible in PostgreSQL, in real time")
    freshness.add_argument("--rate", type=float, default=5_000, help="events/s")
    freshness.add_argument("--duration", type=float, default=600, help="seconds of traffic")
    freshness.add_argument("--trigger", default="1s", help="trigger interval")
    freshness.add_argument("--max-offsets", type=int, default=None)
    for mode in (throughput, freshness):
        mode.add_argument("--conf", action="append", default=[], help="extra Spark setting KEY=VALUE")
        mode.add_argument("--kafka-option", action="append", default=[], help="extra Kafka source option")
        mode.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------------- memory


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class MemorySampler:
    """Peak RSS per component, sampled every second in a thread."""

    job: Callable[[], int | None]
    kafka: Callable[[], int | None]
    postgres: Callable[[], int | None]
    peaks: dict[str, float] = field(default_factory=dict)
    timeline: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # every 30 s
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> dict[str, float]:
        now: dict[str, float] = {}
        job = self.job()
        if job:
            now["job driver (Python)"] = rss_mib(job)
            jvm = workers = 0.0
            for pid in descendants(job):
                text = command(pid)
                if "java" in text.split(" ")[0]:
                    jvm += rss_mib(pid)
                elif "python" in text.split(" ")[0]:
                    workers += rss_mib(pid)
            now["job JVM (Spark driver + executor)"] = jvm
            now["job Python workers (daemon + workers)"] = workers
        kafka = self.kafka()
        if kafka:
            now["Kafka broker"] = rss_mib(kafka)
        postgres = self.postgres()
        if postgres:
            now["PostgreSQL (server + backends)"] = rss_mib(postgres) + sum(
                rss_mib(p) for p in descendants(postgres)
            )
        for name, value in now.items():
            self.peaks[name] = max(self.peaks.get(name, 0.0), value)
        return now

    def start(self) -> MemorySampler:
        def loop() -> None:
            began = time.monotonic()
            while not self._stop.wait(1.0):
                now = self.sample()
                if not self.timeline or time.monotonic() - began >= self.timeline[-1][0] + 30:
                    self.timeline.append((time.monotonic() - began, now))

        threading.Thread(target=loop, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()


# ---------------------------------------------------------------------------------------------------- helpers


def scrape(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        sample.name + ("" if "le" not in sample.labels else f"{{le={sample.labels['le']}}}"): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("stream_id") == STREAM
    }


def counter(port: int, name: str) -> float:
    try:
        return scrape(port).get(name, 0.0)
    except httpx.HTTPError:
        return 0.0


async def produce_in_real_time(bootstrap: str, config: MockConfig) -> tuple[int, float]:
    """Send each event at its own time (to within a tenth of a second), as live traffic arrives: not a burst
    per second, whose timing would line up with the job's triggers."""
    sink = KafkaSink(bootstrap)
    await sink.start()
    sent, began = 0, time.monotonic()
    try:
        for second, batch in generate_batches(config):
            slots: dict[int, list[dict[str, object]]] = {}
            for event in batch:
                offset = parse_ts(str(event["ts"])) - second
                slots.setdefault(min(SLOTS - 1, int(offset * SLOTS)), []).append(event)
            for slot, events in sorted(slots.items()):
                delay = second + slot / SLOTS - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await sink.send(events)
                sent += len(events)
    finally:
        await sink.close()
    return sent, time.monotonic() - began


def job_args(
    args: argparse.Namespace, broker: KafkaBroker, store: str, cache: str, work: Path, port: int
) -> list[str]:
    out = [
        "--stream-id", STREAM, "--kafka-bootstrap", broker.bootstrap, "--checkpoint-dir", (work / "ck").as_uri(),
        "--store-url", store, "--cache-url", cache, "--trigger-interval", args.trigger,
        "--metrics-port", str(port), "--metrics-host", "127.0.0.1",
    ]  # fmt: skip
    if args.max_offsets:
        out += ["--max-offsets-per-trigger", str(args.max_offsets)]
    for conf in args.conf:
        out += ["--conf", conf]
    for option in args.kafka_option:
        out += ["--kafka-option", option]
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def loadavg() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def describe(name: str, lags: list[float]) -> None:
    if not lags:
        print(f"  {name}: none")
        return
    print(f"  {name} ({len(lags)}): p50 {percentile(lags, 50):.2f} s, p90 {percentile(lags, 90):.2f} s, "
          f"p99 {percentile(lags, 99):.2f} s, max {max(lags):.2f} s")  # fmt: skip


def print_memory(sampler: MemorySampler) -> None:
    print("peak RSS (MiB):")
    for name, value in sampler.peaks.items():
        print(f"  {name:40s} {value:8.0f}")
    names = list(sampler.peaks)
    print("RSS over time (MiB; seconds since the job started: " + ", ".join(names) + "):")
    for at, values in sampler.timeline:
        print(f"  {at:5.0f} s: " + " ".join(f"{values.get(name, 0):6.0f}" for name in names))


# ---------------------------------------------------------------------------------------------------- modes


def throughput(
    args: argparse.Namespace, broker: KafkaBroker, postgres: PostgresServer, redis: RedisServer, work: Path
) -> None:
    config = MockConfig(
        streams=[STREAM],
        rate=args.density,
        duration=args.events / args.density + 1,
        seed=3,
        start=1_790_000_100.0,
    )
    events: list[dict[str, object]] = []
    for _, batch in generate_batches(config):
        events += batch
        if len(events) >= args.events:
            break
    events = events[: args.events]
    size = sum(len(orjson.dumps(e)) for e in events[:10_000]) / min(len(events), 10_000)
    print(
        f"events: {len(events):,} (one stream, {args.density:,.0f}/s of event time, {size:.0f} B of JSON each)"
    )
    started = time.monotonic()
    asyncio.run(send_events(broker.bootstrap, events, chunk=5_000))
    print(f"pre-loaded into Kafka in {time.monotonic() - started:.1f} s")

    store = postgres.create_database("throughput")
    port = free_port()
    job = JobProcess(job_args(args, broker, store, redis.url(), work, port), work / "job.log").start()
    sampler = MemorySampler(
        lambda: job.process.pid if job.process else None, lambda: broker.pid, lambda: postgres.pid
    )
    sampler.start()
    try:
        launched = time.monotonic()
        first = None
        while True:
            assert job.running, job.log_tail()
            rows = counter(port, "telemetra_spark_events_total")
            now = time.monotonic()
            if rows and first is None:
                first = (now, rows)
                print(f"first micro-batch done {now - launched:.1f} s after launch ({rows:,.0f} events)")
            if rows >= len(events):
                break
            if now - launched > 1800:
                raise TimeoutError(job.log_tail())
            time.sleep(0.25)
        assert first is not None
        seconds = now - first[0]
        rate = (rows - first[1]) / seconds if seconds > 0 else float("nan")
        metrics = scrape(port)
        batches = metrics.get("telemetra_spark_batches_total", 0)
        print(f"sustained: {rows - first[1]:,.0f} events in {seconds:.1f} s = {rate:,.0f} events/s "
              f"(after the first batch; {batches:.0f} micro-batches in all)")  # fmt: skip
        print(f"end to end incl. JVM start and first batch: {rows / (now - launched):,.0f} events/s")
        print(f"windows written: {metrics.get('telemetra_spark_windows_written_total', 0):.0f}")
        job.terminate()
    finally:
        sampler.stop()
        if job.running:
            job.kill()
    print_memory(sampler)
    if not args.no_check:
        stored = asyncio.run(read_store(store, STREAM))
        reference = engine_reference([orjson.dumps(e) for e in events])
        problems = window_differences(stored.windows, reference.windows)
        print(f"stored windows equal the embedded engine's: {not problems} ({len(stored.windows)} windows)")
        if problems:
            print("\n".join(problems[:10]))


def freshness(
    args: argparse.Namespace, broker: KafkaBroker, postgres: PostgresServer, redis: RedisServer, work: Path
) -> None:
    store = postgres.create_database("freshness")
    port = free_port()
    job = JobProcess(job_args(args, broker, store, redis.url(), work, port), work / "job.log").start()
    sampler = MemorySampler(
        lambda: job.process.pid if job.process else None, lambda: broker.pid, lambda: postgres.pid
    )
    sampler.start()
    window_lag: dict[str, float] = {}
    moment_lag: dict[str, float] = {}
    stop = threading.Event()

    async def poll() -> None:
        connection = None
        while not stop.is_set():
            try:
                connection = connection or await asyncpg.connect(store)
                rows = await connection.fetch(
                    "SELECT extract(epoch FROM window_end)::float8 AS e FROM window_metrics WHERE stream_id = $1",
                    STREAM,
                )
                moments = await connection.fetch(
                    "SELECT moment_id, extract(epoch FROM detected_at)::float8 AS d FROM moments WHERE stream_id = $1",
                    STREAM,
                )
            except (OSError, asyncpg.PostgresError):
                connection = None  # tables not there yet
                await asyncio.sleep(0.2)
                continue
            seen = time.time()
            for row in rows:
                window_lag.setdefault(str(row["e"]), seen - (row["e"] + LATENESS))
            for row in moments:
                moment_lag.setdefault(row["moment_id"], seen - row["d"])
            await asyncio.sleep(0.05)
        if connection is not None:
            await connection.close()

    poller = threading.Thread(target=lambda: asyncio.run(poll()), daemon=True)
    try:
        # wait until the job's query runs (it reads the empty topic from the start)
        deadline = time.monotonic() + 300
        while counter(port, "telemetra_spark_query_active") < 1:
            assert job.running and time.monotonic() < deadline, job.log_tail()
            time.sleep(0.5)
        time.sleep(3)
        poller.start()
        start = float(int(time.time()) + 2)
        # Moments that leave the event rate alone (a hype or a raid multiplies the chat): a gift bomb, a mood swing
        config = MockConfig(
            streams=[STREAM], rate=args.rate, duration=args.duration, seed=9, start=start,
            scenarios=[parse_scenario(s) for s in ("gift_bomb@150", "sentiment_swing@180")],
        )  # fmt: skip
        print(f"producing {args.rate:,.0f} events/s for {args.duration:.0f} s in real time, each event sent "
              f"within {1000 // SLOTS} ms of its timestamp (trigger {args.trigger})")  # fmt: skip
        sent, seconds = asyncio.run(produce_in_real_time(broker.bootstrap, config))
        print(f"produced {sent:,} events in {seconds:.1f} s ({sent / seconds:,.0f}/s)")
        time.sleep(LATENESS + 5)
        stop.set()
        poller.join(10)
        metrics = scrape(port)
        job.terminate()
    finally:
        stop.set()
        sampler.stop()
        if job.running:
            job.kill()
    ends = sorted(window_lag, key=float)
    lags = [window_lag[k] for k in ends]
    print(
        f"windows: {len(lags)}; freshness (window end + {LATENESS:.0f} s lateness → row visible), in order:"
    )
    print("  " + " ".join(f"{lag:.2f}" for lag in lags))
    describe("all windows", lags)
    # The job's first micro-batches with data compile and warm up (the JVM, the Python worker): without the
    # windows that closed in the first minute of traffic, the steady state.
    steady = [window_lag[k] for k in ends if float(k) + LATENESS >= start + WARMUP]
    describe(f"after the first {WARMUP:.0f} s", steady)
    if moment_lag:
        values = list(moment_lag.values())
        print(f"moments: {len(values)}; detected_at → row visible: "
              f"median {statistics.median(values):.2f} s, max {max(values):.2f} s")  # fmt: skip
    count = metrics.get("telemetra_spark_batch_duration_seconds_count", 0)
    total = metrics.get("telemetra_spark_batch_duration_seconds_sum", 0)
    if count:
        print(f"micro-batches: {count:.0f}, mean duration {total / count:.2f} s")
    print_memory(sampler)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    export_spark_jars()  # the jobs it starts inherit $TELEMETRA_SPARK_JARS
    work = Path(tempfile.mkdtemp(prefix="telemetra-spark-bench-"))
    print(
        f"work directory: {work}; load average {loadavg()}; {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC"
    )
    with KafkaBroker(work / "kafka") as broker, PostgresServer() as postgres, RedisServer() as redis:
        if args.mode == "throughput":
            throughput(args, broker, postgres, redis, work)
        else:
            freshness(args, broker, postgres, redis, work)
    print(f"job log: {work / 'job.log'}; load average {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
