"""Producer throughput to the in-process bus (and to a JSONL file), from one process, generator included.

.venv/bin/python bench/bus_producer.py [--streams 4] [--rate 20000] [--duration 10]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from telemetra.producers.mock import MockConfig, generate_batches
from telemetra.producers.runner import pump
from telemetra.sinks.file import FileSink
from telemetra.sinks.memory import InProcessBus, MemorySink


async def to_bus(config: MockConfig) -> tuple[int, float]:
    bus = InProcessBus()
    received = 0

    async def drain() -> None:
        nonlocal received
        async for batch in bus.subscribe():
            received += len(batch)

    consumer = asyncio.create_task(drain())
    await asyncio.sleep(0)
    started = time.perf_counter()
    report = await pump(generate_batches(config), MemorySink(bus), speed=0)
    await bus.close()
    await consumer
    assert received == report.events
    return report.events, time.perf_counter() - started


async def to_file(config: MockConfig, path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    report = await pump(generate_batches(config), FileSink(path, append=False), speed=0)
    return report.events, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--rate", type=float, default=20_000.0, help="events/s per stream (simulated)")
    parser.add_argument("--duration", type=float, default=10.0, help="simulated seconds")
    args = parser.parse_args()
    config = MockConfig(
        streams=[f"s{i}" for i in range(args.streams)], rate=args.rate, duration=args.duration, seed=7,
        start=1_790_000_000,
    )  # fmt: skip
    events, seconds = asyncio.run(to_bus(config))
    print(
        f"mock producer → in-process bus: {events:,} events in {seconds:.2f} s = {events / seconds:,.0f} events/s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        events, seconds = asyncio.run(to_file(config, Path(tmp) / "events.jsonl"))
    print(
        f"mock producer → JSONL file:     {events:,} events in {seconds:.2f} s = {events / seconds:,.0f} events/s"
    )


if __name__ == "__main__":
    main()
