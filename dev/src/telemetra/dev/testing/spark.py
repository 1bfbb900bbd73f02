"""Test and benchmark support for the Spark job: reference outputs of the embedded engine, raw Kafka produce
and read, reading back the store, and the job's entry point run as a child process."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import TopicPartition

from telemetra.analytics.config import AnalyticsConfig
from telemetra.dev.localstack.process import tail, track
from telemetra.dev.localstack.spark_jars import ensure_spark_jars
from telemetra.engine.core import Engine
from telemetra.producers.mock import MockConfig, generate_batches, labels
from telemetra.producers.scenarios import parse_scenario
from telemetra.records import DeadLetter, Moment, WindowMetrics
from telemetra.services.output import ServiceOutput, open_output
from telemetra.services.settings import Settings
from telemetra.services.storage import open_store
from telemetra.sinks.kafka import KafkaSink
from telemetra.spark.jars import JARS_ENV
from telemetra.spark.settings import JobSettings

START = 1_790_000_100.0  # 2026-09-21T14:15:00Z
REFERENCE_STEP = 10_000  # inputs per engine step of a reference: a step holds its inputs' items until folded


@dataclass
class ScenarioLog:
    lines: list[bytes]
    labels: list[dict[str, object]]


def scenario_log(
    stream_id: str,
    *,
    seconds: float,
    rate: float,
    scenarios: Sequence[str] = (),
    seed: int = 5,
    start: float = START,
) -> ScenarioLog:
    """A labelled mock event log of one stream, one JSON event per line (what ``telemetra produce`` makes)."""
    config = MockConfig(
        streams=[stream_id],
        rate=rate,
        duration=seconds,
        seed=seed,
        start=start,
        scenarios=[parse_scenario(spec) for spec in scenarios],
    )
    lines = [orjson.dumps(event) for _, batch in generate_batches(config) for event in batch]
    return ScenarioLog(lines, labels(config))


@dataclass
class Reference:
    """The embedded engine's output for a log, without the final flush: what a live job has written."""

    windows: list[WindowMetrics]
    moments: list[Moment]  # the last version of each episode, by (start, kind)
    events: int = 0
    dead_letters: int = 0
    watermark: float = 0.0
    meta: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # title, category by stream


def engine_reference(lines: Iterable[bytes], config: AnalyticsConfig | None = None) -> Reference:
    """``lines`` (a list, or a file of millions) through the engine in steps of :data:`REFERENCE_STEP`."""
    engine = Engine(config)
    remaining = iter(lines)
    windows: list[WindowMetrics] = []
    moments: dict[str, Moment] = {}
    while step_lines := list(itertools.islice(remaining, REFERENCE_STEP)):
        step = engine.process(((line, "") for line in step_lines), live=False)
        windows += step.windows
        moments |= {m.moment_id: m for m in step.moments}
    watermarks = [s.watermark for s in engine.streams.values()]
    return Reference(
        windows=sorted(windows, key=lambda w: (w.stream_id, w.window_start)),
        moments=sorted(moments.values(), key=lambda m: (m.stream_id, m.start, m.kind)),
        events=engine.stats.events,
        dead_letters=engine.stats.invalid,
        watermark=max(watermarks) if watermarks else 0.0,
        meta={s.stream_id: (s.title, s.category) for s in engine.streams.values()},
    )


def window_differences(stored: Sequence[WindowMetrics], expected: Sequence[WindowMetrics]) -> list[str]:
    """How two window lists differ: same windows in the same order, counts and everything else equal,
    sentiment within 1e-9. Empty when they agree."""
    problems = []
    got_starts, want_starts = [w.window_start for w in stored], [w.window_start for w in expected]
    if got_starts != want_starts:
        missing = sorted(set(want_starts) - set(got_starts))
        extra = sorted(set(got_starts) - set(want_starts))
        problems.append(
            f"windows: {len(got_starts)} vs {len(want_starts)}; missing {missing[:5]}, extra {extra[:5]}"
        )
    for got, want in zip(stored, expected, strict=False):
        got_fields, want_fields = got.to_dict(), want.to_dict()
        got_sentiment, want_sentiment = got_fields.pop("sentiment"), want_fields.pop("sentiment")
        if got_fields != want_fields:
            fields = sorted(k for k in want_fields if got_fields.get(k) != want_fields[k])
            problems.append(f"window {want.window_start}: {fields} differ")
        elif (got_sentiment is None) != (want_sentiment is None) or (
            got_sentiment is not None
            and want_sentiment is not None
            and abs(got_sentiment - want_sentiment) > 1e-9
        ):
            problems.append(f"window {want.window_start}: sentiment {got_sentiment} vs {want_sentiment}")
    return problems


