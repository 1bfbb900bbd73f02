"""The job's Prometheus metrics, on their own registry, served on ``--metrics-port``: Spark's progress reports
(through a query listener) and the batch writer's counts (``telemetra_spark_*``, labelled by ``pool``: the
pool's name, or the stream id of a stream's own job), and each stream's own numbers from its closed windows
and moments (``telemetra_stream_*``, by ``stream_id``: what the stream's Grafana dashboard plots)."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from pyspark.sql.streaming.listener import (
    JStreamingQueryListener,
    QueryProgressEvent,
    StreamingQueryListener,
    StreamingQueryProgress,
)

from telemetra.records import Moment, WindowMetrics

log = logging.getLogger("telemetra.spark.metrics")
BATCH_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
SEEN_MOMENTS = 10_000  # moment ids remembered to count each episode once (its updates repeat the id)


class JobMetrics:
    def __init__(self, pool: str, registry: CollectorRegistry | None = None):
        self.registry = registry = registry or CollectorRegistry()
        self.pool = pool
        labels = ["pool"]

        def counter(name: str, doc: str) -> Any:
            return Counter(f"telemetra_spark_{name}", doc, labels, registry=registry).labels(pool)

        def gauge(name: str, doc: str) -> Any:
            return Gauge(f"telemetra_spark_{name}", doc, labels, registry=registry).labels(pool)

        def stream_gauge(name: str, doc: str) -> Any:
            return Gauge(f"telemetra_stream_{name}", doc, ["stream_id"], registry=registry)

        # Spark's progress reports
        self.input_rows = counter("input_rows", "Kafka records read by the query.")
        self.input_rate = gauge("input_rows_per_second", "Input rate of the last micro-batch.")
        self.processed_rate = gauge("processed_rows_per_second", "Processing rate of the last micro-batch.")
        self.batch_duration = Histogram(
            "telemetra_spark_batch_duration_seconds",
            "Wall time of a micro-batch (Spark's triggerExecution), writes included.",
            labels,
            buckets=BATCH_BUCKETS,
            registry=registry,
        ).labels(pool)
        self.offsets_behind = gauge("kafka_offsets_behind_latest", "Records in Kafka not yet read (max).")
        # the batch writer
        self.batches = counter("batches", "Micro-batches written.")
        self.last_batch = gauge("last_batch_id", "Id of the last micro-batch written.")
        self.events = counter("events", "Valid events processed by the analytics core.")
        self.dead_letters = counter("dead_letters", "Invalid records sent to the dead-letter topic.")
        self.late_events = counter("late_events", "Events dropped for arriving after the watermark.")
        self.duplicates = counter("duplicates", "Events dropped as already seen.")
        self.windows_written = counter("windows_written", "Closed windows upserted into the store.")
        self.moments_written = counter("moments_written", "Moment versions upserted into the store.")
        self.live_published = counter("live_published", "Provisional windows published to the cache.")
        self.store_wait = counter("store_wait_seconds", "Time batches waited for the store to come back.")
        self.store_failures = counter("store_failures", "Failed store write attempts (retried).")
        self.cache_failures = counter("cache_failures", "Failed cache writes (skipped: the cache is a view).")
        self.dead_letter_failures = counter("dead_letter_failures", "Failed dead-letter writes (retried).")
        self.restarts = counter("query_restarts", "Times the query failed and was restarted.")
        self.state_restores = Counter(
            "telemetra_spark_state_restores",
            "How each shard of streams found its analytics state in a batch: cache (kept in the Python "
            "worker), state (decoded from the state store) or new.",
            [*labels, "source"],
            registry=registry,
        )
        self.streams = gauge(
            "streams", "Streams with state in the pool's job (as of the last batch's stats)."
        )
        self.streams_ended = counter(
            "streams_ended", "Streams whose state was dropped: removed, or idle too long."
        )
        self.active = gauge("query_active", "1 while the streaming query runs.")
        self.watermark = gauge(
            "event_time_watermark_seconds", "The analytics watermark (event time, epoch s)."
        )
        self._watermark = math.nan
        # the stream itself, from its closed windows and moments
        self.chat_rate = stream_gauge("chat_messages_per_second", "Chat rate of the newest closed window.")
        self.viewers = stream_gauge(
            "viewers", "Concurrent viewers in the newest closed window (last sample)."
        )
        self.sentiment = stream_gauge(
            "sentiment", "Mean chat sentiment (-1 to 1) of the newest closed window."
        )
        self.window_revenue = stream_gauge("window_revenue_usd", "Revenue (USD) in the newest closed window.")
        self.moments = Counter(
            "telemetra_stream_moments", "Moments detected (episodes, not their updates).", ["stream_id", "kind"],
            registry=registry,
        )  # fmt: skip
        self._seen_moments: OrderedDict[str, None] = OrderedDict()
        Gauge(
            "telemetra_spark_watermark_lag_seconds",
            "Wall clock minus the analytics watermark: how far closed windows trail real time.",
            labels,
            registry=registry,
        ).labels(pool).set_function(self._watermark_lag)

    def set_watermark(self, watermark: float | None) -> None:
        if watermark is not None:
            self._watermark = watermark
            self.watermark.set(watermark)

    def record_windows(self, windows: Iterable[WindowMetrics]) -> None:
        """The stream's gauges follow the newest closed window; a window without chat or viewer samples
        leaves the last known sentiment and viewer count."""
        for window in windows:
            stream = window.stream_id
            self.chat_rate.labels(stream).set(window.chat_rate)
            self.window_revenue.labels(stream).set(window.revenue_usd)
            if window.viewers is not None:
                self.viewers.labels(stream).set(window.viewers)
            if window.sentiment is not None:
                self.sentiment.labels(stream).set(window.sentiment)

    def forget_streams(self, streams: Iterable[str]) -> None:
        """Ended streams' series go away with their state."""
        for stream in streams:
            self.streams_ended.inc()
            for gauge in (self.chat_rate, self.window_revenue, self.viewers, self.sentiment):
                with contextlib.suppress(KeyError):
                    gauge.remove(stream)

    def record_moments(self, moments: Iterable[Moment]) -> None:
        for moment in moments:
            if moment.moment_id in self._seen_moments:
                continue
            self._seen_moments[moment.moment_id] = None
            if len(self._seen_moments) > SEEN_MOMENTS:
                self._seen_moments.popitem(last=False)
            self.moments.labels(moment.stream_id, moment.kind).inc()

    def _watermark_lag(self) -> float:
        return time.time() - self._watermark if math.isfinite(self._watermark) else math.nan

    def serve(self, port: int, host: str = "0.0.0.0") -> None:
        start_http_server(port, addr=host, registry=self.registry)
        log.info("metrics served", extra={"port": port, "host": host})

    def on_progress(self, progress: Any) -> None:
        """One ``StreamingQueryProgress``."""
        self.input_rows.inc(progress.numInputRows)
        self.input_rate.set(_number(progress.inputRowsPerSecond))
        self.processed_rate.set(_number(progress.processedRowsPerSecond))
        trigger = progress.durationMs.get("triggerExecution")
        if trigger is not None:
            self.batch_duration.observe(trigger / 1000)
        if log.isEnabledFor(logging.DEBUG):  # where a micro-batch's time went (planning, the batch, commits…)
            log.debug(
                "progress", extra={"batch_id": progress.batchId, "durations_ms": dict(progress.durationMs)}
            )
        behind = [
            _number(source.metrics.get("maxOffsetsBehindLatest"))
            for source in progress.sources
            if source.metrics and source.metrics.get("maxOffsetsBehindLatest") is not None
        ]
        if behind:
            self.offsets_behind.set(max(behind))


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


