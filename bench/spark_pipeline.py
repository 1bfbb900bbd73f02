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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

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
from telemetra.dev.stack import descendants
from telemetra.dev.testing.spark import (
    JobProcess,
    engine_reference,
    read_store,
    send_events,
    window_differences,
)
from telemetra.producers.mock import MockConfig, generate_batches
from telemetra.producers.scenarios import parse_scenario
from telemetra.records import EVENTS_TOPIC
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


def process_ticks(pid: int) -> int:
    """A process's user + system CPU ticks so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])


def command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


JOB_TOTAL = "job total (driver + JVM + workers)"  # summed in each sample: its peak is the job's peak
JOB_PARTS = {"java": "job JVM (Spark driver + executor)", "python": "job Python workers (daemon + workers)"}


def job_processes(job: int) -> dict[str, list[int]]:
    """The job's processes below its driver by component (:data:`JOB_PARTS`: by the executable). A process the
    JVM spawns is a copy of the JVM until it execs, reporting the JVM's whole resident set (Spark spawns
    commands now and then, e.g. for file permissions): such copies are left out."""
    out: dict[str, list[int]] = {}
    for pid in descendants(job):
        executable = command(pid).split(" ")[0]
        if "java" in executable and "java" in command(parent(pid)).split(" ")[0]:
            continue
        for name, component in JOB_PARTS.items():
            if name in executable:
                out.setdefault(component, []).append(pid)
    return out


def parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


@dataclass
class MemorySampler:
    """Peak RSS per component, sampled every second in a thread (and the job's total, :data:`JOB_TOTAL`), and
    the CPU time each component's processes used while sampled (:meth:`cpu_seconds`)."""

    job: Callable[[], int | None]
    kafka: Callable[[], int | None]
    postgres: Callable[[], int | None]
    peaks: dict[str, float] = field(default_factory=dict)
    timeline: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # every 30 s
    _ticks: dict[int, tuple[str, int, int]] = field(default_factory=dict)  # pid → component, before, latest
    _stop: threading.Event = field(default_factory=threading.Event)

    def components(self) -> dict[str, list[int]]:
        """The processes of each component now."""
        out: dict[str, list[int]] = {}
        job = self.job()
        if job:
            out = {"job driver (Python)": [job], **job_processes(job)}
        kafka, postgres = self.kafka(), self.postgres()
        if kafka:
            out["Kafka broker"] = [kafka]
        if postgres:
            out["PostgreSQL (server + backends)"] = [postgres, *descendants(postgres)]
        return out

    def sample(self) -> dict[str, float]:
        now: dict[str, float] = {}
        for component, pids in self.components().items():
            now[component] = sum(rss_mib(pid) for pid in pids)
            for pid in pids:
                ticks = process_ticks(pid)
                # what a process had used before the first sample is not counted (the servers' start-up);
                # a process born since, all of it
                before = self._ticks[pid][1] if pid in self._ticks else (ticks if not self.peaks else 0)
                self._ticks[pid] = (component, before, ticks)
        job = [name for name in now if name.startswith("job ")]
        if job:
            now[JOB_TOTAL] = sum(now[name] for name in job)
        for name, value in now.items():
            self.peaks[name] = max(self.peaks.get(name, 0.0), value)
        return now

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds of each component's processes from the first sample to the last."""
        out: dict[str, float] = {}
        for component, first, last in self._ticks.values():
            out[component] = out.get(component, 0.0) + (last - first) / os.sysconf("SC_CLK_TCK")
        return out

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


def scrape(port: int, job: str = STREAM) -> dict[str, float]:
    """The job's own metrics (``telemetra_spark_*``, labelled by ``pool``: a stream's own job's is its id)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        sample.name + ("" if "le" not in sample.labels else f"{{le={sample.labels['le']}}}"): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("pool") == job
    }


def counter(port: int, name: str, job: str = STREAM) -> float:
    try:
        return scrape(port, job).get(name, 0.0)
    except httpx.HTTPError:
        return 0.0


async def produce_in_real_time(
    bootstrap: str,
    batches: Iterable[tuple[float, list[dict[str, object]]]],
    topic_template: str = EVENTS_TOPIC,
    record: IO[bytes] | None = None,
) -> tuple[int, float]:
    """Send each event at its own time (to within a tenth of a second), as live traffic arrives: not a burst
    per second, whose timing would line up with the job's triggers. ``batches``: each second's events, as
    :func:`~telemetra.producers.mock.generate_batches` yields them; through the producers' Kafka sink (keyed by
    stream id) to ``topic_template`` (a stream's own topic, or a pool's); ``record`` gets every event sent, one
    JSON line each, in the order sent."""
    sink = KafkaSink(bootstrap, topic_template=topic_template)
    await sink.start()
    sent, began = 0, time.monotonic()
    try:
        for second, batch in batches:
            slots: dict[int, list[dict[str, object]]] = {}
            for event in batch:
                offset = parse_ts(str(event["ts"])) - second
                slots.setdefault(min(SLOTS - 1, int(offset * SLOTS)), []).append(event)
            for slot, events in sorted(slots.items()):
                delay = second + slot / SLOTS - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await sink.send(events)
                if record is not None:
                    record.write(b"".join(orjson.dumps(event) + b"\n" for event in events))
                sent += len(events)
    finally:
        await sink.close()
    return sent, time.monotonic() - began


@dataclass
class FreshnessProbe:
    """Closed windows and moments becoming visible in PostgreSQL, polled every ``interval`` seconds in a thread.

    A window can only be written once the watermark passes its end, i.e. once an event ``lateness`` seconds
    newer than its end exists; with event time = wall time its freshness is the wall time from that moment
    (window end + lateness) to the row being visible. A moment's: from ``detected_at`` (the event time of the
    event that revealed it) to the row. Windows are counted per window end (one small query whatever the
    number of streams: windows are aligned to the epoch, so a pool's streams share their ends); each new one
    at an end is a window that became visible since the last poll."""

    store_url: str
    lateness: float = LATENESS
    interval: float = 0.05
    horizon: float = 300.0  # only windows that ended within this many seconds are polled
    window_lags: list[tuple[float, float]] = field(default_factory=list)  # (window end, freshness)
    moment_lags: dict[str, float] = field(default_factory=dict)
    _seen: dict[float, int] = field(default_factory=dict)  # window end → windows visible
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> FreshnessProbe:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._poll()), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    async def _poll(self) -> None:
        connection = None
        while not self._stop.is_set():
            try:
                connection = connection or await self._connect()
                since = time.time() - self.horizon
                windows = await connection.fetch(
                    "SELECT extract(epoch FROM window_end)::float8 AS e, count(*) AS n FROM window_metrics "
                    "WHERE window_end > to_timestamp($1) GROUP BY 1",
                    since,
                )
                moments = await connection.fetch(
                    "SELECT moment_id, extract(epoch FROM detected_at)::float8 AS d FROM moments "
                    "WHERE detected_at > to_timestamp($1)",
                    since,
                )
            except (OSError, asyncpg.PostgresError):
                connection = None  # tables not there yet
                await asyncio.sleep(0.2)
                continue
            seen = time.time()
            for row in windows:
                new = row["n"] - self._seen.get(row["e"], 0)
                if new > 0:
                    self._seen[row["e"]] = row["n"]
                    self.window_lags += [(row["e"], seen - (row["e"] + self.lateness))] * new
            for row in moments:
                self.moment_lags.setdefault(row["moment_id"], seen - row["d"])
            await asyncio.sleep(self.interval)
        if connection is not None:
            await connection.close()

    async def _connect(self) -> asyncpg.Connection:
        """A connection, once the job has created its tables; with an index on the window end, so that
        polling a pool's table stays cheap (measuring equipment: the store's own schema has none)."""
        connection = await asyncpg.connect(self.store_url)
        try:
            await connection.execute(
                "CREATE INDEX IF NOT EXISTS bench_window_end ON window_metrics (window_end)"
            )
        except BaseException:
            await connection.close()
            raise
        return connection


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
    print(
        "CPU seconds while sampled: "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in sampler.cpu_seconds().items())
    )
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
    probe = FreshnessProbe(store)
    try:
        # wait until the job's query runs (it reads the empty topic from the start)
        deadline = time.monotonic() + 300
        while counter(port, "telemetra_spark_query_active") < 1:
            assert job.running and time.monotonic() < deadline, job.log_tail()
            time.sleep(0.5)
        time.sleep(3)
        probe.start()
        start = float(int(time.time()) + 2)
        # Moments that leave the event rate alone (a hype or a raid multiplies the chat): a gift bomb, a mood swing
        config = MockConfig(
            streams=[STREAM], rate=args.rate, duration=args.duration, seed=9, start=start,
            scenarios=[parse_scenario(s) for s in ("gift_bomb@150", "sentiment_swing@180")],
        )  # fmt: skip
        print(f"producing {args.rate:,.0f} events/s for {args.duration:.0f} s in real time, each event sent "
              f"within {1000 // SLOTS} ms of its timestamp (trigger {args.trigger})")  # fmt: skip
        sent, seconds = asyncio.run(produce_in_real_time(broker.bootstrap, generate_batches(config)))
        print(f"produced {sent:,} events in {seconds:.1f} s ({sent / seconds:,.0f}/s)")
        time.sleep(LATENESS + 5)
        probe.stop()
        metrics = scrape(port)
        job.terminate()
    finally:
        probe.stop()
        sampler.stop()
        if job.running:
            job.kill()
    report_freshness(probe, start)
    count = metrics.get("telemetra_spark_batch_duration_seconds_count", 0)
    total = metrics.get("telemetra_spark_batch_duration_seconds_sum", 0)
    if count:
        print(f"micro-batches: {count:.0f}, mean duration {total / count:.2f} s")
    print_memory(sampler)


def report_freshness(probe: FreshnessProbe, start: float) -> dict[str, float]:
    """Print the windows' and moments' freshness (all, and after the first :data:`WARMUP` seconds of traffic:
    the job's first micro-batches with data compile and warm up the JVM and the Python workers); returns the
    steady-state percentiles."""
    lags = sorted(probe.window_lags)
    print(f"windows: {len(lags)}; freshness (window end + {probe.lateness:.0f} s lateness → row visible)")
    if len(lags) <= 100:
        print("  in order: " + " ".join(f"{lag:.2f}" for _, lag in lags))
    describe("all windows", [lag for _, lag in lags])
    steady = [lag for end, lag in lags if end + probe.lateness >= start + WARMUP]
    describe(f"after the first {WARMUP:.0f} s", steady)
    if probe.moment_lags:
        values = list(probe.moment_lags.values())
        print(f"moments: {len(values)}; detected_at → row visible: "
              f"median {statistics.median(values):.2f} s, max {max(values):.2f} s")  # fmt: skip
    if not steady:
        return {}
    return {f"p{q}": round(percentile(steady, q), 3) for q in (50, 90, 99)} | {"max": round(max(steady), 3)}


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
