"""A pool's Spark Structured Streaming job (or one stream's own): Kafka → the engine → its output port. Its
entry point (the composition root that picks the output) is :mod:`telemetra.apps.spark_job`::

    python -m telemetra.apps.spark_job (--pool NAME | --stream-id ID) --kafka-bootstrap HOST:PORT \\
        --checkpoint-dir URI [--store-url postgresql://…] [--cache-url redis://…] [--trigger-interval 1s] …

The plan: the pool's events and control topics (a stream's own: its events topic) →
:class:`~telemetra.spark.chunks.ChunkPreparer` (``mapInArrow``, in the read tasks, in parallel: the engine
validates and routes each record to its stream, scores chat, and the results are packed into chunks) →
grouped by shard (a hash of the stream id: a pool's streams are keys within its shards; adding or
reconfiguring one restarts nothing) → :class:`~telemetra.spark.processor.AnalyticsProcessor`, which folds each
stream's chunks into the analytics core with the engine, in offset order, and keeps its state in the
checkpoint → ``foreachBatch``
(:class:`~telemetra.spark.writer.OutputWriter`): the engine emits the step through the output port (dead
letters, windows and moments stored, descriptions, the live window published), dead letters also to Kafka.
A query that fails (Kafka or a dependency gone for longer than the retries) is restarted from its checkpoint
with a backoff; SIGTERM stops it between writes.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import warnings
from types import FrameType, TracebackType
from typing import Any

from telemetra.analytics.config import analytics_config_to_json
from telemetra.spark.chunks import CHUNK_SCHEMA, ChunkPreparer, warm_up
from telemetra.spark.metrics import JobMetrics, ProgressListener
from telemetra.spark.processor import OUTPUT_SCHEMA, AnalyticsProcessor
from telemetra.spark.session import PANDAS_WARNING, create_session
from telemetra.spark.settings import JobSettings
from telemetra.spark.writer import JobOutput, OutputWriter

log = logging.getLogger("telemetra.spark.job")
MAX_FAILURES = 20  # consecutive query failures without a batch written in between, then the job exits
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)  # seconds before restarting a failed query


def build_query(spark: Any, settings: JobSettings, writer: OutputWriter) -> Any:
    """Start the streaming query (``writer`` must be started); returns the ``StreamingQuery``."""

    reader = (
        spark.readStream.format("kafka")
        .options(**settings.kafka_connection)
        .option("subscribe", ",".join(settings.topics))
        .option("startingOffsets", settings.starting_offsets)
        # Records deleted by retention before they were read cannot be recovered by failing: go on, logged.
        .option("failOnDataLoss", "false")
        # Ride through a broker restart while planning a batch (the default gives up after 3 s).
        .option("fetchOffset.numRetries", "30")
        .option("fetchOffset.retryIntervalMs", "1000")
        # Fewer fetch round trips per micro-batch (the default is 1 MiB per partition and request).
        .option("kafka.max.partition.fetch.bytes", str(8 * 1024 * 1024))
    )
    if settings.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(settings.max_offsets_per_trigger))
    if settings.records_per_task:
        # A backlog's large micro-batch is read, validated and scored by several tasks in parallel.
        reader = reader.option("maxRecordsPerPartition", str(settings.records_per_task))
    for key, value in settings.kafka_options.items():
        reader = reader.option(key, value)
    records = reader.load().select(_is_control(settings), "key", "value", "partition", "offset")
    processor = AnalyticsProcessor(settings.analytics, settings.idle_ms)
    preparer = ChunkPreparer(
        settings.events_topic, settings.control_topic or None, settings.stream_id or None
    )
    with warnings.catch_warnings():  # pyspark 4.2 warns that pandas 3 is new to it; it works (tests)
        warnings.filterwarnings("ignore", message=PANDAS_WARNING, category=FutureWarning)
        chunks = records.mapInArrow(preparer, CHUNK_SCHEMA)
        if settings.idle_ms:
            # Idle streams' timers run on the time of the batches (event-time timers over each batch's own
            # timestamp: it only grows, so no row is ever behind the watermark and dropped as late). Spark
            # would run a batch at every trigger, data or not, for processing-time timers.
            from pyspark.sql.functions import current_timestamp

            chunks = chunks.withColumn("batch_ts", current_timestamp()).withWatermark("batch_ts", "0 seconds")
        output = chunks.groupBy("shard").transformWithStateInPandas(
            statefulProcessor=processor,
            outputStructType=OUTPUT_SCHEMA,
            outputMode="Append",
            timeMode="EventTime" if settings.idle_ms else "None",
        )
    stream = (
        output.writeStream.queryName(f"telemetra-{settings.name}")
        .foreachBatch(writer)
        .option("checkpointLocation", settings.checkpoint_dir)
    )
    if settings.available_now:
        stream = stream.trigger(availableNow=True)
    else:
        stream = stream.trigger(processingTime=f"{settings.trigger_interval_ms} milliseconds")
    return stream.start()


def _is_control(settings: JobSettings) -> Any:
    """The ``control`` column of the records (from the pool's control topic), computed in the JVM."""
    from pyspark.sql.functions import col, lit

    control = col("topic") == settings.control_topic if settings.control_topic else lit(False)
    return control.alias("control")


class StreamJob:
    """The job's lifecycle: session, writer, metrics, the query and its restarts.

    ``start()`` starts the query and returns it (tests drive it with ``processAllAvailable``); ``run()``
    keeps it running until it ends (``--available-now``), ``request_stop()`` is called (SIGTERM) or it keeps
    failing. Pass ``spark`` to share a session (tests); ``service`` overrides the service settings (cache
    namespace, sink retry…), which otherwise come from the environment like the API's.
    """

    def __init__(self, settings: JobSettings, output: JobOutput, *, spark: Any = None):
        self.settings = settings
        self.metrics = JobMetrics(settings.name)
        self.writer = OutputWriter(settings, self.metrics, output)
        self._spark = spark
        self._owns_spark = spark is None
        self._listener: ProgressListener | None = None
        self._stop = threading.Event()
        self._warm_up: threading.Thread | None = None
        self.query: Any = None

    @property
    def spark(self) -> Any:
        if self._spark is None:
            self._spark = create_session(self.settings)
        return self._spark

    def start(self) -> Any:
        spark = self.spark
        if self._listener is None:
            self._listener = ProgressListener(self.metrics)
            spark.streams.addListener(self._listener)
        self.writer.start()
        if self.settings.local and self._warm_up is None:
            self._warm_up = threading.Thread(
                target=warm_up_workers, args=(spark,), name="warm-up", daemon=True
            )
            self._warm_up.start()
        self.query = build_query(spark, self.settings, self.writer)
        self._listener.query_id = str(self.query.id)
        self.metrics.active.set(1)
        log.info(
            "query started",
            extra={
                "pool": self.settings.pool or None,
                "stream_id": self.settings.stream_id or None,
                "topics": self.settings.topics,
                "checkpoint": self.settings.checkpoint_dir,
                "application_id": spark.sparkContext.applicationId,
                "query_id": str(self.query.id),  # kept by the checkpoint across restarts
                "run_id": str(self.query.runId),  # new at every start of the query
                "analytics_config": analytics_config_to_json(self.settings.analytics),
            },
        )
        return self.query

    def request_stop(self) -> None:
        self._stop.set()
        self.writer.request_stop()

    def run(self) -> int:
        """Run until done; 0 when stopped or drained, 1 after ``MAX_FAILURES`` failures in a row."""
        failures = 0
        while not self._stop.is_set():
            progress = self.writer.batches_written
            query = self.start()
            while query.isActive and not self._stop.is_set():
                query.awaitTermination(1.0)
            self.metrics.active.set(0)
            if self._stop.is_set():
                break
            error = query.exception()
            if error is None:
                return 0  # --available-now drained the topic, or the query was stopped from outside
            failures = 1 if self.writer.batches_written > progress else failures + 1
            self.metrics.restarts.inc()
            log.error(
                "query failed; restarting from the checkpoint",
                extra={"failures": failures, "error": _first_line(error)},
            )
            if failures >= MAX_FAILURES:
                log.error("giving up after repeated failures", extra={"failures": failures})
                return 1
            self._stop.wait(BACKOFF[min(failures, len(BACKOFF)) - 1])
        self.stop_query()
        return 0

    def stop_query(self) -> None:
        query, self.query = self.query, None
        if query is not None and query.isActive:
            self.writer.request_stop()
            query.stop()
        self.metrics.active.set(0)

    def close(self) -> None:
        self.stop_query()
        self.writer.close()
        if self._listener is not None and self._spark is not None:
            self._spark.streams.removeListener(self._listener)
            self._listener = None
        if self._owns_spark and self._spark is not None:
            self._spark.stop()
            self._spark = None

    def __enter__(self) -> StreamJob:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def warm_up_workers(spark: Any) -> None:
    """Start the Python workers of a local job and import its modules in them, while the query plans its
    first batch on the driver (~3 s with a cold JVM, one core busy): the first batch then starts with workers
    ready instead of starting them (~1 s each, both cores). A job without warm workers only starts slower."""
    slots = spark.sparkContext.defaultParallelism
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=PANDAS_WARNING, category=FutureWarning)
            spark.range(0, slots, 1, slots).mapInArrow(warm_up, "rows long").collect()
    except Exception as error:  # e.g. the session stopped meanwhile (tests): nothing depends on it
        log.debug("warm-up failed", extra={"error": _first_line(error)})


def _first_line(error: Any) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:500] if text else type(error).__name__


def run(settings: JobSettings, output: JobOutput) -> int:
    """The whole job in this process: metrics endpoint, signal handling, query with restarts."""
    job = StreamJob(settings, output)

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        job.request_stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    if settings.metrics_port:
        job.metrics.serve(settings.metrics_port, settings.metrics_host)
    started = time.monotonic()
    try:
        code = job.run()
    finally:
        job.close()
    log.info("job ended", extra={"code": code, "seconds": round(time.monotonic() - started, 1)})
    return code
