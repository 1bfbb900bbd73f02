"""The TelemetraPool spec and status as typed models: the single source of its CRD schema (like
:mod:`telemetra.operator.spec` for streams, whose building blocks it shares).

A pool is one Spark Structured Streaming job for any number of streams: its topics carry all their events
(keyed by stream id), its control topic their analytics settings, its sources topic the sources its shared
producer runs. Streams join, change and leave by records in those compacted topics, so none of that restarts
the job; only a change of the pool's own spec does.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from telemetra.operator.spec import Model, Spark, default_of
from telemetra.operator.status import Condition

PLURAL = "telemetrapools"
KIND = "TelemetraPool"


class PoolKafka(Model):
    """The pool's topics on the operator's Kafka cluster: ``telemetra.pool.<name>.events``, ``.control``,
    ``.sources`` and ``.dead-letter``."""

    partitions: int = Field(default=12, ge=1, le=1000)
    """Partitions of the events topic; a stream stays on one. More partitions spread the streams over more
    Spark tasks (the executors' cores). It may only grow."""

    replicas: int = Field(default=1, ge=1, le=10)
    """Replication factor of the pool's topics; at most the number of brokers."""

    retention_hours: int = Field(default=24, ge=1, le=87_600)
    """How long events are kept."""

    dead_letter_retention_hours: int = Field(default=168, ge=1, le=87_600)
    """How long dead letters are kept."""


class TelemetraPoolSpec(Model):
    """Desired state of one processing pool."""

    spark: Spark = Field(default_factory=Spark, json_schema_extra=default_of(Spark))
    kafka: PoolKafka = Field(default_factory=PoolKafka, json_schema_extra=default_of(PoolKafka))

    trigger_interval_seconds: int = Field(default=1, ge=1, le=3600)
    """Micro-batch trigger interval of the pool's job."""

    idle_timeout_seconds: int = Field(default=900, ge=10, le=604_800)
    """A stream without events for this long is ended: its open windows are flushed and its state dropped
    (it starts afresh when events come back)."""

    restart_nonce: int = Field(default=0, ge=0)
    """Change it (e.g. increment) to restart the pool's Spark job without any other change."""

    topic_deletion_policy: Literal["delete", "retain"] = "delete"
    """What happens to the pool's Kafka topics when the pool is deleted."""


class TelemetraPoolStatus(Model):
    """Observed state of the pool, from its children and its job's metrics."""

    observed_generation: int | None = None
    """The generation the operator last reconciled."""

    conditions: list[Condition] | None = Field(
        default=None,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Ready summarises TopicsReady, ProcessorReady and ProducerReady (the shared producer)."""

    streams: int | None = None
    """Streams in the pool (members whose settings are in its control topic)."""

    events_per_second: str | None = Field(default=None, max_length=32)
    """Events the job read per second in its last micro-batch (from its metrics, every 10 s at most)."""

    lag: int | None = None
    """Records in the events topic the job has not read yet (its most behind partition)."""

    spark_spec_hash: str | None = Field(default=None, max_length=64)
    """Hash of the SparkApplication spec last applied (it is patched only when this changes)."""

    spark_state: str | None = Field(default=None, max_length=32)
    """The SparkApplication's ``applicationState.state``."""

    superseded_submission_id: str | None = Field(default=None, max_length=128)
    """Spark submission replaced by the last applied spec."""

    executors: int | None = None
    """Running executors (the scale subresource's status)."""

    executor_selector: str | None = Field(default=None, max_length=512)
    """Label selector of the executor pods (for the scale subresource)."""

    last_error: str | None = Field(default=None, max_length=1024)
    """The last reconciliation error, cleared by the next success."""
