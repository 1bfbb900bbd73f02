"""Alert delivery: N moments a minute to M destinations through the outbox and the dispatcher, to a local
receiver; latency from the offer (the moment handed to alerting) to its arrival at the receiver.

Each of M streams has one signed generic-webhook destination (``/hook/<i>`` on the receiver); moments are spread
over the streams round-robin and offered every ``--tick`` seconds through ``AlertIntake`` (rules applied, one
outbox transaction per tick), with one in-process dispatcher draining the outbox (woken by the offers). The
receiver (``telemetra.dev.testing.receiver``, a threaded HTTP/1.1 server) runs as a separate process and
timestamps each arrival; both sides read the same clock. Also reported: duplicates (must be 0) and what never
arrived. Issue 18's target: 10,000 moments/min to 1,000 destinations, p99 ≤ 2 s.

Usage::

    .venv/bin/python bench/alerts.py [--per-minute 10000] [--destinations 1000] [--seconds 60]
                                     [--outbox sqlite|postgres] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from telemetra.dev.localstack.postgres import PostgresServer
from telemetra.dev.localstack.process import free_port, port_open
from telemetra.dev.testing.alerts import make_moment, webhook_config
from telemetra.services.alerts import AlertIntake, AlertSettings, Dispatcher, SecretResolver, open_outbox

KEY = "bench-signing-key-0123456789abcdef"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(args: argparse.Namespace, outbox_url: str, receiver_url: str) -> dict[str, float]:
    outbox = open_outbox(outbox_url, pool_size=4)
    await outbox.start()
    settings = AlertSettings(outbox_url=outbox_url, concurrency=args.concurrency, batch=args.concurrency)
    dispatcher = Dispatcher(outbox, SecretResolver(environ={"BENCH_KEY": KEY}), settings)
    intake = AlertIntake(outbox, on_queued=dispatcher.wake)
    for i in range(args.destinations):
        config = webhook_config(f"{receiver_url}/hook/{i}", env="BENCH_KEY")
        await outbox.set_config(f"s{i}", config, "api", time.time())
    await intake.refresh()

    offered: dict[str, float] = {}
    per_tick = args.per_minute / 60 * args.tick
    stop = asyncio.Event()
    dispatching = asyncio.create_task(dispatcher.run(stop))
    started, sent, due = time.monotonic(), 0, 0.0
    while (elapsed := time.monotonic() - started) < args.seconds:
        due += per_tick
        batch = []
        while sent < int(due):
            batch.append(make_moment(sent, stream=f"s{sent % args.destinations}", at=time.time()))
            sent += 1
        now = time.time()
        offered.update((m.moment_id, now) for m in batch)
        await intake.moments(batch)
        await asyncio.sleep(max(0.0, (elapsed + args.tick) - (time.monotonic() - started)))
    async with httpx.AsyncClient(base_url=receiver_url, timeout=30) as client:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # let the tail arrive
            if (await client.get("/_stats")).json()["count"] >= sent:
                break
            await asyncio.sleep(0.2)
        stats = (await client.get("/_stats")).json()
    stop.set()
    await dispatching
    await dispatcher.close()
    await outbox.close()

    keys = Counter(key for _, key, _ in stats["arrivals"])
    first_arrival = {}
    for _, key, at in stats["arrivals"]:
        first_arrival.setdefault(key, at)
    latencies = [first_arrival[key] - at for key, at in offered.items() if key in first_arrival]
    return {
        "offered": len(offered),
        "arrived": len(latencies),
        "duplicates": sum(n - 1 for n in keys.values()),
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies),
        "rate": len(offered) / args.seconds * 60,
        "retried": dispatcher.stats.retried,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-minute", type=int, default=10_000)
    parser.add_argument("--destinations", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--tick", type=float, default=0.1, help="seconds between offers")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--outbox", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()

    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "telemetra.dev.testing.receiver", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    postgres = PostgresServer() if args.outbox == "postgres" else None
    try:
        deadline = time.monotonic() + 10
        while not port_open(port):
            if time.monotonic() > deadline:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.05)
        with tempfile.TemporaryDirectory() as work:
            if postgres is not None:
                postgres.start()
                url = postgres.create_database("alerts_bench")
            else:
                url = f"sqlite:///{Path(work) / 'alerts.db'}"
            result = asyncio.run(run(args, url, f"http://127.0.0.1:{port}"))
    finally:
        receiver.terminate()
        receiver.wait(10)
        if postgres is not None:
            postgres.cleanup()
    print(
        f"{args.outbox}: {result['offered']:.0f} moments in {args.seconds:g} s ({result['rate']:,.0f}/min) to "
        f"{args.destinations} destinations: {result['arrived']:.0f} arrived, {result['duplicates']:.0f} duplicates, "
        f"{result['retried']:.0f} retries; latency p50 {result['p50'] * 1000:.0f} ms, "
        f"p99 {result['p99'] * 1000:.0f} ms, max {result['max'] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
