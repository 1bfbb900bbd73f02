"""Settings of a Spark job (a pool's, or one stream's own): the command line and the environment."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from telemetra.analytics.config import AnalyticsConfig, analytics_config_from_json
from telemetra.contract import STREAM_ID_PATTERN
from telemetra.records import POOL_NAME_PATTERN, PoolTopics, dead_letter_topic, events_topic
from telemetra.sinks.kafka_security import PLAINTEXT, KafkaSecurity

STORE_URL_ENV = "TELEMETRA_STORE_URL"
CACHE_URL_ENV = "TELEMETRA_CACHE_URL"
DEFAULT_METRICS_PORT = 9108
DEFAULT_MAX_OFFSETS = 500_000  # records per micro-batch at most: ~7 s of work (bench/results/spark.md)
# A pool's micro-batch pays per-batch costs for each of its streams (a live window, a description and a state
# entry each, on top of the commit): it catches up on a backlog in batches twice as large, ~9 s of work and
# ~6 % more events/s than with 500,000 (bench/results/pool.md).
POOL_MAX_OFFSETS = 1_000_000
DEFAULT_RECORDS_PER_TASK = 50_000  # a larger micro-batch is read and validated by several tasks at once
DEFAULT_IDLE_MS = 15 * 60_000  # a stream silent this long ends: its windows close and its state is dropped

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|milliseconds?|seconds?|minutes?|hours?)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


@dataclass(frozen=True)
class JobSettings:
    """Everything one job needs; :func:`parse_args` builds it from the entry point's command line.

    A job serves a pool (``pool``: every stream whose events are on the pool's topic, each configured by the
    pool's control topic) or one stream (``stream_id``: its own topic, configured by ``analytics``)."""

    kafka_bootstrap: str
    checkpoint_dir: str  # a Hadoop URI or a local path; holds Kafka offsets and the analytics state
    store_url: str
    stream_id: str = ""
    pool: str = ""
    cache_url: str = "memory://"
    events_topic: str = ""  # default: the pool's, or telemetra.{stream_id}.events
    control_topic: str = ""  # a pool's (default: telemetra.pool.{pool}.control)
    dead_letter_topic: str = ""  # default: the pool's, or telemetra.{stream_id}.dead-letter
    idle_ms: int = DEFAULT_IDLE_MS  # 0: streams never end by silence
    trigger_interval_ms: int = 1000  # 0: start the next micro-batch as soon as the last one ends
    available_now: bool = False  # drain what the topic holds, then stop (backfills, tests)
    shuffle_partitions: int = 1  # one stream is one key: more partitions only add empty tasks
    # Bounds a micro-batch (memory, and the time its writes wait) when the job catches up on a backlog.
    max_offsets_per_trigger: int | None = DEFAULT_MAX_OFFSETS
    # Kafka records per read task (its stateless stage validates and scores them); None: one per partition.
    records_per_task: int | None = DEFAULT_RECORDS_PER_TASK
    starting_offsets: str = "earliest"  # for a new checkpoint only; a checkpoint resumes where it was
    analytics: AnalyticsConfig = field(
        default_factory=AnalyticsConfig
    )  # a pool's: for streams it has no config of
    metrics_port: int | None = DEFAULT_METRICS_PORT  # None: no /metrics endpoint
    metrics_host: str = "0.0.0.0"  # Prometheus scrapes the pod IP
    master: str = "local[2]"  # "": the master spark-submit was given (the job runs under spark-submit)
    spark_conf: Mapping[str, str] = field(default_factory=dict)  # extra --conf KEY=VALUE
    kafka_options: Mapping[str, str] = field(default_factory=dict)  # extra Kafka source options
    kafka_security: KafkaSecurity = (
        PLAINTEXT  # TLS and SASL of every Kafka client of the job (TELEMETRA_KAFKA_*)
    )
    log_level: str = "INFO"
    live_every_s: float = 1.0  # the live cadence: open windows are published at most this often
    store_retry_s: float = 1.0  # how often a batch waiting for the store retries

    def __post_init__(self) -> None:
        if bool(self.stream_id) == bool(self.pool):
            raise ValueError("a job serves either a pool (--pool) or one stream (--stream-id)")
        if self.pool:
            if not re.fullmatch(POOL_NAME_PATTERN, self.pool):
                raise ValueError(f"pool name {self.pool!r} does not match {POOL_NAME_PATTERN}")
            topics = PoolTopics.of(self.pool)
            defaults = {"events_topic": topics.events, "control_topic": topics.control,
                        "dead_letter_topic": topics.dead_letter}  # fmt: skip
        else:
            if not re.fullmatch(STREAM_ID_PATTERN, self.stream_id):
                raise ValueError(f"stream id {self.stream_id!r} does not match {STREAM_ID_PATTERN}")
            if self.control_topic:
                raise ValueError("a stream's own job has no control topic (its config is --analytics-config)")
            defaults = {"events_topic": events_topic(self.stream_id),
                        "dead_letter_topic": dead_letter_topic(self.stream_id)}  # fmt: skip
        for name, value in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)
        if self.idle_ms < 0:
            raise ValueError("the idle timeout cannot be negative")
        if self.events_topic == self.dead_letter_topic:
            raise ValueError("the dead-letter topic must differ from the events topic")
        if self.shuffle_partitions < 1:
            raise ValueError("shuffle partitions must be at least 1")
        if self.max_offsets_per_trigger is not None and self.max_offsets_per_trigger < 1:
            raise ValueError("max offsets per trigger must be at least 1")
        if self.records_per_task is not None and self.records_per_task < 1:
            raise ValueError("records per task must be at least 1")
        if self.trigger_interval_ms < 0:
            raise ValueError("the trigger interval cannot be negative")
        if not self.store_url:
            raise ValueError(f"a store URL is required (--store-url or ${STORE_URL_ENV})")

    @property
    def kafka_connection(self) -> dict[str, str]:
        """The Kafka source's options that connect it: the bootstrap servers and the connection security."""
        return {"kafka.bootstrap.servers": self.kafka_bootstrap, **self.kafka_security.spark_options()}

    @property
    def name(self) -> str:
        """The pool's name, or the stream id of a stream's own job (its query's name and metrics label)."""
        return self.pool or self.stream_id

    @property
    def topics(self) -> list[str]:
        """What the job reads: the events topic and, for a pool, its control topic."""
        return [self.events_topic, *([self.control_topic] if self.control_topic else [])]

    @property
    def local(self) -> bool:
        return self.master.startswith("local")


