"""Embedded engine benchmarks: throughput on one core, and peak memory for an hour of multi-stream traffic.

.venv/bin/python bench/engine.py throughput   # events/s through validation + analytics (70% chat)
.venv/bin/python bench/engine.py memory       # 1 h at 1,000 events/s across 10 streams, peak RSS
"""

from __future__ import annotations

import argparse
import itertools
import resource
import sys
import time
from collections.abc import Iterable, Iterator

import orjson

from telemetra.engine.core import Engine
from telemetra.engine.offline import BATCH
from telemetra.producers.mock import MockConfig, generate_batches

START = 1_790_000_000.0


def batches(lines: Iterable[bytes]) -> Iterator[list[tuple[bytes, str]]]:
    """Inputs in engine steps of BATCH, as ``telemetra process`` feeds them."""
    inputs = ((line, "") for line in lines)
    while batch := list(itertools.islice(inputs, BATCH)):
        yield batch


def mixed_events(streams: list[str], rate: float, duration: float, chat_share: float) -> Iterator[bytes]:
    """Mock traffic, topped up with viewer samples so that chat is ``chat_share`` of all events."""
    config = MockConfig(streams=streams, rate=rate, duration=duration, seed=1, start=START)
    extra = itertools.count()
    for _, batch in generate_batches(config):
        chats = sum(e["type"] == "chat" for e in batch)
        others = len(batch) - chats
        needed = max(0, round(chats * (1 - chat_share) / chat_share) - others)
        for event in batch:
            yield orjson.dumps(event)
        for i in range(needed):
            source = batch[i % len(batch)]
            yield orjson.dumps({"event_id": f"x{next(extra)}", "stream_id": source["stream_id"],
                                "type": "viewers", "ts": source["ts"], "viewers": 1000 + i})  # fmt: skip


def throughput(args: argparse.Namespace) -> None:
    lines = list(mixed_events(["a", "b", "c", "d"], rate=args.rate, duration=args.duration, chat_share=0.7))
    chat = sum(b'"type":"chat"' in line for line in lines)
    engine = Engine()
    started = time.process_time()
    for batch in batches(lines):
        engine.process(batch, live=False)
    engine.flush()
    cpu = time.process_time() - started
    print(f"engine throughput: {len(lines):,} events ({chat / len(lines):.0%} chat) in {cpu:.2f} s CPU "
          f"= {len(lines) / cpu:,.0f} events/s on one core")  # fmt: skip


def memory(args: argparse.Namespace) -> None:
    streams = [f"s{i}" for i in range(10)]
    engine = Engine()
    count = 0
    started = time.process_time()
    # The mock is ~97% chat; topping it up to 70% chat adds ~39%, so scale the mock's rate down to match.
    per_stream = args.total_rate / len(streams) * 0.7 / 0.97
    events = mixed_events(streams, rate=per_stream, duration=args.duration, chat_share=0.7)
    for batch in batches(events):
        engine.process(batch, live=False)
        count += len(batch)
    engine.flush()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu = time.process_time() - started
    print(f"engine memory: {count:,} events over {args.duration / 3600:g} h across 10 streams "
          f"({args.total_rate:g} events/s), peak RSS {peak_mib:.0f} MiB, {cpu:.0f} s CPU")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="bench", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--rate", type=float, default=2000.0, help="mean events/s per stream (4 streams)")
    t.add_argument("--duration", type=float, default=120.0)
    t.set_defaults(run=throughput)
    m = sub.add_parser("memory")
    m.add_argument("--total-rate", type=float, default=1000.0)
    m.add_argument("--duration", type=float, default=3600.0)
    m.set_defaults(run=memory)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    sys.exit(main())
