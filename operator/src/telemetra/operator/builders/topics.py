"""The stream's topics, its events and its dead letters: what each should be (:func:`topic_specs`, the one
source of both topic modes) and, in ``strimzi`` mode, the KafkaTopics in the Kafka cluster's namespace that
carry it to the Topic Operator."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


def topic_spec(stream: Stream, name: str, *, partitions: int, retention_hours: int) -> TopicSpec:
    replicas = stream.spec.kafka.replicas
    return TopicSpec(
        name=name,
        partitions=partitions,
        replicas=replicas,
        config={
            "retention.ms": retention_hours * HOUR_MS,
            "cleanup.policy": "delete",
            "min.insync.replicas": min(2, max(1, replicas - 1)),
        },
    )


def topic_specs(stream: Stream) -> list[TopicSpec]:
    """The events topic (``spec.kafka.partitions``) and the dead-letter topic (one partition)."""
    kafka = stream.spec.kafka
    return [
        topic_spec(
            stream, stream.events_topic, partitions=kafka.partitions, retention_hours=kafka.retention_hours
        ),
        topic_spec(
            stream, stream.dead_letter_topic, partitions=1, retention_hours=kafka.dead_letter_retention_hours
        ),
    ]


def build_topic(stream: Stream, topic: TopicSpec) -> dict[str, Any]:
    """One KafkaTopic; its Kubernetes name is the Kafka topic name (stream ids are DNS labels)."""
    meta = stream.metadata(topic.name, "topic", namespace=stream.kafka_namespace)
    meta["labels"][STRIMZI_CLUSTER_LABEL] = stream.kafka_cluster
    return {
        "apiVersion": stream.settings.kafka_topic_api_version,
        "kind": "KafkaTopic",
        "metadata": meta,
        "spec": {"partitions": topic.partitions, "replicas": topic.replicas, "config": dict(topic.config)},
    }


def build_topics(stream: Stream) -> list[dict[str, Any]]:
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