def under_spark_submit(env: Mapping[str, str] | None = None) -> bool:
    """Whether spark-submit started this process (and its JVM, with its own master, jars and memory)."""
    return "PYSPARK_GATEWAY_PORT" in (os.environ if env is None else env)


# ---------------------------------------------------------------------------------------- command line


def parse_duration_ms(text: str) -> int:
    """``10s``, ``500ms``, ``1.5s``, ``2m``, ``0``, ``10 seconds`` → milliseconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (e.g. 10s, 500ms, 1m)")
    unit = match[2] or "s"
    key = "ms" if unit == "ms" or unit.startswith("milli") else unit[0]
    return round(float(match[1]) * _UNIT_MS[key])


def _conf_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def _duration(text: str) -> int:
    try:
        return parse_duration_ms(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m telemetra.apps.spark_job",
        description="A pool's (or one stream's) Spark Structured Streaming job: Kafka → analytics core → "
        "PostgreSQL + Redis.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--pool", help="serve the pool's streams: telemetra.pool.{pool}.events and .control")
    which.add_argument("--stream-id", help="serve one stream: telemetra.{stream_id}.events")
    parser.add_argument("--kafka-bootstrap", required=True, metavar="HOST:PORT[,HOST:PORT…]")
    parser.add_argument("--checkpoint-dir", required=True, metavar="URI", help="offsets and analytics state")
    parser.add_argument("--events-topic", default="", help="default: the pool's or the stream's")
    parser.add_argument(
        "--control-topic", default="", help="a pool's; default: telemetra.pool.{pool}.control"
    )
    parser.add_argument("--dead-letter-topic", default="", help="default: the pool's or the stream's")
    parser.add_argument("--idle-timeout", type=_duration, default=DEFAULT_IDLE_MS, metavar="DURATION",
                        help="a stream silent this long ends (windows closed, state dropped); 0 = never "
                             "(default: 15m)")  # fmt: skip
    parser.add_argument("--store-url", default=None, help=f"postgresql://… (default: ${STORE_URL_ENV})")
    parser.add_argument("--cache-url", default=None, help=f"redis://… (default: ${CACHE_URL_ENV}, memory://)")
    parser.add_argument("--trigger-interval", type=_duration, default=1000, metavar="DURATION",
                        help="micro-batch period, e.g. 1s, 500ms, 10s; 0 = back to back (default: 1s)")  # fmt: skip
    parser.add_argument("--available-now", action="store_true", help="process what is there, then stop")
    parser.add_argument("--shuffle-partitions", type=int, default=1,
                        help="parallelism of the stateful step, fixed by the checkpoint (default: 1)")  # fmt: skip
    parser.add_argument(
        "--max-offsets-per-trigger",
        type=int,
        default=None,
        metavar="N",
        help=f"records per micro-batch at most; 0 = no limit (default: {POOL_MAX_OFFSETS} for a pool, "
        f"{DEFAULT_MAX_OFFSETS} for a stream)",
    )
    parser.add_argument(
        "--records-per-task",
        type=int,
        default=DEFAULT_RECORDS_PER_TASK,
        metavar="N",
        help="Kafka records per read task; larger micro-batches are validated by several tasks in parallel; "
        f"0 = one task per Kafka partition (default: {DEFAULT_RECORDS_PER_TASK})",
    )
    parser.add_argument(
        "--starting-offsets", default="earliest", help="earliest, latest or Spark's JSON form"
    )
    parser.add_argument(
        "--analytics-config",
        default=None,
        metavar="JSON",
        help='e.g. {"window": 60, "slide": 10, "thresholds": {"chat_spike": {"ratio": 3}}}',
    )
    parser.add_argument("--metrics-port", type=int, default=DEFAULT_METRICS_PORT, help="0 = no endpoint")
    parser.add_argument("--metrics-host", default="0.0.0.0")
    parser.add_argument(
        "--master", default=None, help="default: local[2], or spark-submit's when launched by spark-submit"
    )
    parser.add_argument("--conf", type=_conf_pair, action="append", default=[], metavar="KEY=VALUE",
                        help="extra Spark setting (repeatable)")  # fmt: skip
    parser.add_argument("--kafka-option", type=_conf_pair, action="append", default=[], metavar="KEY=VALUE",
                        help="extra Kafka source option, e.g. kafka.fetch.min.bytes=1 (repeatable; TLS and SASL come "
                             "from $TELEMETRA_KAFKA_*)")  # fmt: skip
    parser.add_argument("--log-level", default=os.environ.get("TELEMETRA_LOG_LEVEL", "INFO"))
    return parser


def _max_offsets(given: int | None, pool: bool) -> int | None:
    """``--max-offsets-per-trigger`` (0: no limit), or the default for a pool or a stream."""
    if given is None:
        return POOL_MAX_OFFSETS if pool else DEFAULT_MAX_OFFSETS
    return given or None


def parse_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> JobSettings:
    """The entry point's arguments; store and cache URLs fall back to ``$TELEMETRA_STORE_URL`` and
    ``$TELEMETRA_CACHE_URL``, and Kafka's connection security comes from ``$TELEMETRA_KAFKA_*`` (Kubernetes
    passes secrets by environment)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    env = os.environ if env is None else env
    try:
        return JobSettings(
            stream_id=args.stream_id or "",
            pool=args.pool or "",
            control_topic=args.control_topic,
            idle_ms=args.idle_timeout,
            kafka_bootstrap=args.kafka_bootstrap,
            checkpoint_dir=args.checkpoint_dir,
            store_url=args.store_url or env.get(STORE_URL_ENV, ""),
            cache_url=args.cache_url or env.get(CACHE_URL_ENV) or "memory://",
            events_topic=args.events_topic,
            dead_letter_topic=args.dead_letter_topic,
            trigger_interval_ms=args.trigger_interval,
            available_now=args.available_now,
            shuffle_partitions=args.shuffle_partitions,
            max_offsets_per_trigger=_max_offsets(args.max_offsets_per_trigger, bool(args.pool)),
            records_per_task=args.records_per_task or None,
            starting_offsets=args.starting_offsets,
            analytics=analytics_config_from_json(args.analytics_config),
            metrics_port=args.metrics_port or None,
            metrics_host=args.metrics_host,
            master=args.master
            if args.master is not None
            else ("" if under_spark_submit(env) else "local[2]"),
            spark_conf=dict(args.conf),
            kafka_options=dict(args.kafka_option),
            kafka_security=KafkaSecurity.from_env(env),
            log_level=args.log_level,
        )
    except ValueError as error:
        parser.error(str(error))
