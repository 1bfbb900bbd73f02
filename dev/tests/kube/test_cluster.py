"""The local Kubernetes control plane is real: it serves the API, enforces the upstream CRD schemas, runs
Deployments to Available (controller manager + scheduler + kwok), helm talks to it, and stop kills exactly our
processes."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from telemetra.dev.kube.binaries import HELM_VERSION, KUBE_VERSION
from telemetra.dev.kube.cluster import NODE_NAME, KubeCluster, upstream_crds
from telemetra.dev.localstack.process import port_open

UPSTREAM_CRD_NAMES = {
    "kafkas.kafka.strimzi.io",
    "kafkatopics.kafka.strimzi.io",
    "kafkanodepools.kafka.strimzi.io",
    "kafkausers.kafka.strimzi.io",
    "sparkapplications.sparkoperator.k8s.io",
    "scheduledsparkapplications.sparkoperator.k8s.io",
    "servicemonitors.monitoring.coreos.com",
    "podmonitors.monitoring.coreos.com",
    "clusters.postgresql.cnpg.io",
    "grafanadashboards.grafana.integreatly.org",
}


@pytest.fixture
def api(kube_cluster: KubeCluster) -> Any:
    return kube_cluster.api_client()


@pytest.fixture
def namespace(api: Any) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        core.delete_namespace(name)


def test_api_server_answers_readyz_and_reports_its_version(kube_cluster: KubeCluster) -> None:
    context = ssl.create_default_context(cafile=str(kube_cluster.ca_file))
    for path in ("/readyz", "/version"):
        request = urllib.request.Request(
            kube_cluster.server + path, headers={"Authorization": f"Bearer {kube_cluster.token}"}
        )
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            assert response.status == 200
            body = response.read().decode()
        if path == "/readyz":
            assert body == "ok"
        else:
            assert json.loads(body)["gitVersion"] == KUBE_VERSION
    assert kube_cluster.server.startswith("https://127.0.0.1:")
    assert "KUBECONFIG" not in os.environ or os.environ["KUBECONFIG"] != str(kube_cluster.kubeconfig)
    # kubectl, through env() (the kubeconfig with CA and token), sees the same server and the kwok node
    assert kube_cluster.kubectl("get", "--raw", "/readyz").stdout == "ok"
    nodes = kube_cluster.kubectl("get", "nodes", "-o", "name").stdout.split()
    assert nodes == [f"node/{NODE_NAME}"]


def test_upstream_crds_are_vendored_and_established(kube_cluster: KubeCluster, api: Any) -> None:
    assert len(upstream_crds()) == len(UPSTREAM_CRD_NAMES)
    listed = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
    items = {crd.metadata.name: crd for crd in listed if crd.metadata is not None}
    assert set(items) >= UPSTREAM_CRD_NAMES
    for name in UPSTREAM_CRD_NAMES:
        status = items[name].status
        assert status is not None
        conditions = {c.type: c.status for c in status.conditions or []}
        assert conditions["Established"] == "True", name
    assert [v.name for v in items["kafkatopics.kafka.strimzi.io"].spec.versions] == ["v1"]
    # applying again is an update, not an error
    assert kube_cluster.apply_crds(upstream_crds()[:1]) == [
        _crd_name(upstream_crds()[0]),
    ]


def _crd_name(path: Path) -> str:
    import yaml  # type: ignore[import-untyped,unused-ignore]

    name: str = yaml.safe_load(path.read_text())["metadata"]["name"]
    return name


def _topic(name: str, partitions: object) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {"name": name, "labels": {"strimzi.io/cluster": "telemetra"}},
        "spec": {"partitions": partitions, "replicas": 1, "config": {"retention.ms": 3600000}},
    }


def test_the_real_schema_rejects_an_invalid_kafka_topic(api: Any, namespace: str) -> None:
    custom = client.CustomObjectsApi(api)
    args = ("kafka.strimzi.io", "v1", namespace, "kafkatopics")
    created: Any = custom.create_namespaced_custom_object(*args, _topic("good", 3))
    assert created["spec"]["partitions"] == 3

    with pytest.raises(ApiException) as rejected:
        custom.create_namespaced_custom_object(*args, _topic("bad", "three"))
    assert rejected.value.status == 422
    reason = str(rejected.value.body)
    assert "spec.partitions" in reason
    assert "integer" in reason
    listed: Any = custom.list_namespaced_custom_object(*args)
    names = [item["metadata"]["name"] for item in listed["items"]]
    assert names == ["good"]


def test_a_deployment_becomes_available_without_containers(api: Any, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        containers=[client.V1Container(name="web", image="registry.invalid/web:1")]
                    ),
                ),
            ),
        ),
    )
    deadline = time.monotonic() + 90
    while True:
        status: Any = apps.read_namespaced_deployment_status("web", namespace).status
        conditions = {c.type: c.status for c in status.conditions or []}
        if status.available_replicas == 2 and conditions.get("Available") == "True":
            break
        assert time.monotonic() < deadline, f"deployment not available: {status}"
        time.sleep(0.25)
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 2
    for pod in pods:
        assert pod.spec is not None and pod.status is not None
        assert pod.spec.node_name == NODE_NAME  # bound by kube-scheduler
        assert pod.status.phase == "Running"  # reported by kwok
        assert pod.spec.service_account_name == "default"  # created by kube-controller-manager


def test_helm_is_v3_22_and_assumes_kubernetes_1_35(
    kube_cluster: KubeCluster, helm_binary: Path, tmp_path: Path
) -> None:
    helm = str(helm_binary)
    env = {
        **kube_cluster.env(),
        "HELM_CACHE_HOME": str(tmp_path / "cache"),
        "HELM_CONFIG_HOME": str(tmp_path),
    }
    version = subprocess.run(
        [helm, "version", "--short"], capture_output=True, text=True, check=True, env=env
    )
    assert version.stdout.startswith(HELM_VERSION + "+") or version.stdout.strip() == HELM_VERSION

    chart = tmp_path / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        'apiVersion: v2\nname: probe\nversion: 0.1.0\nkubeVersion: ">=1.35.0-0"\n'
    )
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n"
        "data:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
    )
    offline = subprocess.run(
        [helm, "template", "probe", str(chart)], capture_output=True, text=True, check=True, env=env
    )
    assert 'kube: "v1.35.0"' in offline.stdout
    # against the live server helm sees its real version
    live = subprocess.run(
        [helm, "template", "probe", str(chart), "--validate"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert f'kube: "{KUBE_VERSION}"' in live.stdout


def test_stop_kills_exactly_our_processes_and_frees_the_ports(kube_cluster: KubeCluster) -> None:
    other = KubeCluster(crds=())
    try:
        other.start()
        pids, ports = other.pids, dict(other.ports)
        assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
        assert not set(pids.values()) & set(kube_cluster.pids.values())
        for name in ("etcd", "apiserver", "kcm", "scheduler"):
            assert port_open(ports[name]), name
        other.stop()
        assert not other.running and other.pids == {}
        for pid in pids.values():
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        for name, port in ports.items():
            assert not port_open(port), name
        assert kube_cluster.running  # the session cluster was not touched
    finally:
        other.cleanup()
    assert not other.root.exists()
