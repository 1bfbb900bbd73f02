"""The ``foreachBatch`` writer: dead letters to Kafka, closed windows and moments to the store, the latest
state to the cache, all through the API service's own code (:class:`~telemetra.services.sink.ServiceSink`).

The writes of a batch finish before the batch returns, so Spark commits a batch's offsets only once its
records are stored: a batch waits (and retries) while the store or Kafka is down, and a crash replays the
batch, whose upserts (by ``(stream_id, window_start)`` and moment id) rewrite identical rows. Dead letters
are keyed by their source (``topic:partition:offset``), so a replay repeats the same keys and a compacted
dead-letter topic keeps one of each. The cache is a live view: while it is down its writes are skipped.

ServiceSink is async; one event loop in a background thread, owned by the writer, runs it for every batch,
so its connection pools live as long as the job.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from telemetra.analytics.moments import Moment
from telemetra.analytics.windows import WindowMetrics
from telemetra.services.cache import LiveCache, open_cache
from telemetra.services.settings import Settings
from telemetra.services.sink import ServiceSink
from telemetra.services.storage import Store, StoreUnavailable, open_store
from telemetra.spark.metrics import JobMetrics
from telemetra.spark.settings import JobSettings
from telemetra.spark.state import DEAD_LETTER, LIVE, MOMENT, STATS, WINDOW

T = TypeVar("T")
log = logging.getLogger("telemetra.spark.writer")
TOPIC_EXISTS = 36  # Kafka error code TOPIC_ALREADY_EXISTS


class JobStopping(RuntimeError):
    """The job is stopping while a batch waits for a dependency: the batch is not committed (it is replayed
    on the next start)."""


@dataclass(slots=True)
class Batch:
    """One micro-batch's output records, decoded."""

    dead_letters: list[tuple[str, str]] = field(default_factory=list)  # (key, JSON)
    windows: list[WindowMetrics] = field(default_factory=list)
    moments: list[Moment] = field(default_factory=list)
    live: list[WindowMetrics] = field(default_factory=list)
    stats: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_rows(cls, rows: list[Any]) -> Batch:
        batch = cls()
        for row in sorted(rows, key=lambda r: r["seq"]):
            kind, key, payload = row["kind"], row["key"], row["payload"]
            if kind == DEAD_LETTER:
                batch.dead_letters.append((key, payload))
            elif kind == WINDOW:
                batch.windows.append(WindowMetrics(**orjson.loads(payload)))
            elif kind == MOMENT:
                batch.moments.append(Moment(**orjson.loads(payload)))
            elif kind == LIVE:
                batch.live.append(WindowMetrics(**orjson.loads(payload)))
            elif kind == STATS:
                batch.stats.append(orjson.loads(payload))
        return batch


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

    def __init__(self, settings: JobSettings, metrics: JobMetrics, service: Settings | None = None):
        self.settings = settings
        self.metrics = metrics
        self.service = service or Settings(store_url=settings.store_url, cache_url=settings.cache_url)
        self._runner: LoopThread | None = None
        self._store: Store | None = None
        self._cache: LiveCache | None = None
        self._sink: ServiceSink | None = None
        self._producer: AIOKafkaProducer | None = None
        self._topic_checked = False
        self._stopping = threading.Event()
        self._last_counted = -1  # batches at or below were counted in the metrics (replays are not)
        self._sink_counts = (0, 0, 0)  # store failures, cache failures, live published: seen so far
        self.config_mismatch_reported = False
        self.batches_written = 0  # by this process, replays included
        self._described: tuple[str | None, str | None] | None = None  # title and category last stored

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        if self._runner is None:
            self._runner = LoopThread()
            self._runner.run(self._open())

    async def _open(self) -> None:
        service = self.service
        self._store = open_store(
            service.store_url, pool_size=service.store_pool_size, timeout=service.dependency_timeout_s
        )
        self._cache = open_cache(
            service.cache_url,
            namespace=service.cache_namespace,
            recent_moments=service.recent_moments,
            timeout=service.dependency_timeout_s,
        )
        try:
            await self._store.start()
        except StoreUnavailable as error:  # the first batch waits for it
            log.warning(
                "store unavailable at start-up; batches will wait for it", extra={"error": str(error)}
            )
        await self._cache.start()
        self._sink = ServiceSink.from_settings(self._store, self._cache, service)

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
        if self._sink is not None:
            await self._sink.close(grace)
        if self._producer is not None:
            await self._producer.stop()
        if self._cache is not None:
            await self._cache.close()
        if self._store is not None:
            await self._store.close()

    # -- foreachBatch ------------------------------------------------------------------------------------
    def __call__(self, frame: Any, batch_id: int) -> None:
        if self._runner is None:
            raise RuntimeError("OutputWriter.start() was not called")
        started = time.monotonic()
        batch = Batch.from_rows(frame.collect())  # runs the micro-batch: Kafka, the analytics, the state
        computed = time.monotonic()
        waited = self._runner.run(self._write(batch, batch_id))
        self.batches_written += 1
        self._account(batch, batch_id, waited, computed - started, time.monotonic() - computed)

    async def _write(self, batch: Batch, batch_id: int) -> float:
        sink = self._sink
        assert sink is not None
        if batch.dead_letters:
            await self._send_dead_letters(batch.dead_letters, batch_id)
        if batch.windows:
            await sink.write_windows(batch.windows)
        if batch.moments:
            await sink.write_moments(batch.moments)
        waited = await self._until_stored(sink, batch_id)
        await self._describe(sink, batch)
        if batch.live:
            await sink.publish_live(batch.live[-1:])
        return waited

    async def _describe(self, sink: ServiceSink, batch: Batch) -> None:
        """Pass on a changed title and category, as the embedded engine does. The stream is stored with its
        first closed window, so metadata that arrives earlier is retried with the next windows."""
        if not batch.stats:
            return
        meta = (batch.stats[-1].get("title"), batch.stats[-1].get("category"))
        if meta == (None, None) or meta == self._described:
            return
        known = self._described is not None or bool(batch.windows)
        if known and await sink.describe_stream(self.settings.stream_id, *meta):
            self._described = meta

    async def _until_stored(self, sink: ServiceSink, batch_id: int) -> float:
        """Wait until nothing is pending for the store; the time waited."""
        started = time.monotonic()
        warned = False
        while not await sink.flush():
            if self._stopping.is_set():
                raise JobStopping(f"stopped while batch {batch_id} waited for the store")
            if not warned:
                warned = True
                log.warning(
                    "store unavailable: the batch waits for it",
                    extra={"batch_id": batch_id, "buffered": sink.stats.buffered},
                )
            await asyncio.sleep(self.service.sink_retry_s)
        waited = time.monotonic() - started if warned else 0.0
        if warned:
            log.info("store back: batch stored", extra={"batch_id": batch_id, "waited_s": round(waited, 3)})
        return waited

    async def _send_dead_letters(self, letters: list[tuple[str, str]], batch_id: int) -> None:
        topic = self.settings.dead_letter_topic
        warned = False
        while True:
            try:
                producer = await self._dead_letter_producer()
                futures = [
                    await producer.send(topic, value=payload.encode(), key=key.encode())
                    for key, payload in letters
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
                client_id=f"telemetra-spark-{self.settings.stream_id}-dead-letters",
                enable_idempotence=True,
                acks="all",
                compression_type="lz4",
                max_request_size=4 * 1024 * 1024,
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
            bootstrap_servers=self.settings.kafka_bootstrap, request_timeout_ms=10_000
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
    def _account(self, batch: Batch, batch_id: int, waited: float, compute: float, write: float) -> None:
        metrics = self.metrics
        sink = self._sink
        assert sink is not None
        failures = (sink.stats.store_failures, sink.stats.cache_failures, sink.stats.live_published)
        deltas = [now - before for now, before in zip(failures, self._sink_counts, strict=True)]
        self._sink_counts = failures
        metrics.store_failures.inc(deltas[0])
        metrics.cache_failures.inc(deltas[1])
        metrics.live_published.inc(deltas[2])
        metrics.store_wait.inc(waited)
        for stats in batch.stats:
            metrics.set_watermark(stats.get("watermark"))
            metrics.config_mismatch.set(1 if stats.get("config_mismatch") else 0)
            if stats.get("config_mismatch") and not self.config_mismatch_reported:
                self.config_mismatch_reported = True
                log.warning(
                    "the analytics config differs from the checkpoint's, which stays in effect; use a new "
                    "checkpoint directory to apply the new one",
                    extra={"stream_id": self.settings.stream_id},
                )
        if batch_id <= self._last_counted:  # a replay after a query restart: already counted
            return
        self._last_counted = batch_id
        metrics.batches.inc()
        metrics.last_batch.set(batch_id)
        metrics.dead_letters.inc(len(batch.dead_letters))
        metrics.windows_written.inc(len(batch.windows))
        metrics.moments_written.inc(len(batch.moments))
        metrics.record_windows(batch.windows)
        metrics.record_moments(batch.moments)
        for stats in batch.stats:
            metrics.events.inc(stats.get("events", 0))
            metrics.late_events.inc(stats.get("late_events", 0))
            metrics.duplicates.inc(stats.get("duplicates", 0))
            metrics.state_restores.labels(self.settings.stream_id, stats.get("restored", "unknown")).inc()
        level = (
            logging.INFO if batch.windows or batch.moments or batch.dead_letters or waited else logging.DEBUG
        )
        if log.isEnabledFor(level):
            log.log(
                level,
                "batch written",
                extra={
                    "batch_id": batch_id,
                    "events": sum(s.get("events", 0) for s in batch.stats),
                    "windows": len(batch.windows),
                    "moments": len(batch.moments),
                    "dead_letters": len(batch.dead_letters),
                    "compute_s": round(compute, 3),
                    "write_s": round(write, 3),
                    "worker_s": batch.stats[-1].get("seconds") if batch.stats else None,
                    "restored": batch.stats[-1].get("restored") if batch.stats else None,
                },
            )
