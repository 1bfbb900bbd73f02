"""Pod Security Admission ``restricted``: every pod the operator's children make is admitted by a real API server
in a namespace that enforces it (a server-side dry run, ``dryRun=All``): the producer's pod (its Deployment's
template) for every example, and the Spark driver and executor pods as the Spark operator makes them from the
SparkApplication (image, ``securityContext``, ``podSecurityContext``, the volumes of Spark's own
``spark.kubernetes.*.volumes.*`` settings, Spark's local dir and configuration). A hostPath volume and a pod
without the securityContext are refused there, so the namespace really enforces the profile."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from telemetra.dev.testing import operator as t
from telemetra.operator.builders import producer, spark
from telemetra.operator.kube import Kube, KubeError, kind_of
from telemetra.operator.settings import OperatorSettings
from telemetra.operator.stream import Stream

POD = kind_of("v1", "Pod")
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
# A file:// checkpoint on a claim, as the chart configures it: the claim is one of the pods' volumes too.
SETTINGS = OperatorSettings(
    checkpoint_base_uri="file:///checkpoints", checkpoint_claim="telemetra-checkpoints"
)


def stream_of(example: str, namespace: str) -> Stream:
    doc = next(d for d in t.load_example(example) if d["kind"] == "TelemetraStream")
    meta = {**doc["metadata"], "namespace": namespace, "uid": "uid-1", "generation": 1}
    return Stream.from_body({**doc, "metadata": meta}, SETTINGS)


def producer_pod(stream: Stream) -> dict[str, Any]:
    """What the ReplicaSet controller creates from the producer Deployment's template."""
    deployment = producer.build_producer(stream)[-1]
    template = deployment["spec"]["template"]
    meta = {
        "name": f"{stream.producer_name}-x",
        "namespace": stream.namespace,
        "labels": template["metadata"]["labels"],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy.deepcopy(template["spec"])}


def spark_pod(stream: Stream, role: str) -> dict[str, Any]:
    """The driver or an executor pod as the Spark operator and spark-submit make it from the SparkApplication:
    its image, the role's ``podSecurityContext`` and ``securityContext`` (the Spark operator's webhook), the
    volumes of ``spark.kubernetes.<role>.volumes.<type>.<name>.*`` (spark-submit), Spark's local dir (an
    emptyDir) and, on the driver, its configuration (a ConfigMap)."""
    app = spark.build_spark_spec(stream)
    part, conf = app[role], app["sparkConf"]
    prefix = f"spark.kubernetes.{role}.volumes."
    volumes: list[dict[str, Any]] = [{"name": "spark-local-dir-1", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "spark-local-dir-1", "mountPath": "/var/data/spark-1"}]
    for key, path in sorted(conf.items()):
        if not (key.startswith(prefix) and key.endswith(".mount.path")):
            continue
        kind, name = key.removeprefix(prefix).split(".")[:2]
        if kind == "emptyDir":
            source: dict[str, Any] = {"emptyDir": {}}
        elif kind == "persistentVolumeClaim":
            source = {
                "persistentVolumeClaim": {"claimName": conf[f"{prefix}{kind}.{name}.options.claimName"]}
            }
        else:
            raise AssertionError(f"the operator mounts a {kind} volume: {key}")
        volumes.append({"name": name, **source})
        mounts.append({"name": name, "mountPath": path})
    if role == "driver":
        volumes.append(
            {"name": "spark-conf-volume-driver", "configMap": {"name": f"{stream.spark_name}-conf"}}
        )
        mounts.append({"name": "spark-conf-volume-driver", "mountPath": "/opt/spark/conf"})
    container = {
        "name": f"spark-kubernetes-{role}",
        "image": app["image"],
        "args": ["driver", "--properties-file", "/opt/spark/conf/spark.properties"]
        if role == "driver"
        else ["executor"],
        "resources": {"requests": {"cpu": str(part["cores"])}, "limits": {"memory": "1408Mi"}},
        "securityContext": part["securityContext"],
        "volumeMounts": mounts,
    }
    meta = {"name": f"{stream.spark_name}-{role}", "namespace": stream.namespace, "labels": part["labels"]}
    pod_spec = {
        "serviceAccountName": app["driver"]["serviceAccount"],
        "restartPolicy": "Never",
        "securityContext": part["podSecurityContext"],
        "containers": [container],
        "volumes": volumes,
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}


@pytest.fixture
async def restricted(kube: Kube) -> AsyncIterator[str]:
    """A namespace enforcing the ``restricted`` profile, with the ServiceAccounts the pods name."""
    name = t.unique("psa")
    await kube.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": RESTRICTED}}
    )
    try:
        await kube.create(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": SETTINGS.spark_service_account, "namespace": name},
            }
        )
        yield name
    finally:
        await t.delete_namespace(kube, name)


async def dry_run(kube: Kube, pod: dict[str, Any]) -> dict[str, Any]:
    """A server-side dry run of creating the pod; retried while the API server's ServiceAccount admission has not
    seen the pod's (just created) ServiceAccount yet."""
    deadline = time.monotonic() + 15
    while True:
        try:
            created: dict[str, Any] = await kube.request(
                "POST", POD.path(pod["metadata"]["namespace"]), body=pod, params={"dryRun": "All"}
            )
            return created
        except KubeError as exc:
            if "error looking up service account" not in exc.message or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_producer_pods_of_every_example_are_admitted_as_restricted(kube: Kube, restricted: str) -> None:
    for example in t.example_names():
        stream = stream_of(example, restricted)
        account = producer.build_service_account(stream)
        # owned by no real stream here: an ownerReference to one would have the garbage collector delete it
        account["metadata"].pop("ownerReferences", None)
        if await kube.get(kind_of("v1", "ServiceAccount"), restricted, account["metadata"]["name"]) is None:
            await kube.create(account)
        pod = producer_pod(stream)
        admitted = await dry_run(kube, pod)
        security = admitted["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001, example
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, example
        for container in [*admitted["spec"]["containers"], *admitted["spec"].get("initContainers", [])]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, (
                example,
                container["name"],
            )
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("role", ["driver", "executor"])
async def test_spark_pods_are_admitted_as_restricted(kube: Kube, restricted: str, role: str) -> None:
    for example in t.example_names():
        pod = spark_pod(stream_of(example, restricted), role)
        admitted = await dry_run(kube, pod)
        security = admitted["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] == 185, example
        (container,) = admitted["spec"]["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        mounted = {m["mountPath"] for m in container["volumeMounts"]}
        assert {
            "/tmp",
            "/opt/spark/work-dir",
            "/checkpoints",
        } <= mounted  # writable despite the read-only root


async def test_the_namespace_really_enforces_restricted(kube: Kube, restricted: str) -> None:
    """What the sparkConf policy keeps out (a hostPath) and a pod without the securityContext are refused."""
    pod = spark_pod(stream_of("minimal", restricted), "driver")
    host = copy.deepcopy(pod)
    host["spec"]["volumes"].append({"name": "root", "hostPath": {"path": "/"}})
    host["spec"]["containers"][0]["volumeMounts"].append({"name": "root", "mountPath": "/host"})
    bare = copy.deepcopy(pod)
    del bare["spec"]["securityContext"], bare["spec"]["containers"][0]["securityContext"]
    for what, refused in [("hostPath", host), ("no securityContext", bare)]:
        with pytest.raises(KubeError) as caught:
            await dry_run(kube, refused)
        assert caught.value.status == 403, what
        assert 'violates PodSecurity "restricted:latest"' in caught.value.message, what
