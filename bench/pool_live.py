"""A pool's job live: 1,000 streams at 20 events/s each, produced in real time into one pool topic, one Spark
application on ``local[2]`` → PostgreSQL and Redis; while it runs, 100 streams join and one changes its
thresholds, through the pool's control topic, without a restart.

Starts its own Kafka broker, PostgreSQL and Redis (``telemetra.dev.localstack``), creates the pool's topics
(events: ``--partitions``; control: compacted), writes each stream's control record (its analytics config, as
the operator does), starts the pool's job through its entry point (``python -m telemetra.apps.spark_job
--pool …``, a child process, trigger ``--trigger``) and, once it has read the control records (its first
micro-batch), a producer process (this script's ``produce`` mode): mock traffic (``telemetra.producers.mock``)
of ``--streams`` streams at ``--rate`` events/s each, every event sent within 100 ms of its own timestamp
(event time = wall time) through the producers' Kafka sink (keyed by stream id) into the pool topic, and
recorded, one JSON line each, in the order sent (``events.jsonl``). At ``--add-at`` seconds ``--added`` more
streams join: their control records, then their events (the producer's plan includes them from then on); at
``--change-at`` one stream (``s0000``) gets other thresholds (a control record). After ``--duration`` seconds
the producer stops; once the job has processed every event:

* **freshness** of every closed window (window end + allowed lateness → row visible in PostgreSQL; the
  freshness probe of ``bench/spark_pipeline.py``), after the first minute of traffic (warm-up);
* **memory**: peak of the job's total RSS (driver + JVM + Python workers, sampled every second together);
* **windows**: every stored window of every stream equals the engine's over the recorded log (the windows
  the watermark closed: the last ones of each stream stay open without more input), and each stream's windows
  follow one another without a gap (consecutive starts, one slide apart), through the joins and the change;
* **no restart**: the job's log has one ``query started`` (Spark application id, query id, run id), the same
  before the control changes and at the end, and its restart counter is 0.

Usage::

    .venv/bin/python bench/pool_live.py [--duration 600] [--streams 1000] [--rate 20] [--added 100]
        [--add-at 240] [--change-at 300] [--partitions 4] [--shuffle-partitions 2] [--trigger 1s]
        [--conf KEY=VALUE …] [--json FILE] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
from spark_pipeline import (
    JOB_TOTAL,
    FreshnessProbe,
    MemorySampler,
    counter,
    loadavg,
    print_memory,
    produce_in_real_time,
    report_freshness,
    scrape,
)

from telemetra.analytics.config import AnalyticsConfig, ChatSpike, MomentThresholds, analytics_config_to_json
from telemetra.contract import parse_ts
from telemetra.dev.localstack.kafka import KafkaBroker
from telemetra.dev.localstack.postgres import PostgresServer
from telemetra.dev.localstack.process import free_port, terminate, track
from telemetra.dev.localstack.redis import RedisServer
from telemetra.dev.localstack.spark_jars import export_spark_jars
from telemetra.dev.testing.spark import (
    JobProcess,
    create_topic,
    engine_reference,
    produce_keyed,
    read_windows,
    window_differences,
)
from telemetra.producers.mock import MockConfig, generate_batches
from telemetra.records import PoolTopics, WindowMetrics

CHANGED = "s0000"  # the stream whose thresholds change while the job runs
CHANGED_CONFIG = AnalyticsConfig(thresholds=MomentThresholds(chat_spike=ChatSpike(ratio=3.0)))
SEEDS = (17, 18)  # the mock traffic of the first streams, and of those that join


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode")
    produce = modes.add_parser("produce", help="(internal) the producer process")
    produce.add_argument("--bootstrap", required=True)
    produce.add_argument("--start", type=float, required=True, help="epoch seconds of the first events")
    produce.add_argument("--log", type=Path, required=True, help="every event sent, one JSON line each")
    parser.add_argument("--pool", default="live")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="mean events/s per stream")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of traffic")
    parser.add_argument("--added", type=int, default=100, help="streams that join while the job runs")
    parser.add_argument("--add-at", type=float, help="seconds into the traffic (default: 40 %% of it)")
    parser.add_argument("--change-at", type=float, help=f"when {CHANGED} changes (default: 50 %%)")
    parser.add_argument("--partitions", type=int, default=4, help="of the pool's events topic")
    parser.add_argument("--shuffle-partitions", type=int, default=2, help="the job's stateful tasks")
    parser.add_argument("--trigger", default="1s", help="the job's trigger interval")
    parser.add_argument("--conf", action="append", default=[], help="extra Spark setting KEY=VALUE")
    parser.add_argument("--json", type=Path, help="also write the results here (JSON)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (the event log: ~2.5 GB)"
    )
    args = parser.parse_args(argv)
    args.add_at = args.duration * 0.4 if args.add_at is None else args.add_at
    args.change_at = args.duration * 0.5 if args.change_at is None else args.change_at
    return args


def stream_ids(first: int, count: int) -> list[str]:
    return [f"s{i:04d}" for i in range(first, first + count)]


# ---------------------------------------------------------------------------------------------- producer


def traffic(args: argparse.Namespace, start: float) -> Iterator[tuple[float, list[dict[str, Any]]]]:
    """Each second's events: the first streams' from ``start``, those that join from ``start + add_at``."""
    configs = [MockConfig(stream_ids(0, args.streams), args.rate, args.duration, SEEDS[0], start)]
    if args.added:
        configs.append(MockConfig(stream_ids(args.streams, args.added), args.rate, args.duration - args.add_at,
                                  SEEDS[1], start + args.add_at))  # fmt: skip
    merged = heapq.merge(*map(generate_batches, configs), key=lambda pair: pair[0])
    for second, batches in itertools.groupby(merged, key=lambda pair: pair[0]):
        yield second, [event for _, batch in batches for event in batch]


def produce(args: argparse.Namespace) -> int:
    """The producer process: the traffic in real time into the pool topic, recorded; prints what it sent."""
    topic = PoolTopics.of(args.pool).events
    with args.log.open("wb") as record:
        sent, seconds = asyncio.run(
            produce_in_real_time(args.bootstrap, traffic(args, args.start), topic, record)
        )
    print(orjson.dumps({"sent": sent, "seconds": seconds, "cpu_s": time.process_time()}).decode(), flush=True)
    return 0


def start_producer(
    args: argparse.Namespace, bootstrap: str, start: float, work: Path
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, __file__, "--pool", args.pool, "--streams", str(args.streams), "--rate", str(args.rate),
        "--duration", str(args.duration), "--added", str(args.added), "--add-at", str(args.add_at),
        "produce", "--bootstrap", bootstrap, "--start", str(start), "--log", str(work / "events.jsonl"),
    ]  # fmt: skip
    out = (work / "producer.log").open("wb")
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    track(process)
    return process


# ---------------------------------------------------------------------------------------------- the job


def job_args(
    args: argparse.Namespace, bootstrap: str, store: str, cache: str, work: Path, port: int
) -> list[str]:
    out = [
        "--pool", args.pool, "--kafka-bootstrap", bootstrap, "--checkpoint-dir", (work / "checkpoint").as_uri(),
        "--store-url", store, "--cache-url", cache, "--trigger-interval", args.trigger,
        "--shuffle-partitions", str(args.shuffle_partitions), "--metrics-port", str(port),
        "--metrics-host", "127.0.0.1",
    ]  # fmt: skip
    for conf in args.conf:
        out += ["--conf", conf]
    return out


def query_starts(log: Path) -> list[dict[str, Any]]:
    """The job's "query started" log records: one per start of its query (application, query and run ids)."""
    records = (orjson.loads(line) for line in log.read_bytes().splitlines() if line.startswith(b"{"))
    return [
        {key: record.get(key) for key in ("ts", "application_id", "query_id", "run_id")}
        for record in records
        if record.get("msg") == "query started"
    ]


