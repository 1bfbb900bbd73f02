"""How many mock streams one pool producer process (``telemetra ingest pool``) sustains in real time.

Starts its own single-node Kafka broker (or uses ``--bootstrap``), creates a pool's events topic and its
compacted sources topic, writes ``--streams`` mock sources of ``--rate`` events/s each, then runs the real
command (``python -m telemetra.apps.cli ingest pool``) as a child process and measures over a steady-state
window of ``--duration`` seconds, after ``--warmup`` seconds:

* events/s delivered: records added to the events topic (sum of its end offsets) per second of wall time;
* the producer's CPU (user + system, from ``/proc/PID/stat``) as a share of one core, and its RSS;
* whether it keeps up: the target rate (streams × rate) against the delivered rate, and the mock lag of its
  last progress line (how late the most delayed stream's latest second went out).

Then SIGTERM: the command must exit 0 with nothing undelivered, and the topic must hold what it says it
delivered. ``--cpu N`` pins the producer to core N (and the broker to the other cores), for a one-core figure.
Usage::

    .venv/bin/python bench/pool_ingest.py [--streams 1000] [--rate 20] [--duration 60] [--warmup 20] [--cpu 1]
                                          [--partitions 6] [--compression zstd]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from telemetra.dev.localstack.kafka import KafkaBroker
from telemetra.records import PoolTopics

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000, help="mock streams in the pool (default 1000)")
    parser.add_argument("--rate", type=int, default=20, help="events/s of each stream (default 20)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured (default 60)")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds before measuring (default 20)")
    parser.add_argument(
        "--partitions", type=int, default=6, help="partitions of the events topic (default 6)"
    )
    parser.add_argument("--compression", default="zstd", help="the command's --compression (default zstd)")
    parser.add_argument("--cpu", type=int, help="pin the producer to this core, the broker to the others")
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    return parser.parse_args(argv)


# -- Kafka -------------------------------------------------------------------------------------------------
async def create_pool(bootstrap: str, partitions: int) -> tuple[str, PoolTopics]:
    pool = f"bench-{uuid.uuid4().hex[:6]}"
    topics = PoolTopics.of(pool)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(topics.events, partitions, 1),
                NewTopic(topics.sources, 1, 1, topic_configs={"cleanup.policy": "compact"}),
            ]
        )
    finally:
        await admin.close()
    return pool, topics


async def write_sources(bootstrap: str, topic: str, streams: int, rate: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        futures = []
        for i in range(streams):
            value = {"type": "mock", "mock": {"rate": rate, "seed": i, "scenarios": []}}
            futures.append(await producer.send(topic, key=f"s{i:05d}".encode(), value=orjson.dumps(value)))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def stored(bootstrap: str, topic: str, partitions: int) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


# -- the producer process -----------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def waiting_seconds(pid: int) -> float:
    """Time the process's main thread spent runnable but waiting for a CPU (``/proc/PID/schedstat``)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class LogTail:
    """The producer's JSON log lines, collected by a thread as they come."""

    def __init__(self, stream: IO[bytes]):
        self.lines: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            if raw.startswith(b"{"):
                self.lines.append(orjson.loads(raw))

    def last(self, msg: str) -> dict[str, Any] | None:
        return next((line for line in reversed(self.lines) if line["msg"] == msg), None)

    def count(self, msg: str) -> int:
        return sum(1 for line in self.lines if line["msg"] == msg)


def pin(pid: int, cores: str) -> None:
    subprocess.run(["taskset", "-a", "-p", "-c", cores, str(pid)], check=True, capture_output=True)


