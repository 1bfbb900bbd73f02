"""`helm install` of the chart, third-party operators disabled (ci/minimal-values.yaml: external Kafka, the
built-in PostgreSQL and Redis), into the real test API server (kube-apiserver, controller manager, scheduler,
kwok: pods become Ready without running). Every rendered object is created and accepted by the API server's
own validation (including the CRD's CEL rules for the example streams); then the operator, run as a process
with the chart's ServiceAccount token and the chart's TELEMETRA_OPERATOR_* settings, reconciles an example
stream there. Strimzi's Topic Operator and the Spark operator are played by status patches
(telemetra.dev.testing.operator), as in the operator's own tests."""

from __future__ import annotations

import base64
import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from telemetra.dev.kube.cluster import KubeCluster
from telemetra.dev.testing import operator as t
from telemetra.operator.kube import kind_of

Chart = Any  # conftest.Chart
RELEASE = "telemetra"
POOL = kind_of("telemetra.io/v1alpha1", "TelemetraPool")
PERSISTENT_VOLUMES = 2  # PostgreSQL's data and the Spark checkpoints (no provisioner in the test cluster)


@dataclass
class Installed:
    namespace: str
    values: Path
    manifest: list[dict[str, Any]]
    run: Any  # (*args) -> CompletedProcess: helm against the test cluster


def kubectl(cluster: KubeCluster, *args: str) -> str:
    return cluster.kubectl(*args, timeout=120).stdout


@pytest.fixture(scope="module")
def installed(
    kube_cluster: KubeCluster, chart: Chart, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installed]:
    namespace = t.unique("chart")
    env = kube_cluster.env()
    values = chart.path / "ci" / "minimal-values.yaml"

    def helm(*args: str) -> subprocess.CompletedProcess[str]:
        result: subprocess.CompletedProcess[str] = chart.run(*args, "--namespace", namespace, env=env)
        return result

    volumes = [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"{namespace}-{i}"},
            "spec": {
                "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "hostPath": {"path": f"/tmp/{namespace}-{i}"},
            },
        }
        for i in range(PERSISTENT_VOLUMES)
    ]
    volume_file = tmp_path_factory.mktemp("volumes") / "volumes.yaml"
    volume_file.write_text(yaml.safe_dump_all(volumes))
    kubectl(kube_cluster, "apply", "-f", str(volume_file))
    try:
        helm("install", RELEASE, str(chart.path), "--create-namespace", "--values", str(values), "--wait",
             "--timeout", "240s")  # fmt: skip
        manifest = [d for d in yaml.safe_load_all(helm("get", "manifest", RELEASE).stdout) if d]
        yield Installed(namespace, values, manifest, helm)
    finally:
        with contextlib.suppress(Exception):
            helm("uninstall", RELEASE, "--wait", "--timeout", "120s")
        kube_cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        kube_cluster.kubectl("delete", "-f", str(volume_file), "--wait=false", check=False)


def test_every_object_is_created(installed: Installed, kube_cluster: KubeCluster, tmp_path: Path) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump_all(installed.manifest))
    names = kubectl(kube_cluster, "get", "-f", str(path), "--namespace", installed.namespace, "-o", "name")
    assert len(names.split()) == len(installed.manifest)
    kinds = {d["kind"] for d in installed.manifest}
    assert {"Deployment", "StatefulSet", "NetworkPolicy", "Role", "RoleBinding", "Secret", "Service"} <= kinds
    crd = kubectl(kube_cluster, "get", "crd", "telemetrastreams.telemetra.io", "-o", "name")
    assert crd.strip() == "customresourcedefinition.apiextensions.k8s.io/telemetrastreams.telemetra.io"


