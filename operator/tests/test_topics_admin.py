"""``TELEMETRA_OPERATOR_TOPICS=admin``: each stream's topics managed through the Kafka Admin API instead of
Strimzi KafkaTopics.

The planning is pure (:func:`telemetra.operator.kafka_admin.plan_topic`) and tested first. The rest runs the
operator as a subprocess against the real API server and the real Kafka broker of the test tooling, and reads
Kafka with its own admin client: topics appear with the stream's partitions and configs, grow with the spec,
are restored when edited in Kafka, are never shrunk, are not shared between two streams, and go with the
stream; an unreachable Kafka is a condition with a reason, and deletion waits for it to come back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from telemetra.dev.kube.cluster import KubeCluster
from telemetra.dev.localstack.kafka import KafkaBroker
from telemetra.dev.testing import operator as t
from telemetra.operator.builders.topics import HOUR_MS, TopicSpec
from telemetra.operator.kafka_admin import LiveTopic, kafka_config, plan_topic
from telemetra.operator.kube import Kube
from telemetra.operator.reconcile import TopicClaims
from telemetra.operator.settings import OperatorSettings
from telemetra.operator.stream import Stream

from .conftest import Namespaces

RESYNC = 2.0  # the operator fixture's TELEMETRA_OPERATOR_RESYNC_SECONDS
KAFKA_TIMEOUT = 3.0  # and its TELEMETRA_OPERATOR_KAFKA_TIMEOUT_SECONDS
SETTINGS = OperatorSettings()
CONFIG = {"retention.ms": 2 * HOUR_MS, "cleanup.policy": "delete", "min.insync.replicas": 2}


# -- planning (pure) -----------------------------------------------------------------------------------------
def topic(partitions: int = 3, replicas: int = 3) -> TopicSpec:
    return TopicSpec("telemetra.demo.events", partitions, replicas, CONFIG)


def live(partitions: int = 3, replicas: int = 3, **config: str) -> LiveTopic:
    return LiveTopic(partitions, replicas, 0, {**kafka_config(topic(), replicas), **config})


def test_a_missing_topic_is_created_with_the_replication_factor_the_brokers_allow() -> None:
    plan = plan_topic(topic(replicas=3), None, brokers=1)
    assert (plan.create, plan.grow, plan.alter) == (True, False, False)
    assert plan.replicas == 1
    assert plan.config == {"retention.ms": "7200000", "cleanup.policy": "delete", "min.insync.replicas": "1"}
    assert plan.observation.check.status == "Unknown"
    assert (
        "replication factor 1 (spec.kafka.replicas is 3; Kafka has 1 broker(s))"
        in plan.observation.check.message
    )
    assert plan_topic(topic(replicas=3), None, brokers=5).replicas == 3


def test_a_topic_as_asked_is_ready_and_left_alone() -> None:
    plan = plan_topic(topic(), live(), brokers=0)
    assert (plan.create, plan.grow, plan.alter) == (False, False, False)
    assert (plan.observation.check.status, plan.observation.check.reason) == ("True", "Ready")
    capped = plan_topic(topic(replicas=3), live(replicas=1), brokers=0)
    assert capped.observation.check.status == "True"
    assert "replication factor 1; spec.kafka.replicas is 3" in capped.observation.check.message


def test_partitions_grow_and_configs_are_set_when_they_differ() -> None:
    plan = plan_topic(topic(partitions=6), live(partitions=3, **{"retention.ms": "1000"}), brokers=0)
    assert (plan.create, plan.grow, plan.alter) == (False, True, True)
    assert plan.config["retention.ms"] == "7200000"
    assert plan.observation.check.reason == "Updating"
    assert plan.observation.check.message == "telemetra.demo.events: partitions 3 → 6; setting retention.ms"


def test_partitions_are_never_removed() -> None:
    plan = plan_topic(topic(partitions=3), live(partitions=8, **{"cleanup.policy": "compact"}), brokers=0)
    assert (plan.grow, plan.alter) == (False, True)  # the configs are still set
    check = plan.observation.check
    assert (check.status, check.reason) == ("False", "PartitionsCannotShrink")
    assert "has 8 partitions and 3 are asked for" in check.message


def test_a_topic_without_leaders_or_with_a_metadata_error_is_pending() -> None:
    leaderless = LiveTopic(3, 3, 2, kafka_config(topic(), 3))
    assert plan_topic(topic(), leaderless, brokers=0).observation.check.reason == "Pending"
    broken = LiveTopic(0, 0, 0, {}, error="LEADER_NOT_AVAILABLE")
    plan = plan_topic(topic(), broken, brokers=0)
    assert (plan.grow, plan.alter, plan.observation.check.status) == (False, False, "Unknown")
    assert "LEADER_NOT_AVAILABLE" in plan.observation.check.message


def test_a_topic_name_belongs_to_the_first_stream_that_claims_it_until_it_is_deleted() -> None:
    def stream(name: str) -> Stream:
        spec = {"streamId": "shared", "source": {"type": "mock", "mock": {}}}
        return Stream.from_body(
            {"metadata": {"name": name, "namespace": "ns", "uid": name}, "spec": spec}, SETTINGS
        )

    claims, names = TopicClaims(), ["telemetra.shared.events", "telemetra.shared.dead-letter"]
    first, second = stream("first"), stream("second")
    assert claims.claim(first, names) == {}
    assert claims.claim(first, names) == {}  # again: still its own
    assert claims.claim(second, names) == dict.fromkeys(names, "ns/first")
    claims.release(second, names)  # not its own: nothing happens
    assert claims.claim(second, names) == dict.fromkeys(names, "ns/first")
    claims.release(first, names)
    assert claims.claim(second, names) == {}


# -- against the real API server and Kafka -------------------------------------------------------------------
@dataclass(frozen=True)
class KafkaTopic:
    partitions: int
    config: Mapping[str, str]


async def read_topics(admin: AIOKafkaAdminClient, stream_id: str) -> dict[str, KafkaTopic]:
    """The stream's topics that exist. Existence comes from the full topic list: the test broker has
    auto.create.topics.enable, so a metadata request naming a missing topic would create it."""
    names = {f"telemetra.{stream_id}.events", f"telemetra.{stream_id}.dead-letter"}
    existing = sorted(names & set(await admin.list_topics()))
    if not existing:
        return {}
    metadata = await admin.describe_topics(existing)
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in existing])
    configs = {r[3]: {e[0]: e[1] for e in r[4]} for response in responses for r in response.resources}
    return {m["topic"]: KafkaTopic(len(m["partitions"]), configs[m["topic"]]) for m in metadata}


@pytest.fixture
def operator(
    kube_cluster: KubeCluster, namespaces: Namespaces, kafka_bootstrap: str, tmp_path: Path
) -> Iterator[t.OperatorProcess]:
    """The operator in admin topic mode on the test broker, resyncing every RESYNC seconds."""
    settings = {
        "TELEMETRA_OPERATOR_TOPICS": "admin",
        "TELEMETRA_OPERATOR_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TELEMETRA_OPERATOR_KAFKA_TIMEOUT_SECONDS": str(KAFKA_TIMEOUT),
        "TELEMETRA_OPERATOR_RESYNC_SECONDS": str(RESYNC),
    }
    log = tmp_path / "operator.log"
    process = t.OperatorProcess(
        kube_cluster.env(), namespaces.streams, namespaces.kafka, log, extra_env=settings
    )
    with process:
        yield process
    print(f"--- operator log ({process.log_path}) ---\n{process.log()[-20000:]}")


async def start_stream(kube: Kube, namespace: str, name: str, stream_id: str, **spec: Any) -> None:
    await kube.create(
        {**t.stream_manifest(name, stream_id, **spec), "metadata": {"name": name, "namespace": namespace}}
    )


async def run_stream(
    kube: Kube, process: t.OperatorProcess, namespace: str, name: str, **spec: Any
) -> dict[str, Any]:
    """Create the stream, play the Spark operator, and wait until it is Ready (no KafkaTopic involved)."""
    await t.wait_for(lambda: t.operator_alive(process), within=30, what="operator liveness")
    await start_stream(kube, namespace, name, name, **spec)

    async def submitted() -> bool:
        return await kube.get(t.SPARK_APP, namespace, f"telemetra-{name}") is not None

    await t.wait_for(submitted, within=10, what=f"the SparkApplication of {name}")
    await t.set_spark_state(kube, namespace, f"telemetra-{name}", "RUNNING", submission="first")
    return await t.wait_condition(kube, namespace, name, "Ready", "True", within=30)


async def kafka_shows(
    admin: AIOKafkaAdminClient, stream_id: str, within: float, **partitions: int
) -> dict[str, KafkaTopic]:
    """The topics once their partition counts are ``events``/``dead_letter``."""
    want = {f"telemetra.{stream_id}.{kind.replace('_', '-')}": count for kind, count in partitions.items()}

    async def probe() -> dict[str, KafkaTopic] | None:
        found = await read_topics(admin, stream_id)
        return found if {n: found[n].partitions for n in found} == want else None

    return await t.wait_for(probe, within=within, interval=0.2, what=f"Kafka topics {want}")


async def test_the_topics_follow_the_stream_in_kafka(
    kube: Kube, namespaces: Namespaces, operator: t.OperatorProcess, kafka: AIOKafkaAdminClient
) -> None:
    ns = namespaces.streams
    stream = await run_stream(kube, operator, ns, "adm", kafka={"partitions": 2, "retentionHours": 2})
    found = await kafka_shows(kafka, "adm", within=5, events=2, dead_letter=1)
    events, dead = found["telemetra.adm.events"], found["telemetra.adm.dead-letter"]
    assert events.config["retention.ms"] == str(2 * HOUR_MS)
    assert dead.config["retention.ms"] == str(168 * HOUR_MS)
    assert events.config["cleanup.policy"] == dead.config["cleanup.policy"] == "delete"
    assert events.config["min.insync.replicas"] == "1"
    assert (
        "all topics are ready: telemetra.adm.events, telemetra.adm.dead-letter"
        in t.condition(stream, "TopicsReady")["message"]
    )
    assert await kube.list(t.KAFKA_TOPIC, namespaces.kafka) == []  # no Strimzi objects in this mode
    assert {c["kind"] for c in stream["status"]["children"]} == {
        "ServiceAccount", "ConfigMap", "Deployment", "SparkApplication"
    }  # fmt: skip

    # more partitions in the spec: Kafka grows them
    await kube.patch(t.STREAM, ns, "adm", {"spec": {"kafka": {"partitions": 4}}})
    await kafka_shows(kafka, "adm", within=5, events=4, dead_letter=1)
    await t.wait_condition(kube, ns, "adm", "TopicsReady", "True")

    # a config edited in Kafka is set back within one resync interval
    edited = ConfigResource(
        ConfigResourceType.TOPIC, "telemetra.adm.events", configs={"retention.ms": "1000"}
    )
    await kafka.alter_configs([edited])

    async def restored() -> bool:
        topic = (await read_topics(kafka, "adm"))["telemetra.adm.events"]
        return topic.config["retention.ms"] == str(2 * HOUR_MS)

    await t.wait_for(restored, within=5, what="retention.ms restored")

    # more partitions in Kafka than the spec asks for: reported, never shrunk
    await kafka.create_partitions({"telemetra.adm.events": NewPartitions(6)})
    stream = await t.wait_condition(kube, ns, "adm", "TopicsReady", "False", reason="PartitionsCannotShrink")
    assert (
        "telemetra.adm.events has 6 partitions and 4 are asked for"
        in t.condition(stream, "TopicsReady")["message"]
    )
    assert t.condition(stream, "Ready")["status"] == "False"
    assert (await read_topics(kafka, "adm"))["telemetra.adm.events"].partitions == 6
    await kube.patch(t.STREAM, ns, "adm", {"spec": {"kafka": {"partitions": 6}}})
    await t.wait_condition(kube, ns, "adm", "Ready", "True")

    # deleting the stream deletes its topics before the finalizer lets it go
    await kube.delete(t.STREAM, ns, "adm")

    async def gone() -> bool:
        return await kube.get(t.STREAM, ns, "adm") is None and await read_topics(kafka, "adm") == {}

    await t.wait_for(gone, within=15, what="the stream and its Kafka topics deleted")
    reasons = [e["reason"] for e in await t.events_for(kube, ns, "adm")]
    assert "TopicsDeleted" in reasons


async def test_a_second_stream_with_the_same_id_neither_changes_nor_deletes_the_topics(
    kube: Kube, namespaces: Namespaces, operator: t.OperatorProcess, kafka: AIOKafkaAdminClient
) -> None:
    ns = namespaces.streams
    await run_stream(kube, operator, ns, "shared")
    await start_stream(kube, ns, "second", "shared", kafka={"partitions": 9})
    stream = await t.wait_condition(kube, ns, "second", "TopicsReady", "False", reason="TopicConflict")
    assert (
        "Kafka topic telemetra.shared.events belongs to TelemetraStream"
        in t.condition(stream, "TopicsReady")["message"]
    )
    assert stream["status"]["lifecycleState"] == "Failed"

    # a restarted operator gives the topics to the older stream again, whichever stream it visits first
    operator.stop()
    operator.start()
    await t.wait_for(
        lambda: t.operator_alive(operator), within=30, what="operator liveness after the restart"
    )
    await asyncio.sleep(2 * RESYNC)
    await kafka_shows(kafka, "shared", within=1, events=3, dead_letter=1)

    await kube.delete(t.STREAM, ns, "second")

    async def second_gone() -> bool:
        return await kube.get(t.STREAM, ns, "second") is None

    await t.wait_for(second_gone, within=15, what="the second stream deleted")
    await kafka_shows(kafka, "shared", within=1, events=3, dead_letter=1)  # untouched
    first = await t.get_stream(kube, ns, "shared")
    assert t.condition(first, "TopicsReady")["status"] == "True"


async def test_an_unreachable_kafka_is_a_condition_and_deletion_waits_for_it(
    kube: Kube,
    namespaces: Namespaces,
    operator: t.OperatorProcess,
    kafka: AIOKafkaAdminClient,
    kafka_broker: KafkaBroker,
) -> None:
    ns = namespaces.streams
    await run_stream(kube, operator, ns, "outage")
    await kafka_shows(kafka, "outage", within=5, events=3, dead_letter=1)
    try:
        kafka_broker.stop()
        stream = await t.wait_condition(
            kube,
            ns,
            "outage",
            "TopicsReady",
            "False",
            reason="KafkaUnreachable",
            within=RESYNC + 2 * KAFKA_TIMEOUT + 5,
        )
        message = t.condition(stream, "TopicsReady")["message"]
        assert f"Kafka at {kafka_broker.bootstrap}" in message
        assert stream["status"]["lastError"] == message  # one error, said once for both topics
        assert stream["status"]["lifecycleState"] == "Degraded"
        assert await t.operator_alive(operator)

        await kube.delete(t.STREAM, ns, "outage")
        await asyncio.sleep(2 * KAFKA_TIMEOUT)
        held = await kube.get(t.STREAM, ns, "outage")
        assert held is not None and held["metadata"].get("deletionTimestamp"), (
            "the finalizer let go without Kafka"
        )
    finally:
        kafka_broker.start()

    async def gone() -> bool:
        return await kube.get(t.STREAM, ns, "outage") is None

    await t.wait_for(gone, within=30, what="the stream deleted once Kafka is back")

    async def topics_gone() -> bool:  # the broker's metadata lags the controller's deletion a little
        return await read_topics(kafka, "outage") == {}

    await t.wait_for(topics_gone, within=10, what="the stream's topics deleted")