def send_control(bootstrap: str, topic: str, streams: Sequence[str], config: AnalyticsConfig) -> float:
    """Control records (the streams' analytics config), as the operator writes them; when they were sent."""
    value = analytics_config_to_json(config).encode()
    asyncio.run(produce_keyed(bootstrap, topic, [(stream.encode(), value) for stream in streams]))
    return time.time()


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


# ---------------------------------------------------------------------------------------------- checks


def check_windows(
    stored: dict[str, list[WindowMetrics]], expected: dict[str, list[WindowMetrics]], slide: int
) -> dict[str, Any]:
    """Every stream's stored windows against the engine's, and the gaps between consecutive windows."""
    differ = {
        s: problems for s in expected if (problems := window_differences(stored.get(s, []), expected[s]))
    }
    gaps = {}
    for stream, windows in stored.items():
        starts = [parse_ts(w.window_start) for w in windows]
        holes = [(a, b) for a, b in itertools.pairwise(starts) if b - a != slide]
        if holes:
            gaps[stream] = holes
    return {
        "streams": len(expected),
        "streams stored": len(stored),
        "windows expected": sum(len(w) for w in expected.values()),
        "windows stored": sum(len(w) for w in stored.values()),
        "streams whose windows differ": len(differ),
        "streams with a gap": len(gaps),
        "first differences": [f"{s}: {p[0]}" for s, p in list(differ.items())[:5]],
        "first gaps": [f"{s}: {h[:3]}" for s, h in list(gaps.items())[:5]],
    }


