"""Secrets a stream's children need (the Twitch credentials its spec names, the store and cache URLs every Spark
job reads) are checked by name, never read: a missing one makes the stream not Ready with reason
``SecretMissing`` naming it, and the stream recovers once the Secret exists."""

from __future__ import annotations

import base64
import json

from telemetra.dev.testing import operator as t
from telemetra.operator.kube import TABLE_ONLY, Kube

from .conftest import Namespaces

VALUE = "never-logged-3f9c1a"  # a Secret value that must appear nowhere in the operator's output


def _twitch(name: str, secret: str) -> dict[str, object]:
    twitch = {"channel": "somechannel", "credentialsSecret": {"name": secret}}
    return t.stream_manifest(name, source={"type": "twitch", "twitch": twitch})


async def test_a_missing_secret_is_reported_until_it_exists(
    kube: Kube, namespaces: Namespaces, operator_process: t.OperatorProcess
) -> None:
    ns, kafka = namespaces.streams, namespaces.kafka
    await t.wait_for(lambda: t.operator_alive(operator_process), within=30, what="operator liveness")
    manifest = _twitch("chat", "helix")
    await kube.create({**manifest, "metadata": {"name": "chat", "namespace": ns}})

    async def children() -> bool:  # the job and the topics (written concurrently by one pass)
        app = await kube.get(t.SPARK_APP, ns, "telemetra-chat")
        topics = [
            await kube.get(t.KAFKA_TOPIC, kafka, f"telemetra.chat.{kind}")
            for kind in ("events", "dead-letter")
        ]
        return app is not None and None not in topics

    await t.wait_for(children, within=10, what="children of chat")
    await t.play_operators(kube, ns, kafka, "chat")
    stream = await t.wait_condition(kube, ns, "chat", "ProducerReady", "False", reason="SecretMissing")
    assert f"Secret {ns}/helix" in t.condition(stream, "ProducerReady")["message"]
    ready = t.condition(stream, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "SecretMissing")

    async def warned() -> bool:
        return "SecretMissing" in {e["reason"] for e in await t.events_for(kube, ns, "chat")}

    await t.wait_for(warned, within=10, what="a SecretMissing event")

    await t.create_secret(kube, ns, "helix", {"client-id": "id", "client-secret": VALUE})
    stream = await t.wait_condition(kube, ns, "chat", "Ready", "True", within=10)
    assert stream["status"]["lifecycleState"] == "Running"

    # A Secret every Spark job reads (the operator's settings name it) deleted: the job's condition says so.
    await kube.delete(t.SECRET, ns, "telemetra-cache")
    stream = await t.wait_condition(kube, ns, "chat", "ProcessorReady", "False", reason="SecretMissing")
    assert f"Secret {ns}/telemetra-cache" in t.condition(stream, "ProcessorReady")["message"]
    assert stream["status"]["lifecycleState"] == "Degraded"
    await t.create_secret(kube, ns, "telemetra-cache", {"url": "memory://"})
    await t.wait_condition(kube, ns, "chat", "Ready", "True", within=10)
    assert VALUE not in operator_process.log()


async def test_the_existence_check_carries_no_secret_data(kube: Kube, namespaces: Namespaces) -> None:
    """What :meth:`Kube.exists` asks for: a Table of printer columns, without the object or its annotations."""
    ns = namespaces.streams
    annotations = {"kubectl.kubernetes.io/last-applied-configuration": VALUE}
    meta = {"name": "probe", "namespace": ns, "annotations": annotations}
    await kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"k": VALUE}})
    answer = await kube.request(
        "GET", t.SECRET.path(ns, "probe"), accept=TABLE_ONLY, params={"includeObject": "None"}
    )
    text = json.dumps(answer)
    assert answer["kind"] == "Table" and [row.get("object") for row in answer["rows"]] == [None]
    assert VALUE not in text and base64.b64encode(VALUE.encode()).decode() not in text
    assert await kube.exists(t.SECRET, ns, "probe") and not await kube.exists(t.SECRET, ns, "absent")
