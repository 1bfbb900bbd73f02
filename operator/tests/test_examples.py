"""Every stream example in ``operator/examples/`` applied to a real API server with the operator running: the children
appear with the expected spec, the stream turns Ready once they report ready, and deleting it removes them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from telemetra.dev.kube.cluster import KubeCluster
from telemetra.dev.localstack.postgres import PostgresServer
from telemetra.dev.testing import operator as t
from telemetra.operator.builders import dashboard, producer, spark, topics
from telemetra.operator.diff import drift
from telemetra.operator.kube import Kube, kind_for
from telemetra.operator.settings import OperatorSettings
from telemetra.operator.stream import Stream

from .conftest import Namespaces


def _docs(name: str, spaces: Namespaces) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    docs = t.load_example(name)
    stream = next(d for d in docs if d["kind"] == "TelemetraStream")
    if "namespace" in stream["spec"].get("kafka", {}):
        stream["spec"]["kafka"]["namespace"] = spaces.kafka  # the example's "kafka", isolated per test
    return docs, stream


def desired_children(body: dict[str, Any], spaces: Namespaces) -> list[dict[str, Any]]:
    settings = OperatorSettings(kafka_namespace=spaces.kafka)
    stream = Stream.from_body(body, settings)
    children = [
        *topics.build_topics(stream),
        *producer.build_producer(stream),
        spark.build_spark_application(stream),
    ]
    if stream.own_dashboard:
        children.append(dashboard.build_dashboard(stream))
    return children


async def live_children(kube: Kube, desired: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    return [await kube.get(kind_for(d), d["metadata"]["namespace"], d["metadata"]["name"]) for d in desired]


def stream_examples() -> list[str]:
    """The examples of one stream with a job of its own (a pool's example is test_pools.py's)."""
    return [n for n in t.example_names() if all(d["kind"] == "TelemetraStream" for d in t.load_example(n))]


def _alerts(example: str) -> dict[str, Any] | None:
    stream = next(d for d in t.load_example(example) if d["kind"] == "TelemetraStream")
    alerts: dict[str, Any] | None = stream["spec"].get("alerts")
    return alerts


@pytest.fixture
def example_operator(
    request: pytest.FixtureRequest, kube_cluster: KubeCluster, namespaces: Namespaces, tmp_path: Path
) -> Iterator[t.OperatorProcess]:
    """The operator on the test's namespaces; for an example with spec.alerts, with an alert outbox (a database
    of the test PostgreSQL), as the chart gives it one."""
    extra = {}
    if _alerts(request.node.callspec.params["example"]) is not None:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database(f"example_{uuid.uuid4().hex[:10]}")
        extra["TELEMETRA_OPERATOR_ALERTS_OUTBOX_URL"] = url
    process = t.OperatorProcess(
        kube_cluster.env(), namespaces.streams, namespaces.kafka, tmp_path / "operator.log", extra_env=extra
    )
    with process:
        yield process
    print(f"--- operator log ({process.log_path}) ---\n{process.log()[-20000:]}")


@pytest.mark.parametrize("example", stream_examples())
async def test_example_converges_and_deletes_cleanly(
    example: str, kube: Kube, namespaces: Namespaces, example_operator: t.OperatorProcess
) -> None:
    operator_process = example_operator
    docs, manifest = _docs(example, namespaces)
    name, stream_id = manifest["metadata"]["name"], manifest["spec"]["streamId"]
    await t.wait_for(
        lambda: t.operator_alive(operator_process), within=30, what="the operator's liveness endpoint"
    )

    credentials = ((manifest["spec"]["source"].get("twitch") or {}).get("credentialsSecret")) or {}
    if credentials:  # the Secret the example's comment tells the user to create
        await t.create_secret(
            kube, namespaces.streams, credentials["name"], {"client-id": "i", "client-secret": "s"}
        )
    refs = [
        ref
        for destination in (_alerts(example) or {}).get("destinations", [])
        for ref in (destination.get("urlFrom"), destination.get("signingSecretFrom"))
        if ref
    ]
    for secret in {ref["name"] for ref in refs}:  # the alerts' Secret, as the example's comment creates it
        keys = {ref["key"]: "https://discord.com/api/webhooks/1/x" for ref in refs if ref["name"] == secret}
        await t.create_secret(kube, namespaces.streams, secret, keys)
    started = time.monotonic()
    await t.apply_all(kube, namespaces.streams, docs)
    body = await kube.get(t.STREAM, namespaces.streams, name)
    assert body is not None
    desired = desired_children(body, namespaces)

    async def all_children_as_rendered() -> bool:
        live = await live_children(kube, desired)
        return all(obj is not None and not drift(want, obj) for want, obj in zip(desired, live, strict=True))

    await t.wait_for(all_children_as_rendered, within=5, what=f"{len(desired)} children of {example}")
    created_in = time.monotonic() - started
    assert created_in <= 5

    # Not Ready until Strimzi and the Spark operator report; then Ready for this very generation.
    stream = await kube.get(t.STREAM, namespaces.streams, name)
    assert t.condition(stream, "Ready").get("status") != "True"
    await t.play_operators(kube, namespaces.streams, namespaces.kafka, stream_id)

    async def ready() -> dict[str, Any] | None:
        obj = await kube.get(t.STREAM, namespaces.streams, name)
        return obj if t.condition(obj, "Ready").get("status") == "True" else None

    stream = await t.wait_for(ready, within=30, what=f"{example} Ready")
    if _alerts(example) is not None:  # its alerts are in the outbox, and the Secret they name exists
        stream = await t.wait_condition(kube, namespaces.streams, name, "AlertsReady", "True", within=20)
    generation = stream["metadata"]["generation"]
    assert stream["status"]["observedGeneration"] == generation
    assert stream["status"]["lifecycleState"] == "Running"
    for cond in stream["status"]["conditions"]:
        assert (cond["status"], cond["observedGeneration"]) == ("True", generation), cond
    refs = {(c["kind"], c["namespace"], c["name"]) for c in stream["status"]["children"]}
    assert refs == {(d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]) for d in desired}
    assert stream["status"]["executors"] == manifest["spec"].get("spark", {}).get("executors", 1)

    async def running_event() -> bool:  # kopf posts events from a queue, soon after the status is written
        return "Running" in {e["reason"] for e in await t.events_for(kube, namespaces.streams, name)}

    await t.wait_for(running_event, within=10, what="a Running event")

    # Deleting the stream removes everything, including the topics in the Kafka namespace (unless retained).
    await kube.delete(t.STREAM, namespaces.streams, name)
    retained = manifest["spec"].get("topicDeletionPolicy") == "retain"

    async def cleaned_up() -> bool:
        if await kube.get(t.STREAM, namespaces.streams, name) is not None:
            return False
        for want, obj in zip(desired, await live_children(kube, desired), strict=True):
            if (obj is not None) != (retained and want["kind"] == "KafkaTopic"):
                return False
        return True

    await t.wait_for(cleaned_up, within=30, what=f"{example} and its children deleted")