class ProgressListener(StreamingQueryListener):
    """Feeds one query's progress reports (by query id, which survives restarts) into :class:`JobMetrics`.

    Each report reaches Python as its JSON, in one call to the JVM (:class:`_JsonProgress`): pyspark's own
    wrapper builds it field by field, ~100 calls through py4j that each look classes up in the jars, which
    took ~5 % of the JVM's CPU in a pool's job, on the cores the next micro-batch was running on."""

    def __init__(self, metrics: JobMetrics):
        self.metrics = metrics
        self.query_id: str | None = None

    @property
    def _jlistener(self) -> Any:
        from pyspark import SparkContext

        if not hasattr(self, "_jlistenerobj"):
            jvm: Any = SparkContext._jvm
            self._jlistenerobj = jvm.PythonStreamingQueryListenerWrapper(_JsonProgress(self))
        return self._jlistenerobj

    def onQueryStarted(self, event: Any) -> None:
        pass

    def onQueryProgress(self, event: Any) -> None:
        progress = event.progress
        if self.query_id is not None and str(progress.id) != self.query_id:
            return
        try:
            self.metrics.on_progress(progress)
        except Exception:  # a listener must never break the listener bus
            log.exception("could not record query progress")

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        pass


class _JsonProgress(JStreamingQueryListener):
    """pyspark's bridge for a Python listener, with each progress report read as JSON in one call."""

    def onQueryProgress(self, jevent: Any) -> None:
        progress = StreamingQueryProgress.fromJson(orjson.loads(jevent.progress().json()))
        self.pylistener.onQueryProgress(QueryProgressEvent(progress))