def by_stream(windows: Sequence[WindowMetrics]) -> dict[str, list[WindowMetrics]]:
    out: dict[str, list[WindowMetrics]] = {}
    for window in windows:
        out.setdefault(window.stream_id, []).append(window)
    return out


# ---------------------------------------------------------------------------------------------- the run


def live(
    args: argparse.Namespace, broker: KafkaBroker, postgres: PostgresServer, redis: RedisServer, work: Path
) -> dict[str, Any]:
    topics = PoolTopics.of(args.pool)
    first, joining = stream_ids(0, args.streams), stream_ids(args.streams, args.added)
    asyncio.run(create_topic(broker.bootstrap, topics.events, args.partitions))
    asyncio.run(create_topic(broker.bootstrap, topics.control, 1, **{"cleanup.policy": "compact"}))
    send_control(broker.bootstrap, topics.control, first, AnalyticsConfig())
    store, port, log = postgres.create_database("pool_live"), free_port(), work / "job.log"
    job = JobProcess(job_args(args, broker.bootstrap, store, redis.url(), work, port), log).start()
    sampler = MemorySampler(
        lambda: job.process.pid if job.process else None, lambda: broker.pid, lambda: postgres.pid
    ).start()
    probe = FreshnessProbe(store)
    events: dict[str, Any] = {}
    producer: subprocess.Popen[bytes] | None = None
    try:
        # Traffic starts once the job runs and has read the pool's control topic (its first micro-batch).
        deadline = time.monotonic() + 300
        while counter(port, "telemetra_spark_batches_total", args.pool) < 1:
            assert job.running and time.monotonic() < deadline, job.log_tail()
            time.sleep(0.5)
        probe.start()
        start = float(int(time.time()) + 3)
        producer = start_producer(args, broker.bootstrap, start, work)
        at = time.strftime("%H:%M:%S", time.gmtime(start))
        print(f"producing {args.streams:,} streams × {args.rate:g} events/s for {args.duration:.0f} s from "
              f"{at} UTC (load average {loadavg()})", flush=True)  # fmt: skip
        sleep_until(start + args.add_at - 2)
        before = query_starts(log)
        events["streams joined (control records sent)"] = (
            send_control(broker.bootstrap, topics.control, joining, AnalyticsConfig()) - start
        )
        print(f"{len(joining)} streams joined at {events['streams joined (control records sent)']:.0f} s "
              f"(load average {loadavg()})", flush=True)  # fmt: skip
        sleep_until(start + args.change_at)
        events[f"{CHANGED} thresholds changed"] = (
            send_control(broker.bootstrap, topics.control, [CHANGED], CHANGED_CONFIG) - start
        )
        print(f"{CHANGED} got other thresholds (load average {loadavg()})", flush=True)
        producer.wait()
        produced = orjson.loads((work / "producer.log").read_bytes().splitlines()[-1])
        print(
            f"produced {produced['sent']:,} events in {produced['seconds']:.1f} s, {produced['cpu_s']:.0f} s of "
            f"CPU (load average {loadavg()})"
        )
        deadline = time.monotonic() + 300
        while counter(port, "telemetra_spark_events_total", args.pool) < produced["sent"]:
            assert job.running and time.monotonic() < deadline, job.log_tail()
            time.sleep(0.5)
        caught_up = time.time() - start - args.duration
        probe.stop()
        metrics = scrape(port, args.pool)
        after = query_starts(log)
        job.terminate()
    finally:
        probe.stop()
        sampler.stop()
        if job.running:
            job.kill()
        if producer is not None and producer.poll() is None:
            terminate(producer)

    print(f"the job had processed every event {caught_up:.1f} s after the producer's last second")
    freshness = report_freshness(probe, start)
    print_memory(sampler)
    count = metrics.get("telemetra_spark_batch_duration_seconds_count", 0)
    total = metrics.get("telemetra_spark_batch_duration_seconds_sum", 0)
    print(f"micro-batches: {count:.0f}, mean duration {total / max(count, 1):.2f} s; restarts: "
          f"{metrics.get('telemetra_spark_query_restarts_total', 0):.0f}")  # fmt: skip
    print(f"query started: {len(after)} time(s); before the control changes {before}; at the end {after}")

    print("checking every stream's windows against the engine over the recorded log …", flush=True)
    with (work / "events.jsonl").open("rb") as lines:
        expected = by_stream(engine_reference(lines).windows)
    stored = asyncio.run(read_windows(store, first + joining))
    windows = check_windows(stored, expected, AnalyticsConfig().slide)
    for name, value in windows.items():
        print(f"  {name}: {value}")
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
        "command": " ".join(sys.argv),
        "events": produced["sent"],
        "control changes (s after start)": events,
        "caught up (s after the last second)": round(caught_up, 1),
        "freshness (steady, s)": freshness,
        "windows seen by the probe": len(probe.window_lags),
        "peak RSS (MiB)": {name: round(value) for name, value in sampler.peaks.items()},
        "CPU s": {name: round(value, 1) for name, value in sampler.cpu_seconds().items()}
        | {"producer": round(produced["cpu_s"], 1)},
        "job total peak (MiB)": round(sampler.peaks.get(JOB_TOTAL, 0)),
        "micro-batches": count,
        "mean batch (s)": round(total / max(count, 1), 3),
        "restarts": metrics.get("telemetra_spark_query_restarts_total", 0),
        "query starts": after,
        "same query before and after": len(after) == 1 and before == after,
        "windows": windows,
        "load average after": os.getloadavg(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.mode == "produce":
        return produce(args)
    export_spark_jars()  # the job inherits $TELEMETRA_SPARK_JARS
    work = Path(tempfile.mkdtemp(prefix="telemetra-pool-live-"))
    print(f"work directory: {work}; load average {loadavg()}; "
          f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC; {os.cpu_count()} cores")  # fmt: skip
    try:
        with KafkaBroker(work / "kafka") as broker, PostgresServer() as postgres, RedisServer() as redis:
            summary = live(args, broker, postgres, redis, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json is not None:
        args.json.write_text(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    ok = summary["same query before and after"] and not summary["windows"]["streams whose windows differ"]
    return 0 if ok and not summary["windows"]["streams with a gap"] else 1


if __name__ == "__main__":
    sys.exit(main())