async def bench(args: argparse.Namespace, bootstrap: str, broker_pid: int | None) -> None:
    pool, topics = await create_pool(bootstrap, args.partitions)
    await write_sources(bootstrap, topics.sources, args.streams, args.rate)
    target = args.streams * args.rate
    print(f"# pool {pool}: {args.streams} mock streams × {args.rate} events/s = {target:,} events/s target")
    command = [sys.executable, "-m", "telemetra.apps.cli", "ingest", "pool", "--pool", pool,
               "--kafka-bootstrap", bootstrap, "--progress-interval", "5",
               "--compression", args.compression]  # fmt: skip
    if args.cpu is not None:
        command = ["taskset", "-c", str(args.cpu), *command]
        if broker_pid is not None:
            others = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)) if c != args.cpu)
            pin(broker_pid, others)
    process = subprocess.Popen(command, stderr=subprocess.PIPE)  # noqa: ASYNC220 - once, before measuring
    assert process.stderr is not None
    log = LogTail(process.stderr)
    try:
        started = time.monotonic()
        while log.count("stream joined") < args.streams:
            if process.poll() is not None or time.monotonic() - started > 120:
                raise SystemExit(f"the producer did not take up every stream: {log.lines[-3:]}")
            await asyncio.sleep(0.2)
        print(f"# every stream joined {time.monotonic() - started:.1f} s after start; warming up")
        await asyncio.sleep(args.warmup)

        broker0 = cpu_seconds(broker_pid) if broker_pid is not None else 0.0
        wait0 = waiting_seconds(process.pid)
        t0, cpu0, events0 = (
            time.monotonic(),
            cpu_seconds(process.pid),
            await stored(bootstrap, topics.events, args.partitions),
        )
        samples = []
        while (elapsed := time.monotonic() - t0) < args.duration:
            await asyncio.sleep(min(5.0, args.duration - elapsed))
            samples.append(rss_mib(process.pid))
        t1, cpu1 = time.monotonic(), cpu_seconds(process.pid)
        wait1 = waiting_seconds(process.pid)
        broker1 = cpu_seconds(broker_pid) if broker_pid is not None else 0.0
        events1 = await stored(bootstrap, topics.events, args.partitions)
        progress = log.last("pool progress") or {}

        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 60)
    finally:
        if process.poll() is None:
            process.kill()
    await asyncio.sleep(0.5)  # the last lines
    final = log.last("pool producer stopped") or {}
    total = await stored(bootstrap, topics.events, args.partitions)
    wall = t1 - t0
    rate = (events1 - events0) / wall
    cpu = (cpu1 - cpu0) / wall
    lags = [line["mock_lag_s"] for line in log.lines if line["msg"] == "pool progress"]
    print(
        f"measured {wall:.1f} s: {events1 - events0:,} events = {rate:,.0f} events/s "
        f"({rate / target:.1%} of the target); producer CPU {cpu:.1%} of one core "
        f"({cpu * 1e6 / max(rate, 1):.1f} µs per event); RSS {max(samples):.0f} MiB; "
        f"broker CPU {(broker1 - broker0) / wall:.1%} of one core; load average {os.getloadavg()[0]:.2f}"
    )
    waited = (wait1 - wait0) / wall
    print(f"producer runnable but waiting for its core (taken by other processes): {waited:.1%} of the time")
    print(
        f"last progress line: {progress.get('events_per_s')} events/s, buffered {progress.get('buffered')}, "
        f"mock lag {progress.get('mock_lag_s')} s (max over the run {max(lags, default=0):.3f} s)"
    )
    print(
        f"exit {code}; delivered {final.get('delivered')}, failed {final.get('failed')}; topic holds {total}"
    )
    kinds = Counter((line["logger"], line["msg"]) for line in log.lines)
    print("log lines: " + ", ".join(f"{logger} {msg!r} ×{n}" for (logger, msg), n in kinds.most_common(8)))
    ok = code == 0 and final.get("failed") == 0 and final.get("delivered") == total
    print(
        f"RESULT pool_ingest streams={args.streams} rate={args.rate} compression={args.compression} target={target} "
        f"events_per_s={rate:.0f} cpu_share={cpu:.3f} us_per_event={cpu * 1e6 / max(rate, 1):.1f} "
        f"rss_mib={max(samples):.0f} max_lag_s={max(lags, default=0):.3f} cpu_wait_share={waited:.3f} "
        f"clean_stop={ok}",
        flush=True,
    )
    if not ok:
        raise SystemExit("the producer did not stop cleanly with everything delivered")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.bootstrap:
        asyncio.run(bench(args, args.bootstrap, None))
        return
    with (
        tempfile.TemporaryDirectory(prefix="telemetra-kafka-bench-") as data_dir,
        KafkaBroker(data_dir) as broker,
    ):
        asyncio.run(bench(args, broker.bootstrap, broker.pid))


if __name__ == "__main__":
    main()
