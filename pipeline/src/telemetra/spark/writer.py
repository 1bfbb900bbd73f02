"""The ``foreachBatch`` writer: the engine's step of each micro-batch through its output port, and dead
letters to the job's dead-letter topic too.

The writes of a batch finish before the batch returns, so Spark commits a batch's offsets only once its
records are stored: a batch waits (and retries) while the store or Kafka is down, and a crash replays the
batch, whose upserts (by ``(stream_id, window_start)``, moment id and dead-letter id) rewrite identical rows.
Dead letters are keyed by their source (``topic:partition:offset``), so a replay repeats the same keys and a
compacted dead-letter topic keeps one of each. The live cache is a view: while it is down its writes are
skipped.

The output is async; one event loop in a background thread, owned by the writer, runs it for every batch,
so its connection pools live as long as the job. Which output (the services' store writer and live
publisher, in the platform) is the composition root's choice: see :mod:`telemetra.apps.spark_job`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from telemetra.engine.core import Engine, Step
from telemetra.engine.ports import OutputPort
from telemetra.records import DeadLetter, to_json
from telemetra.spark.metrics import JobMetrics
from telemetra.spark.settings import JobSettings
from telemetra.spark.state import decode_step

T = TypeVar("T")
log = logging.getLogger("telemetra.spark.writer")
TOPIC_EXISTS = 36  # Kafka error code TOPIC_ALREADY_EXISTS


class JobStopping(RuntimeError):
    """The job is stopping while a batch waits for a dependency: the batch is not committed (it is replayed
    on the next start)."""


class OutputCounts(Protocol):
    store_failures: int
    cache_failures: int
    live_published: int
    buffered: int


class JobOutput(OutputPort, Protocol):
    """The output port with a lifecycle and the counters the job's metrics report."""

    @property
    def stats(self) -> OutputCounts: ...

    async def start(self) -> None: ...

    async def close(self, grace: float = 5.0) -> None: ...


class LoopThread:
    """An asyncio loop in a daemon thread; ``run`` blocks the calling thread until a coroutine completes."""

    def __init__(self, name: str = "telemetra-spark-writer"):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()


