"""Events per second from one Python process through KafkaSink to a real local broker.

Starts its own single-node broker (or uses ``--bootstrap``), pre-generates the events (mock traffic from
``telemetra.producers.mock`` when present, else synthetic chat), then times ``send`` calls of ``--chunk``
events each until ``close()`` has every acknowledgement. After the runs it checks that the topics hold exactly
the events sent. Usage::

    .venv/bin/python bench/kafka_producer.py [--events 500000] [--streams 4] [--chunk 5000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from telemetra.contract import format_ts
from telemetra.dev.localstack.kafka import KafkaBroker
from telemetra.sinks.base import RawEvent
from telemetra.sinks.kafka import KafkaSink

SIMULATED_SECONDS = 10
WARMUP_EVENTS = 20_000


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500_000, help="events per timed run")
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=5_000, help="events per send() call")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compression", default="lz4")
    parser.add_argument("--batch-bytes", type=int, default=512 * 1024)
    parser.add_argument("--max-in-flight", type=int, default=100_000)
    parser.add_argument("--source", choices=["auto", "mock", "synthetic"], default="auto")
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    return parser.parse_args(argv)


def mock_events(streams: list[str], total: int, seed: int = 7) -> list[RawEvent] | None:
    """Mock traffic in time order, or None when the mock producer is not available."""
    try:
        from telemetra.producers import mock
    except ImportError:
        return None
    rate = total / (len(streams) * SIMULATED_SECONDS)
    options: dict[str, Any] = {"streams": streams, "rate": rate, "duration": SIMULATED_SECONDS, "seed": seed}
    config = getattr(mock, "MockConfig", None)
    produced = mock.generate_batches(config(**options)) if config else mock.generate_batches(**options)
    # generate_batches yields ``(second, events)`` pairs or plain event lists, depending on its version.
    events = [event for item in produced for event in (item[1] if isinstance(item, tuple) else item)]
    return events[:total]


def synthetic_events(streams: list[str], total: int) -> list[RawEvent]:
    run, start = uuid.uuid4().hex[:8], time.time()
    return [
        {
            "event_id": f"{run}-{i}",
            "stream_id": streams[i % len(streams)],
            "type": "chat",
            "ts": format_ts(start + i / 10_000),
            "user_id": f"u{i % 5_000}",
            "username": f"viewer_{i % 5_000}",
            "text": f"message {i}: that play was insane PogChamp PogChamp KEKW",
        }
        for i in range(total)
    ]


def make_events(args: argparse.Namespace, streams: list[str], total: int) -> tuple[str, list[RawEvent]]:
    if args.source in ("auto", "mock"):
        events = mock_events(streams, total)
        if events is not None:
            return "mock", events
        if args.source == "mock":
            sys.exit("telemetra.producers.mock is not available")
    return "synthetic", synthetic_events(streams, total)


def chunked(events: list[RawEvent], size: int) -> Iterator[list[RawEvent]]:
    for start in range(0, len(events), size):
        yield events[start : start + size]


async def timed_run(args: argparse.Namespace, bootstrap: str, template: str, events: list[RawEvent]) -> float:
    sink = KafkaSink(
        bootstrap,
        topic_template=template,
        compression=args.compression,
        batch_bytes=args.batch_bytes,
        max_in_flight=args.max_in_flight,
    )
    await sink.start()
    started = time.perf_counter()
    for chunk in chunked(events, args.chunk):
        await sink.send(chunk)
    await sink.close()  # raises DeliveryError if anything was not acknowledged
    elapsed = time.perf_counter() - started
    assert sink.stats.sent == len(events), sink.stats
    return elapsed


async def stored_records(bootstrap: str, topics: list[str]) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic["topic"], partition["partition"])
            for topic in await admin.describe_topics(topics)
            for partition in topic["partitions"]
        ]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()
        await admin.close()


async def bench(args: argparse.Namespace, bootstrap: str) -> None:
    streams = [f"bench_{i}" for i in range(args.streams)]
    source, events = make_events(args, streams, args.events)
    warmup = events[:WARMUP_EVENTS]
    size = sum(len(orjson.dumps(event)) for event in events) / len(events)
    template = f"bench-{uuid.uuid4().hex[:8]}.{{stream_id}}.events"
    print(
        f"# {len(events)} {source} events, {size:.0f} B each on average, {args.streams} streams", flush=True
    )

    await timed_run(args, bootstrap, template, warmup)  # creates the topics and warms up both sides
    rates = []
    for run in range(1, args.runs + 1):
        elapsed = await timed_run(args, bootstrap, template, events)
        rates.append(len(events) / elapsed)
        mb = len(events) * size / elapsed / 1e6
        print(
            f"run {run}: {len(events)} events in {elapsed:.2f} s = {rates[-1]:,.0f} events/s ({mb:.1f} MB/s)"
        )

    stored = await stored_records(bootstrap, [template.format(stream_id=stream) for stream in streams])
    expected = len(warmup) + args.runs * len(events)
    assert stored == expected, f"topics hold {stored} records, expected {expected}"
    print(
        f"RESULT kafka_producer source={source} events={len(events)} streams={args.streams} "
        f"chunk={args.chunk} compression={args.compression} median={statistics.median(rates):,.0f} events/s "
        f"best={max(rates):,.0f} events/s (stored records verified: {stored})",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.getLogger("aiokafka.cluster").setLevel(logging.CRITICAL)  # "topic not found" while auto-creating
    if args.bootstrap:
        asyncio.run(bench(args, args.bootstrap))
        return
    with (
        tempfile.TemporaryDirectory(prefix="telemetra-kafka-bench-") as data_dir,
        KafkaBroker(data_dir) as broker,
    ):
        asyncio.run(bench(args, broker.bootstrap))


if __name__ == "__main__":
    main()
