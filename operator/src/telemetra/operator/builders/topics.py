"""Strimzi KafkaTopics: the stream's events and its dead letters, in the Kafka cluster's namespace."""

from __future__ import annotations

from typing import Any

from telemetra.operator.stream import Stream

HOUR_MS = 3_600_000
STRIMZI_CLUSTER_LABEL = "strimzi.io/cluster"


def build_topic(stream: Stream, name: str, *, partitions: int, retention_hours: int) -> dict[str, Any]:
    """One KafkaTopic; its Kubernetes name is the Kafka topic name (stream ids are DNS labels)."""
    meta = stream.metadata(name, "topic", namespace=stream.kafka_namespace)
    meta["labels"][STRIMZI_CLUSTER_LABEL] = stream.kafka_cluster
    return {
        "apiVersion": stream.settings.kafka_topic_api_version,
        "kind": "KafkaTopic",
        "metadata": meta,
        "spec": {
            "partitions": partitions,
            "replicas": stream.spec.kafka.replicas,
            "config": {
                "retention.ms": retention_hours * HOUR_MS,
                "cleanup.policy": "delete",
                "min.insync.replicas": min(2, max(1, stream.spec.kafka.replicas - 1)),
            },
        },
    }


def build_topics(stream: Stream) -> list[dict[str, Any]]:
    kafka = stream.spec.kafka
    return [
        build_topic(
            stream, stream.events_topic, partitions=kafka.partitions, retention_hours=kafka.retention_hours
        ),
        build_topic(
            stream, stream.dead_letter_topic, partitions=1, retention_hours=kafka.dead_letter_retention_hours
        ),
    ]