class OutputWriter:
    """Called by Spark as ``foreachBatch(writer)``; ``start`` before the query, ``close`` after it."""

    def __init__(self, settings: JobSettings, metrics: JobMetrics, output: JobOutput):
        self.settings = settings
        self.metrics = metrics
        self.output = output
        self.engine = Engine(live_every=settings.live_every_s)  # emits: descriptions and the live cadence
        self._runner: LoopThread | None = None
        self._producer: AIOKafkaProducer | None = None
        self._topic_checked = False
        self._stopping = threading.Event()
        self._last_counted = -1  # batches at or below were counted in the metrics (replays are not)
        self._output_counts = (0, 0, 0)  # store failures, cache failures, live published: seen so far
        self._streams: dict[str, float] = {}  # stream → when it was last in a batch (monotonic)
        self.batches_written = 0  # by this process, replays included

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        if self._runner is None:
            self._runner = LoopThread()
            self._runner.run(self.output.start())

    def request_stop(self) -> None:
        """Make a batch that waits for a dependency give up (it is replayed on the next start)."""
        self._stopping.set()

    def close(self, grace: float = 5.0) -> None:
        self._stopping.set()
        runner, self._runner = self._runner, None
        if runner is None:
            return
        try:
            runner.run(self._close(grace), timeout=grace + 15)
        except Exception:
            log.exception("error while closing the writer")
        runner.close()

    async def _close(self, grace: float) -> None:
        await self.output.close(grace)
        if self._producer is not None:
            await self._producer.stop()

    # -- foreachBatch ------------------------------------------------------------------------------------
    def __call__(self, frame: Any, batch_id: int) -> None:
        if self._runner is None:
            raise RuntimeError("OutputWriter.start() was not called")
        started = time.monotonic()
        # Runs the micro-batch (Kafka, analytics, state); its records come back as Arrow, much cheaper than
        # Row objects for the thousands of records (each stream's live window, description…) of a pool's batch.
        table = frame.toArrow()
        seqs, kinds, payloads = (table.column(name).to_pylist() for name in ("seq", "kind", "payload"))
        order = sorted(range(len(seqs)), key=seqs.__getitem__)  # stable: each shard's records in their order
        step, stats = decode_step((kinds[i], payloads[i]) for i in order)
        computed = time.monotonic()
        waited = self._runner.run(self._write(step, batch_id))
        self.batches_written += 1
        self._account(step, stats, batch_id, waited, computed - started, time.monotonic() - computed)

    async def _write(self, step: Step, batch_id: int) -> float:
        if step.dead_letters:
            await self._send_dead_letters(step.dead_letters, batch_id)
        await self.engine.emit(step, self.output)
        return await self._until_stored(batch_id)

    async def _until_stored(self, batch_id: int) -> float:
        """Wait until nothing is pending for the store; the time waited."""
        started = time.monotonic()
        warned = False
        while not await self.output.flush():
            if self._stopping.is_set():
                raise JobStopping(f"stopped while batch {batch_id} waited for the store")
            if not warned:
                warned = True
                log.warning(
                    "store unavailable: the batch waits for it",
                    extra={"batch_id": batch_id, "buffered": self.output.stats.buffered},
                )
            await asyncio.sleep(self.settings.store_retry_s)
        waited = time.monotonic() - started if warned else 0.0
        if warned:
            log.info("store back: batch stored", extra={"batch_id": batch_id, "waited_s": round(waited, 3)})
        return waited

    async def _send_dead_letters(self, letters: list[DeadLetter], batch_id: int) -> None:
        topic = self.settings.dead_letter_topic
        warned = False
        while True:
            try:
                producer = await self._dead_letter_producer()
                futures = [
                    await producer.send(topic, value=to_json(letter).encode(), key=letter.source.encode())
                    for letter in letters
                ]
                await asyncio.gather(*futures)
                return
            except (KafkaError, OSError) as error:
                self.metrics.dead_letter_failures.inc()
                if self._stopping.is_set():
                    raise JobStopping(f"stopped while batch {batch_id} waited for Kafka") from error
                if not warned:
                    warned = True
                    log.warning(
                        "dead letters not written; retrying",
                        extra={
                            "batch_id": batch_id,
                            "topic": topic,
                            "error": f"{type(error).__name__}: {error}",
                        },
                    )
                await asyncio.sleep(1.0)

    async def _dead_letter_producer(self) -> AIOKafkaProducer:
        if not self._topic_checked:
            await self._ensure_dead_letter_topic()
            self._topic_checked = True
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                client_id=f"telemetra-spark-{self.settings.name}-dead-letters",
                enable_idempotence=True,
                acks="all",
                compression_type="lz4",
                max_request_size=4 * 1024 * 1024,
                **self.settings.kafka_security.aiokafka_options(),
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _ensure_dead_letter_topic(self) -> None:
        """Create the dead-letter topic if it is missing: compacted by key (the source offset), so replays
        leave one record per invalid input, and deleted by age like any topic. The operator may create it
        first, with its own settings; then this does nothing."""
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.settings.kafka_bootstrap,
            request_timeout_ms=10_000,
            **self.settings.kafka_security.aiokafka_options(),
        )
        await admin.start()
        try:
            if self.settings.dead_letter_topic in await admin.list_topics():
                return
            brokers = len((await admin.describe_cluster()).get("brokers", [])) or 1
            topic = NewTopic(
                self.settings.dead_letter_topic,
                num_partitions=1,
                replication_factor=min(3, brokers),
                topic_configs={"cleanup.policy": "compact,delete"},
            )
            response = await admin.create_topics([topic])
            for name, code, *_ in response.topic_errors:
                if code not in (0, TOPIC_EXISTS):
                    raise KafkaError(f"creating topic {name} failed with error code {code}")
            log.info("dead-letter topic created", extra={"topic": self.settings.dead_letter_topic})
        finally:
            await admin.close()

    # -- metrics -----------------------------------------------------------------------------------------
    def _account(
        self,
        step: Step,
        batch_stats: list[dict[str, Any]],
        batch_id: int,
        waited: float,
        compute: float,
        write: float,
    ) -> None:
        metrics = self.metrics
        counts = self.output.stats
        failures = (counts.store_failures, counts.cache_failures, counts.live_published)
        deltas = [now - before for now, before in zip(failures, self._output_counts, strict=True)]
        self._output_counts = failures
        metrics.store_failures.inc(deltas[0])
        metrics.cache_failures.inc(deltas[1])
        metrics.live_published.inc(deltas[2])
        metrics.store_wait.inc(waited)
        self._track_streams(batch_stats)
        if batch_id <= self._last_counted:  # a replay after a query restart: already counted
            return
        self._last_counted = batch_id
        metrics.batches.inc()
        metrics.last_batch.set(batch_id)
        metrics.dead_letters.inc(len(step.dead_letters))
        metrics.windows_written.inc(len(step.windows))
        metrics.moments_written.inc(len(step.moments))
        metrics.record_windows(step.windows)
        metrics.record_moments(step.moments)
        for stats in batch_stats:
            metrics.events.inc(stats.get("events", 0))
            metrics.late_events.inc(stats.get("late_events", 0))
            metrics.duplicates.inc(stats.get("duplicates", 0))
        shards = [stats for stats in batch_stats if "shard" in stats]  # one per shard with input
        for stats in shards:
            metrics.state_restores.labels(self.settings.name, stats["restored"]).inc()
        level = logging.INFO if step.windows or step.moments or step.dead_letters or waited else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(
                level,
                "batch written",
                extra={
                    "batch_id": batch_id,
                    "events": step.events,
                    "windows": len(step.windows),
                    "moments": len(step.moments),
                    "dead_letters": len(step.dead_letters),
                    "compute_s": round(compute, 3),
                    "write_s": round(write, 3),
                    **_worker_summary(shards),
                },
            )

    def _track_streams(self, batch_stats: list[dict[str, Any]]) -> None:
        """The newest watermark of the batch's streams, and the pool's streams: those in a batch within the
        idle timeout, less those that ended."""
        now = time.monotonic()
        ended = []
        watermarks = [w for stats in batch_stats if (w := stats.get("watermark")) is not None]
        if watermarks:
            self.metrics.set_watermark(max(watermarks))
        for stats in batch_stats:
            stream = stats.get("stream_id")
            if not stream:
                continue  # the dead letters' group
            if stats.get("ended"):
                self._streams.pop(stream, None)
                ended.append(stream)
            else:
                self._streams[stream] = now
        idle = self.settings.idle_ms / 1000 or float("inf")
        for stream in [s for s, seen in self._streams.items() if now - seen > idle]:
            del self._streams[stream]
        self.metrics.streams.set(len(self._streams))
        if ended:
            self.metrics.forget_streams(ended)
            log.info("streams ended", extra={"streams": ended[:20], "count": len(ended)})


def _worker_summary(shards: list[dict[str, Any]]) -> dict[str, Any]:
    """Where the stateful workers' time went in a batch (seconds summed over its shards) and how each shard
    found its state."""
    seconds: dict[str, float] = {}
    for stats in shards:
        for step, value in stats["seconds"].items():
            seconds[step] = round(seconds.get(step, 0.0) + value, 4)
    restored = sorted(stats["restored"] for stats in shards)
    return {"worker_s": seconds, "restored": {kind: restored.count(kind) for kind in dict.fromkeys(restored)}}
