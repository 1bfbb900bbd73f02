"""The topics of a stream (its events and its dead letters) or of a pool (its events, control, sources and dead
letters): what each should be (:func:`topic_specs`, the one source of both topic modes) and, in ``strimzi``
mode, the KafkaTopics in the Kafka cluster's namespace that carry it to the Topic Operator."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telemetra.operator.owner import Owner
from telemetra.operator.pool import Pool
from telemetra.operator.stream import Stream

HOUR_MS = 3_600_000
STRIMZI_CLUSTER_LABEL = "strimzi.io/cluster"


@dataclass(frozen=True)
class TopicSpec:
    """One topic as the stream asks for it."""

    name: str
    partitions: int
    replicas: int
    """Replication factor."""
    config: Mapping[str, int | str]
    """Topic configs (``retention.ms``, ``cleanup.policy``, ``min.insync.replicas``)."""


def topic_spec(name: str, *, partitions: int, replicas: int, retention_hours: int = 0) -> TopicSpec:
    """A topic kept for ``retention_hours``; without, a compacted one (the newest record of each key is kept
    for ever: a pool's control and sources topics)."""
    retention: dict[str, int | str] = {"retention.ms": retention_hours * HOUR_MS, "cleanup.policy": "delete"}
    return TopicSpec(
        name=name,
        partitions=partitions,
        replicas=replicas,
        config={
            **(retention if retention_hours else {"cleanup.policy": "compact"}),
            "min.insync.replicas": min(2, max(1, replicas - 1)),
        },
    )


def topic_specs(owner: Owner) -> list[TopicSpec]:
    """A dedicated stream's: the events topic (``spec.kafka.partitions``) and the dead-letter topic (one partition). A
    pool's: the events topic, its control and sources topics (compacted, one partition) and the dead-letter
    topic."""
    if isinstance(owner, Pool):
        kafka, names = owner.spec.kafka, owner.topics
        return [
            topic_spec(
                names.events, partitions=kafka.partitions, replicas=kafka.replicas,
                retention_hours=kafka.retention_hours,
            ),
            topic_spec(names.control, partitions=1, replicas=kafka.replicas),
            topic_spec(names.sources, partitions=1, replicas=kafka.replicas),
            topic_spec(
                names.dead_letter, partitions=1, replicas=kafka.replicas,
                retention_hours=kafka.dead_letter_retention_hours,
            ),
        ]  # fmt: skip
    assert isinstance(owner, Stream)
    if owner.pool is not None:
        return []  # its events go to its pool's topics
    stream_kafka = owner.spec.kafka
    return [
        topic_spec(
            owner.events_topic, partitions=stream_kafka.partitions, replicas=stream_kafka.replicas,
            retention_hours=stream_kafka.retention_hours,
        ),
        topic_spec(
            owner.dead_letter_topic, partitions=1, replicas=stream_kafka.replicas,
            retention_hours=stream_kafka.dead_letter_retention_hours,
        ),
    ]  # fmt: skip


def build_topic(stream: Owner, topic: TopicSpec) -> dict[str, Any]:
    """One KafkaTopic; its Kubernetes name is the Kafka topic name (stream ids are DNS labels)."""
    meta = stream.metadata(topic.name, "topic", namespace=stream.kafka_namespace)
    meta["labels"][STRIMZI_CLUSTER_LABEL] = stream.kafka_cluster
    return {
        "apiVersion": stream.settings.kafka_topic_api_version,
        "kind": "KafkaTopic",
        "metadata": meta,
        "spec": {"partitions": topic.partitions, "replicas": topic.replicas, "config": dict(topic.config)},
    }


def build_topics(stream: Owner) -> list[dict[str, Any]]:
    return [build_topic(stream, topic) for topic in topic_specs(stream)]


def keep_partitions(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The KafkaTopic to apply over ``live``: never fewer partitions than it has. Kafka cannot remove
    partitions and the Topic Operator refuses a decrease (the KafkaTopic turns NotReady), so a smaller
    ``spec.kafka.partitions`` keeps the current count, as the ``admin`` topic mode does."""
    have = ((live or {}).get("spec") or {}).get("partitions")
    want = desired["spec"]["partitions"]
    if not isinstance(have, int) or have <= want:
        return desired
    return {**desired, "spec": {**desired["spec"], "partitions": have}}
