"""kill -9 of the operator in the middle of reconciling, then a restart: it converges, and nothing is
duplicated (deterministic names; the SparkApplications are not even patched again)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from telemetra.dev.kube.cluster import KubeCluster
from telemetra.dev.testing import operator as t
from telemetra.operator.kube import Kube
from telemetra.operator.owner import MANAGER

from .conftest import Namespaces

STREAMS = 30
PER_STREAM = {"KafkaTopic": 2, "ServiceAccount": 1, "ConfigMap": 2, "Deployment": 1, "SparkApplication": 1}


async def _children(kube: Kube, spaces: Namespaces) -> dict[str, list[str]]:
    selector = f"app.kubernetes.io/managed-by={MANAGER}"
    found = {}
    for kind_name, kind in t.kinds().items():
        namespace = spaces.kafka if kind_name == "KafkaTopic" else spaces.streams
        found[kind_name] = [
            o["metadata"]["name"] for o in await kube.list(kind, namespace, label_selector=selector)
        ]
    return found


async def test_kill_9_mid_reconcile_then_restart_converges_without_duplicates(
    kube: Kube, namespaces: Namespaces, kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    ns = namespaces.streams
    log = tmp_path / "operator.log"
    first = t.OperatorProcess(kube_cluster.env(), ns, namespaces.kafka, log).start()
    try:
        await t.wait_for(lambda: t.operator_alive(first), within=30, what="operator liveness")
        await asyncio.gather(
            *(
                kube.create({**t.stream_manifest(f"s{i}"), "metadata": {"name": f"s{i}", "namespace": ns}})
                for i in range(STREAMS)
            )
        )

        async def first_child() -> bool:  # one cheap request per poll, to kill as early as possible
            return bool(await kube.list(t.KAFKA_TOPIC, namespaces.kafka))

        await t.wait_for(first_child, within=20, interval=0.01, what="a reconciliation in flight")
        first.kill()
    finally:
        first.stop()
    partial = await _children(kube, namespaces)
    print("children when killed:", {kind: len(names) for kind, names in partial.items()})
    assert sum(map(len, partial.values())) < STREAMS * sum(PER_STREAM.values()), (
        "killed too late to prove much"
    )

    with t.OperatorProcess(kube_cluster.env(), ns, namespaces.kafka, log):

        async def complete() -> bool:
            found = await _children(kube, namespaces)
            return all(len(found[kind]) == STREAMS * n for kind, n in PER_STREAM.items())

        await t.wait_for(complete, within=30, what="every child of every stream")
        for i in range(STREAMS):
            await t.play_operators(kube, ns, namespaces.kafka, f"s{i}")
        for i in range(STREAMS):
            await t.wait_condition(kube, ns, f"s{i}", "Ready", "True", within=30)

        found = await _children(kube, namespaces)
        for kind, names in found.items():
            assert len(names) == len(set(names)) == STREAMS * PER_STREAM[kind], (kind, names)
        for i in range(STREAMS):
            app = await kube.get(t.SPARK_APP, ns, f"telemetra-s{i}") or {}
            assert app["metadata"]["generation"] == 1, "the restart re-patched (restarted) a Spark job"
            assert len(app["metadata"]["ownerReferences"]) == 1
        stream = await t.get_stream(kube, ns, "s0")
        assert stream["metadata"]["finalizers"] == ["telemetra.io/finalizer"]