def moment_differences(stored: Sequence[Moment], expected: Sequence[Moment]) -> list[str]:
    """Same moment ids, and each stored moment equal to the expected version. Empty when they agree."""
    by_id = {m.moment_id: m for m in stored}
    problems = []
    if sorted(by_id) != sorted(m.moment_id for m in expected):
        problems.append(f"moment ids: {sorted(by_id)} vs {sorted(m.moment_id for m in expected)}")
    for want in expected:
        got = by_id.get(want.moment_id)
        if got is not None and got != want:
            fields = sorted(k for k, v in want.to_dict().items() if getattr(got, k) != v)
            problems.append(f"moment {want.kind} at {want.start}: {fields} differ")
    return problems


# ---------------------------------------------------------------------------------------------------- Kafka


def produce_events(bootstrap: str, lines: Sequence[bytes], chunk: int = 2000) -> None:
    """JSON lines, through :func:`send_events`."""
    asyncio.run(send_events(bootstrap, [orjson.loads(line) for line in lines], chunk))


async def send_events(bootstrap: str, events: Sequence[dict[str, Any]], chunk: int = 2000) -> None:
    """Through the real producer path (:class:`~telemetra.sinks.kafka.KafkaSink`: one topic per stream,
    keyed by stream id, lz4, idempotent); fails unless every event was acknowledged."""
    sink = KafkaSink(bootstrap)
    await sink.start()
    try:
        for start in range(0, len(events), chunk):
            await sink.send(list(events[start : start + chunk]))
    finally:
        await sink.close()
    if sink.stats.sent != len(events):
        raise RuntimeError(f"only {sink.stats.sent} of {len(events)} events were acknowledged")


async def produce_keyed(bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes | None]]) -> None:
    """``(key, value)`` records in order, partitioned by key (like producers writing to a pool's topic)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", compression_type="lz4"
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, key=key, value=value) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def create_topic(bootstrap: str, topic: str, partitions: int, **config: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=config)])
    finally:
        await admin.close()


async def produce_raw(bootstrap: str, topic: str, values: Sequence[bytes | None], key: bytes) -> None:
    """Raw values in order, on one partition (like the Kafka sink: keyed by stream id, lz4, idempotent)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", compression_type="lz4"
    )
    await producer.start()
    try:
        batch = producer.create_batch()
        for value in values:
            if batch.append(key=key, value=value, timestamp=None) is None:
                batch.close()
                await (await producer.send_batch(batch, topic, partition=0))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        batch.close()
        await (await producer.send_batch(batch, topic, partition=0))
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, wait: float = 30.0) -> list[ConsumerRecord]:
    """Every record the topic holds now (partition 0), waiting up to ``wait`` seconds for the topic to appear."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        deadline = time.monotonic() + wait
        while topic not in await consumer.topics():
            if time.monotonic() > deadline:
                return []
            await asyncio.sleep(0.2)
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        while time.monotonic() < deadline:
            positions = {p: await consumer.position(p) for p in partitions}
            if all(positions[p] >= end[p] for p in partitions):
                break
            for batch in (await consumer.getmany(*partitions, timeout_ms=500)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    """The topic's effective configuration."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        return {
            entry[0]: entry[1] for response in responses for res in response.resources for entry in res[4]
        }
    finally:
        await admin.close()


# ---------------------------------------------------------------------------------------------------- store


@dataclass
class Stored:
    windows: list[WindowMetrics]
    moments: list[Moment]
    meta: tuple[str | None, str | None] | None = None  # the stream's title and category; None: not stored
    dead_letters: list[DeadLetter] = field(default_factory=list)  # in the order they were read (by source)


