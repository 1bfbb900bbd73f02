"""The operator works with exactly the permissions in ``rbac.yaml``: it runs as a ServiceAccount (a bound
token from the TokenRequest API) bound to those Roles, converges a stream, and cleans it up, with no request
refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from telemetra.dev.kube.cluster import KubeCluster
from telemetra.dev.testing import operator as t
from telemetra.operator.__main__ import rbac_text
from telemetra.operator.kube import Kube, kind_for

from .conftest import Namespaces


def rbac_documents(spaces: Namespaces) -> list[dict[str, Any]]:
    """``rbac.yaml`` with its two namespaces set to this test's (as the chart templates it)."""
    text = rbac_text().replace("namespace: telemetra", f"namespace: {spaces.streams}")
    text = text.replace("namespace: kafka", f"namespace: {spaces.kafka}")
    return [doc for doc in yaml.safe_load_all(text) if doc]


async def test_the_operator_needs_nothing_beyond_its_rbac(
    kube: Kube, namespaces: Namespaces, kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    ns = namespaces.streams
    documents = rbac_documents(namespaces)
    assert {d["kind"] for d in documents} == {"ServiceAccount", "Role", "RoleBinding"}  # nothing cluster-wide
    for doc in documents:
        await kube.create(doc)
        assert await kube.get(kind_for(doc), doc["metadata"]["namespace"], doc["metadata"]["name"])
    kubeconfig = await t.service_account_kubeconfig(
        kube, kube_cluster.server, kube_cluster.ca_file, ns, tmp_path / "kubeconfig"
    )

    env = kube_cluster.env()
    env["KUBECONFIG"] = str(kubeconfig)
    # with leader election, so the Lease rule is exercised too
    election = {"TELEMETRA_OPERATOR_LEADER_ELECTION": "true"}
    process = t.OperatorProcess(env, ns, namespaces.kafka, tmp_path / "operator.log", extra_env=election)
    with process:
        await t.wait_for(lambda: t.operator_alive(process), within=30, what="operator liveness")
        stream = await t.run_ready(kube, ns, namespaces.kafka, t.stream_manifest("guarded"))
        assert stream["status"].get("lastError") is None
        await kube.patch(t.STREAM, ns, "guarded", {"spec": {"dashboard": {"enabled": False}}})

        async def dashboard_removed() -> bool:
            return await kube.get(t.CONFIG_MAP, ns, "telemetra-guarded-dashboard") is None

        await t.wait_for(dashboard_removed, within=10, what="dashboard removed (configmaps: delete)")
        assert (await t.get_stream(kube, ns, "guarded"))["metadata"]["finalizers"] == [
            "telemetra.io/finalizer"
        ]
        await kube.delete(t.STREAM, ns, "guarded")

        async def gone() -> bool:
            stream_left = await kube.get(t.STREAM, ns, "guarded")
            topic_left = await kube.get(t.KAFKA_TOPIC, namespaces.kafka, "telemetra.guarded.events")
            return stream_left is None and topic_left is None

        await t.wait_for(gone, within=20, what="stream and topics deleted")
    log = process.log()
    assert "Forbidden" not in log and " 403" not in log, log[-5000:]