def test_workloads_become_available(installed: Installed, kube_cluster: KubeCluster) -> None:
    """`--wait` returned; the controllers agree (kwok plays the kubelet, the PVCs are bound)."""
    for kind, name in (
        ("deployment", "telemetra-api"),
        ("deployment", "telemetra-operator"),
        ("statefulset", "telemetra-postgresql"),
        ("statefulset", "telemetra-redis"),
    ):
        ready = kubectl(kube_cluster, "get", kind, name, "-n", installed.namespace, "-o",
                        "jsonpath={.status.readyReplicas}/{.spec.replicas}")  # fmt: skip
        replicas = ready.split("/")[1]
        assert ready == f"{replicas}/{replicas}", f"{kind}/{name}: {ready}"
    claim = kubectl(kube_cluster, "get", "pvc", "telemetra-checkpoints", "-n", installed.namespace, "-o",
                    "jsonpath={.status.phase}")  # fmt: skip
    assert claim == "Bound"


def test_notes_tell_the_next_steps(installed: Installed) -> None:
    notes = installed.run("get", "notes", RELEASE).stdout
    ns = installed.namespace
    assert f"kubectl -n {ns} rollout status deployment/telemetra-api" in notes
    assert f"kubectl -n {ns} port-forward service/telemetra-api 8000:80" in notes
    assert "charts/telemetra/examples/streams/demo-stream.yaml" in notes


def secret_data(kube_cluster: KubeCluster, namespace: str, name: str) -> dict[str, str]:
    data = yaml.safe_load(kubectl(kube_cluster, "get", "secret", name, "-n", namespace, "-o", "yaml"))["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def test_upgrade_keeps_the_generated_passwords(
    installed: Installed, kube_cluster: KubeCluster, chart: Chart
) -> None:
    before = {
        n: secret_data(kube_cluster, installed.namespace, n)
        for n in ("telemetra-postgresql", "telemetra-redis")
    }
    installed.run("upgrade", RELEASE, str(chart.path), "--values", str(installed.values),
                  "--set", "api.logLevel=DEBUG", "--wait", "--timeout", "240s")  # fmt: skip
    after = {n: secret_data(kube_cluster, installed.namespace, n) for n in before}
    assert after == before
    assert before["telemetra-postgresql"]["url"].startswith("postgresql://telemetra:")


def operator_environment(installed: Installed) -> dict[str, str]:
    """The plain variables of the operator container the chart deployed. Its one Secret reference, the alert
    outbox's database (the release's PostgreSQL, which no pod runs here), is left out."""
    (deployment,) = [
        d
        for d in installed.manifest
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "telemetra-operator"
    ]
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [var["name"] for var in env if "value" not in var] == ["TELEMETRA_OPERATOR_ALERTS_OUTBOX_URL"]
    return {var["name"]: var["value"] for var in env if "value" in var}