async def read_windows(url: str, streams: Iterable[str]) -> dict[str, list[WindowMetrics]]:
    """Every stored window of each stream (oldest first), through the API's own store code."""
    store = open_store(url, pool_size=1)
    await store.start()
    try:
        return {
            stream_id: await store.windows(stream_id, start=0, end=4e9, align=0, limit=1_000_000)
            for stream_id in streams
        }
    finally:
        await store.close()


async def read_store(url: str, stream_id: str) -> Stored:
    """Everything stored for the stream, through the API's own store code (oldest window first)."""
    store = open_store(url, pool_size=1)
    await store.start()
    try:
        windows = await store.windows(stream_id, start=0, end=4e9, align=0, limit=1_000_000)
        moments = await store.moments(stream_id, kinds=(), start=0, end=4e9, before=None, limit=100_000)
        stream = await store.get_stream(stream_id)
        letters = await store.dead_letters(stream_id, limit=100_000)
    finally:
        await store.close()
    meta = (stream.title, stream.category) if stream is not None else None
    moments = sorted(moments, key=lambda m: (m.stream_id, m.start, m.kind))
    return Stored(windows, moments, meta, sorted((s.letter for s in letters), key=read_order))


def read_order(letter: DeadLetter) -> tuple[str, int]:
    """A dead letter's place in what was read: its source's position (``…:offset``, ``bus:n``)."""
    where, _, position = letter.source.rpartition(":")
    return where, int(position)


# ---------------------------------------------------------------------------------------------------- process


@dataclass
class Backends:
    """One test's stream id, database, cache namespace and checkpoint directory."""

    stream_id: str
    store_url: str
    cache_url: str
    namespace: str
    checkpoint: Path

    def service(self, **overrides: Any) -> Settings:
        """The service settings the job's writer uses (quick retries for tests)."""
        values: dict[str, Any] = {"output_retry_s": 0.2, **overrides}
        return Settings(
            store_url=self.store_url, cache_url=self.cache_url, cache_namespace=self.namespace, **values
        )

    def output(self, **overrides: Any) -> ServiceOutput:
        """The services' output the job writes through, as the job's main opens it."""
        return open_output(self.service(**overrides))

    def job(self, kafka_bootstrap: str, **overrides: Any) -> JobSettings:
        """Job settings for this test's stream (or, with ``pool=``, a pool) and backends, without a metrics
        endpoint."""
        values: dict[str, Any] = {"metrics_port": None, "store_retry_s": 0.2, **overrides}
        if not values.get("pool"):
            values["stream_id"] = self.stream_id
        return JobSettings(
            kafka_bootstrap=kafka_bootstrap,
            checkpoint_dir=str(self.checkpoint),
            store_url=self.store_url,
            cache_url=self.cache_url,
            **values,
        )


class JobProcess:
    """``python -m telemetra.apps.spark_job ARGS`` as a child in its own process group (the JVM and the Python
    workers it starts belong to it), output in ``log``. ``kill`` is ``kill -9`` of the whole group, like a
    container being killed; ``terminate`` is SIGTERM to the job, which stops it cleanly. The Kafka connector's
    jars are resolved (once, cached) and named in the job's ``$TELEMETRA_SPARK_JARS`` unless ``env`` names them."""

    def __init__(self, args: Sequence[str], log: Path, env: dict[str, str] | None = None):
        self.args = list(args)
        self.log = log
        self.env = {**os.environ, **(env or {})}
        if not self.env.get(JARS_ENV):
            self.env[JARS_ENV] = ",".join(str(jar) for jar in ensure_spark_jars())
        self.process: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    def start(self) -> JobProcess:
        self._out = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "telemetra.apps.spark_job", *self.args],
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        track(self.process)
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the job's process group: nothing gets to clean up."""
        process = self.process
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
        self._close_log()

    def terminate(self, timeout: float = 60.0) -> int | None:
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        # whatever is left of the group (nothing, normally) goes too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        self._close_log()
        return process.returncode

    def _close_log(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log, lines)
