"""The operator watches the children it owns: a child's change reaches its stream's status (or is restored) within
moments, not at the next resync. The operator here resyncs only every 10 minutes, so anything faster than that
came through the watch."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetra.dev.kube.cluster import KubeCluster
from telemetra.dev.testing import operator as t
from telemetra.operator.kube import Kube
from telemetra.operator.watch import owner_key

from .conftest import Namespaces

WITHIN = 2.0  # the promise: a child's failure shows in its stream's status within 2 s


@pytest.fixture
def slow_resync_operator(
    kube_cluster: KubeCluster, namespaces: Namespaces, tmp_path: Path
) -> Iterator[t.OperatorProcess]:
    process = t.OperatorProcess(
        kube_cluster.env(),
        namespaces.streams,
        namespaces.kafka,
        tmp_path / "operator.log",
        resync_seconds=600,
    )
    with process:
        yield process
    print(f"--- operator log ({process.log_path}) ---\n{process.log()[-20000:]}")


async def _processor(kube: Kube, ns: str, name: str, status: str, reason: str) -> bool:
    cond = t.condition(await t.get_stream(kube, ns, name), "ProcessorReady")
    return (cond.get("status"), cond.get("reason")) == (status, reason)


async def test_a_failed_job_shows_in_the_stream_status_within_two_seconds(
    kube: Kube, namespaces: Namespaces, slow_resync_operator: t.OperatorProcess
) -> None:
    ns, kafka = namespaces.streams, namespaces.kafka
    await t.wait_for(lambda: t.operator_alive(slow_resync_operator), within=30, what="operator liveness")
    await t.run_ready(kube, ns, kafka, t.stream_manifest("watched"))
    app = "telemetra-watched"
    delays = []
    for attempt in range(3):
        await t.wait_condition(kube, ns, "watched", "Ready", "True", within=10)
        await t.set_spark_state(
            kube, ns, app, "FAILED", submission=f"run-{attempt}", error="driver OOMKilled"
        )
        started = time.monotonic()
        await t.wait_for(
            lambda: _processor(kube, ns, "watched", "False", "SparkFailed"),
            within=WITHIN + 3,
            interval=0.05,
            what="ProcessorReady=False/SparkFailed",
        )
        delays.append(time.monotonic() - started)
        print(f"attempt {attempt}: ProcessorReady=False after {delays[-1]:.2f} s")
        await t.set_spark_state(kube, ns, app, "RUNNING", submission=f"rerun-{attempt}")
    assert max(delays) <= WITHIN, f"a failed job reached the stream's status after {delays} s"


async def test_an_edited_child_is_restored_without_waiting_for_the_resync(
    kube: Kube, namespaces: Namespaces, slow_resync_operator: t.OperatorProcess
) -> None:
    ns, kafka = namespaces.streams, namespaces.kafka
    await t.wait_for(lambda: t.operator_alive(slow_resync_operator), within=30, what="operator liveness")
    await t.run_ready(kube, ns, kafka, t.stream_manifest("edited"))
    producer, board = "telemetra-edited-producer", "telemetra-edited-dashboard"
    await kube.patch(t.DEPLOYMENT, ns, producer, {"spec": {"replicas": 3}})
    await kube.patch(t.CONFIG_MAP, ns, board, {"metadata": {"labels": {"grafana_dashboard": "0"}}})

    async def reverted() -> bool:
        deployment = await kube.get(t.DEPLOYMENT, ns, producer) or {}
        dashboard = await kube.get(t.CONFIG_MAP, ns, board) or {}
        return (
            deployment.get("spec", {}).get("replicas") == 1
            and dashboard.get("metadata", {}).get("labels", {}).get("grafana_dashboard") == "1"
        )

    await t.wait_for(reverted, within=5, interval=0.05, what="edits reverted through the watch")
    await kube.delete(t.SPARK_APP, ns, "telemetra-edited")

    async def back() -> bool:
        obj = await kube.get(t.SPARK_APP, ns, "telemetra-edited")
        return obj is not None and obj["metadata"].get("deletionTimestamp") is None

    await t.wait_for(back, within=5, interval=0.05, what="the deleted SparkApplication recreated")


def test_a_child_event_names_its_stream() -> None:
    owned = {
        "metadata": {
            "namespace": "ns",
            "name": "telemetra-x",
            "ownerReferences": [
                {
                    "apiVersion": "telemetra.io/v1alpha1",
                    "kind": "TelemetraStream",
                    "name": "x",
                    "controller": True,
                }
            ],
            "annotations": {"telemetra.io/owner": "other/y"},
        }
    }
    assert owner_key(owned) == "ns/x"  # the owner reference wins (the annotation may be edited)
    topic = {"metadata": {"namespace": "kafka", "annotations": {"telemetra.io/owner": "ns/x"}}}
    assert owner_key(topic) == "ns/x"
    foreign = {
        "metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r"}]}
    }
    assert owner_key(foreign) is None