async def test_the_operator_reconciles_an_example_stream_with_the_chart_identity(
    installed: Installed, kube_cluster: KubeCluster, chart: Chart, tmp_path: Path
) -> None:
    ns = installed.namespace
    kube = t.client(kube_cluster.server, kube_cluster.ca_file, kube_cluster.token)
    try:
        kubeconfig = await t.service_account_kubeconfig(
            kube, kube_cluster.server, kube_cluster.ca_file, ns, tmp_path / "kubeconfig"
        )
        chart_env = operator_environment(installed)
        assert chart_env["TELEMETRA_OPERATOR_WATCH_NAMESPACE"] == ns
        kafka_ns = chart_env["TELEMETRA_OPERATOR_KAFKA_NAMESPACE"]
        env = {**kube_cluster.env(), **chart_env, "KUBECONFIG": str(kubeconfig)}
        # The chart's settings, except ports (free ones here) and faster convergence for the test.
        process = t.OperatorProcess(env, ns, kafka_ns, tmp_path / "operator.log")
        with process:
            await t.wait_for(
                lambda: t.operator_alive(process), within=60, what="operator liveness (/healthz)"
            )
            manifest = yaml.safe_load((chart.path / "examples" / "streams" / "demo-stream.yaml").read_text())
            stream = await t.run_ready(kube, ns, kafka_ns, manifest)
            assert stream["status"].get("lastError") is None

            async def pool_observed() -> bool:  # the chart's default pool: watched and its status written
                pool = await kube.get(POOL, ns, "default")
                return bool(pool and (pool.get("status") or {}).get("observedGeneration") == 1)

            await t.wait_for(pool_observed, within=30, what="the default pool's status")

            app = await kube.get(t.SPARK_APP, ns, "telemetra-demo")
            assert app is not None
            spec = app["spec"]
            assert spec["image"] == chart_env["TELEMETRA_OPERATOR_SPARK_IMAGE"]
            assert spec["sparkVersion"] == chart_env["TELEMETRA_OPERATOR_SPARK_VERSION"]
            assert spec["driver"]["serviceAccount"] == "telemetra-spark"
            assert "deps" not in spec  # the connector is baked into the image: nothing resolved at submission
            conf = spec["sparkConf"]
            assert (
                conf["spark.kubernetes.driver.secretKeyRef.TELEMETRA_STORE_URL"] == "telemetra-postgresql:url"
            )
            assert conf["spark.kubernetes.executor.secretKeyRef.TELEMETRA_CACHE_URL"] == "telemetra-redis:url"
            claims = {k: v for k, v in conf.items() if k.endswith(".options.claimName")}
            assert set(claims.values()) == {"telemetra-checkpoints"}
            assert "--kafka-bootstrap" in spec["arguments"]
            bootstrap = spec["arguments"][spec["arguments"].index("--kafka-bootstrap") + 1]
            assert bootstrap == chart_env["TELEMETRA_OPERATOR_KAFKA_BOOTSTRAP"]

            producer = await kube.get(t.DEPLOYMENT, ns, "telemetra-demo-producer")
            assert producer is not None
            container = producer["spec"]["template"]["spec"]["containers"][0]
            assert container["image"] == chart_env["TELEMETRA_OPERATOR_PRODUCER_IMAGE"]
            topic = await kube.get(t.KAFKA_TOPIC, kafka_ns, "telemetra.demo.events")
            assert topic is not None
            assert (
                topic["metadata"]["labels"]["strimzi.io/cluster"]
                == chart_env["TELEMETRA_OPERATOR_KAFKA_CLUSTER"]
            )

            # The chart's NetworkPolicies admit the operator's pods: they carry the label the policies allow.
            labels = producer["spec"]["template"]["metadata"]["labels"]
            assert labels["app.kubernetes.io/part-of"] == "telemetra"

            await kube.delete(t.STREAM, ns, "demo")

            async def gone() -> bool:
                left = await kube.get(t.STREAM, ns, "demo")
                topic_left = await kube.get(t.KAFKA_TOPIC, kafka_ns, "telemetra.demo.events")
                return left is None and topic_left is None

            await t.wait_for(gone, within=30, what="stream deleted and its topics cleaned up")
        log = process.log()
        assert "Forbidden" not in log and " 403" not in log, log[-5000:]
    finally:
        await kube.close()


def test_uninstall_keeps_what_outlives_the_release(installed: Installed, kube_cluster: KubeCluster) -> None:
    """Last in this module: the PostgreSQL credentials, the checkpoints and the pools stay (resource-policy:
    keep), as the data they belong to does."""
    installed.run("uninstall", RELEASE, "--wait", "--timeout", "120s")
    ns = installed.namespace
    assert secret_data(kube_cluster, ns, "telemetra-postgresql")["password"]
    kept = kubectl(kube_cluster, "get", "pvc", "telemetra-checkpoints", "-n", ns, "-o", "name")
    assert kept.strip() == "persistentvolumeclaim/telemetra-checkpoints"
    pool = kubectl(kube_cluster, "get", "telemetrapool", "default", "-n", ns, "-o", "name")
    assert pool.strip() == "telemetrapool.telemetra.io/default"  # its topics hold the streams' events
    gone = kube_cluster.kubectl("get", "deployment", "telemetra-api", "-n", ns, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    assert kube_cluster.kubectl("get", "secret", "telemetra-redis", "-n", ns, check=False).returncode != 0
