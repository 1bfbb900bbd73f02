"""Operator test fixtures: ``kube_cluster`` (a real Kubernetes API server with controller manager, scheduler,
kwok and the upstream CRDs; one per session) and ``helm_binary``.

The TelemetraStream operator's fixtures (``telemetra_crd``, ``kube``, ``namespaces``, ``operator_process``)
simulate nothing but the Topic Operator and the Spark operator, whose status the tests write themselves
(``telemetra.dev.testing.operator``). Real: the API server with our CRD from the chart, the controller manager
(garbage collection, Deployments), kwok (pods become Ready) and the operator, run as a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from telemetra.dev.kube.cluster import KubeCluster
from telemetra.dev.localstack.pytest_services import postgres_server
from telemetra.dev.testing import operator as t
from telemetra.operator.crd import CHART_PATH, POOL_CHART_PATH
from telemetra.operator.kube import Kube, KubeError

pytest_plugins = ["telemetra.dev.kube.pytest_plugin"]

REPO = Path(__file__).resolve().parents[2]
__all__ = ["postgres_server"]  # a session fixture: a real PostgreSQL (the alert outbox's), on first use


@dataclass(frozen=True)
class Namespaces:
    streams: str  # where the TelemetraStreams and their same-namespace children live
    kafka: str  # where the KafkaTopics go (the Kafka cluster's namespace)


@pytest.fixture(scope="session")
def telemetra_crd(kube_cluster: KubeCluster) -> str:
    """The CRDs exactly as the chart ships them (the stream's name is returned), once the garbage collector
    handles owners of their kinds."""
    name, _ = kube_cluster.apply_crds([REPO / CHART_PATH, REPO / POOL_CHART_PATH])
    asyncio.run(_wait_for_garbage_collection(kube_cluster))
    return name


async def _wait_for_garbage_collection(cluster: KubeCluster) -> None:
    """The controller manager's garbage collector discovers new resource kinds periodically (about every
    30 s); until then, deleting a TelemetraStream leaves its dependents behind. Delete a canary stream with one
    dependent and wait until the collector removes it, so tests see the steady state of a real cluster."""
    kube = t.client(cluster.server, cluster.ca_file, cluster.token)
    namespace = t.unique("gc-canary")
    try:
        await t.create_namespace(kube, namespace)
        owner = await kube.create(
            {**t.stream_manifest("canary"), "metadata": {"name": "canary", "namespace": namespace}}
        )
        reference = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": "canary"}
        reference["uid"] = owner["metadata"]["uid"]
        meta = {"name": "canary", "namespace": namespace, "ownerReferences": [reference]}
        await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})
        await kube.delete(t.STREAM, namespace, "canary")

        async def collected() -> bool:
            return await kube.get(t.CONFIG_MAP, namespace, "canary") is None

        await t.wait_for(
            collected, within=180, interval=0.5, what="garbage collection of a TelemetraStream's dependent"
        )
    finally:
        await t.delete_namespace(kube, namespace)
        await kube.close()


@pytest.fixture
async def kube(kube_cluster: KubeCluster) -> AsyncIterator[Kube]:
    client = t.client(kube_cluster.server, kube_cluster.ca_file, kube_cluster.token)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def namespaces(kube: Kube, telemetra_crd: str) -> AsyncIterator[Namespaces]:
    spaces = Namespaces(t.unique("ts"), t.unique("kafka"))
    for name in (spaces.streams, spaces.kafka):
        await t.create_namespace(kube, name)
    await t.create_backend_secrets(kube, spaces.streams)
    try:
        yield spaces
    finally:
        # The operator is gone by now: release its finalizers, or the namespace would never terminate.
        with contextlib.suppress(KubeError):
            for stream in await kube.list(t.STREAM, spaces.streams):
                patch = {"metadata": {"finalizers": None}}
                await kube.patch(t.STREAM, spaces.streams, stream["metadata"]["name"], patch)
        for name in (spaces.streams, spaces.kafka):
            await t.delete_namespace(kube, name)


@pytest.fixture
def operator_process(
    kube_cluster: KubeCluster, namespaces: Namespaces, tmp_path: Path
) -> Iterator[t.OperatorProcess]:
    """The operator on this test's namespaces, resyncing every 2 s; its log is printed if the test fails."""
    process = t.OperatorProcess(
        kube_cluster.env(), namespaces.streams, namespaces.kafka, tmp_path / "operator.log"
    )
    with process:
        yield process
    print(f"--- operator log ({process.log_path}) ---\n{process.log()[-20000:]}")


@pytest.fixture
async def kafka(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    """The test's own view of the test broker (never the operator's client)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()
