"""The policy of what a stream may run (``policy.py``): the Spark settings allowlist and the allowed image
registries, enforced at admission (the CRD's CEL rules, in ``test_validation.py``; the chart's
ValidatingAdmissionPolicy here, rendered by helm and installed in a real API server) and by the operator (a
stream the API server admitted anyway is Failed with ``PolicyViolation`` and runs no Spark job)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from telemetra.dev.testing import operator as t
from telemetra.operator import crd, policy
from telemetra.operator.builders import spark
from telemetra.operator.kube import Kube, KubeError
from telemetra.operator.settings import OperatorSettings
from telemetra.operator.spec import Spark, TelemetraStreamSpec

from .conftest import REPO, Namespaces

ADMISSION = "/apis/admissionregistration.k8s.io/v1"
DIGEST = "sha256:" + "0" * 64


def spec(**spark_spec: Any) -> Spark:
    return TelemetraStreamSpec.model_validate(
        {"streamId": "s", "source": {"type": "mock", "mock": {}}, "spark": spark_spec}
    ).spark


# -- the policy itself ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "key",
    [
        "spark.kubernetes.driver.volumes.hostPath.root.mount.path",
        "spark.kubernetes.executor.volumes.persistentVolumeClaim.x.options.claimName",
        "spark.kubernetes.authenticate.driver.serviceAccountName",
        "spark.kubernetes.executor.podTemplateFile",
        "spark.kubernetes.container.image",
        "spark.kubernetes.driver.secretKeyRef.X",
        "spark.jars",
        "spark.jars.ivy",
        "spark.files",
        "spark.archives",
        "spark.submit.pyFiles",
        "spark.driver.extraJavaOptions",
        "spark.driver.extraClassPath",
        "spark.executor.extraJavaOptions",
        "spark.executor.extraLibraryPath",
        "spark.hadoop.fs.s3a.access.key",
        "spark.executorEnv.LD_PRELOAD",
        "spark.pyspark.python",
        "spark.python.worker.module",
        "spark.python.daemon.module",
        "spark.sql.streaming.checkpointLocation",
        "spark.sql.streaming.streamingQueryListeners",
        "spark.eventLog.dir",
        "spark.metrics.conf.*.sink.x.class",
        "spark.master",
    ],
)
def test_dangerous_keys_are_refused(key: str) -> None:
    assert not policy.spark_conf_key_allowed(key)
    (message,) = policy.violations(spec(sparkConf={key: "x"}), ["telemetra"])
    assert message.startswith(f"spec.spark.sparkConf: key {key} is not allowed; allowed: ")


def test_tuning_keys_are_allowed_and_class_values_are_checked() -> None:
    tuning = {
        "spark.sql.shuffle.partitions": "8",
        "spark.executor.memoryOverhead": "1g",
        "spark.driver.memory": "2g",
        "spark.memory.offHeap.size": "512m",
        "spark.sql.streaming.stateStore.rocksdb.compactOnCommit": "true",
        "spark.sql.streaming.stateStore.providerClass": policy.SPARK_CONF_VALUES[
            "spark.sql.streaming.stateStore.providerClass"
        ][1],
    }
    assert policy.violations(spec(sparkConf=tuning), ["telemetra"]) == []
    (message,) = policy.violations(
        spec(sparkConf={"spark.sql.streaming.stateStore.providerClass": "com.evil.Provider"}), ["telemetra"]
    )
    assert "providerClass must be one of" in message


def test_the_crd_carries_the_same_allowlist() -> None:
    schema = crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    conf = schema["properties"]["spec"]["properties"]["spark"]["properties"]["sparkConf"]
    assert conf["x-kubernetes-validations"] == policy.spark_conf_rules()
    assert policy.allowed_spark_conf() in conf["description"]
    for key in (*policy.SPARK_CONF_KEYS, *policy.SPARK_CONF_PREFIXES):
        assert f"'{key}'" in conf["x-kubernetes-validations"][0]["rule"]


@pytest.mark.parametrize(
    ("image", "allowed", "ok"),
    [
        ("ghcr.io/telemetra/telemetra-spark:0.2.0", ["ghcr.io/telemetra"], True),
        ("ghcr.io/telemetra/telemetra-spark:0.2.0", ["ghcr.io/telemetra/"], True),
        (f"ghcr.io/telemetra/team/spark@{DIGEST}", ["ghcr.io/telemetra"], True),
        ("ghcr.io/telemetra-evil/spark:1", ["ghcr.io/telemetra"], False),
        ("ghcr.io/telemetraspark:1", ["ghcr.io/telemetra"], False),
        ("evil.example.com/ghcr.io/telemetra/spark:1", ["ghcr.io/telemetra"], False),
        ("telemetra-spark:dev", ["telemetra-spark"], True),
        ("telemetra-spark-evil:dev", ["telemetra-spark"], False),
        ("localhost:5000/spark:1", ["localhost"], False),
        ("localhost/spark:1", ["localhost"], True),
        ("docker.io/library/spark:4", ["ghcr.io/telemetra", "docker.io/library/spark"], True),
        ("anything:1", [], False),
    ],
)
def test_images_are_allowed_below_an_entry_only(image: str, allowed: list[str], ok: bool) -> None:
    assert policy.image_allowed(image, allowed) is ok
    found = policy.violations(spec(image=image, version="4.2.0"), allowed)
    assert (found == []) is ok
    if not ok:
        assert found == [policy.image_message(image, allowed)]
        assert found[0].startswith(f"spec.spark.image: {image} is not from an allowed registry")


def test_the_default_allowlist_is_the_path_of_the_operators_own_spark_image() -> None:
    assert OperatorSettings().image_registries == ["telemetra"]
    assert OperatorSettings(spark_image="ghcr.io/telemetra/telemetra-spark:0.1.0").image_registries == [
        "ghcr.io/telemetra"
    ]
    assert OperatorSettings(spark_image="telemetra-spark:dev").image_registries == ["telemetra-spark"]
    assert OperatorSettings(spark_image=f"localhost:5000/spark@{DIGEST}").image_registries == [
        "localhost:5000"
    ]
    configured = OperatorSettings(allowed_registries=["registry.example.com/team"])
    assert configured.image_registries == ["registry.example.com/team"]


def test_the_spark_pods_are_locked_down_and_keep_writable_scratch_space() -> None:
    body = {
        "metadata": {"name": "s", "namespace": "team", "uid": "u", "generation": 1},
        "spec": {"streamId": "s", "source": {"type": "mock", "mock": {}}},
    }
    from telemetra.operator.stream import Stream

    app = spark.build_spark_spec(Stream.from_body(body, OperatorSettings()))
    for role in ("driver", "executor"):
        pod, container = app[role]["podSecurityContext"], app[role]["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 185 and pod["fsGroup"] == 185
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["allowPrivilegeEscalation"] is False and container["readOnlyRootFilesystem"] is True
        assert container["capabilities"] == {"drop": ["ALL"]}
        for name, path in spark.SCRATCH_VOLUMES.items():
            assert app["sparkConf"][f"spark.kubernetes.{role}.volumes.emptyDir.{name}.mount.path"] == path


# -- admission: the chart's ValidatingAdmissionPolicy --------------------------------------------------------
def render_policy(helm: Path, namespace: str, release: str, allowed: list[str]) -> list[dict[str, Any]]:
    args = [
        str(helm), "template", release, str(REPO / "charts" / "telemetra"), "--namespace", namespace,
        "--kube-version", "1.35.0", "--show-only", "templates/operator/admission-policy.yaml",
        "--set", f"operator.allowedImageRegistries={{{','.join(allowed)}}}",
    ]  # fmt: skip
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _plural(obj: dict[str, Any]) -> str:
    return {"ValidatingAdmissionPolicy": "validatingadmissionpolicies"}.get(
        obj["kind"], "validatingadmissionpolicybindings"
    )


@contextlib.asynccontextmanager
async def installed_policy(kube: Kube, namespace: str, helm: Path, allowed: list[str]) -> AsyncIterator[None]:
    """The chart's policy and binding, rendered for a release in ``namespace`` (the chart binds the policy to
    the release namespace); removed afterwards (they are cluster-scoped)."""
    docs = render_policy(helm, namespace, t.unique("vap"), allowed)
    assert [d["kind"] for d in docs] == ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
    try:
        for doc in docs:
            await kube.request("POST", f"{ADMISSION}/{_plural(doc)}", body=doc)
        yield
    finally:
        for doc in docs:
            with contextlib.suppress(KubeError):
                await kube.request("DELETE", f"{ADMISSION}/{_plural(doc)}/{doc['metadata']['name']}")


def _stream(namespace: str, name: str, image: str) -> dict[str, Any]:
    manifest = t.stream_manifest(name, spark={"image": image, "version": "4.2.0"})
    manifest["metadata"]["namespace"] = namespace
    return manifest


async def test_an_image_from_another_registry_is_refused_at_admission(
    kube: Kube, namespaces: Namespaces, helm_binary: Path
) -> None:
    ns = namespaces.streams
    # A stream from before the policy (or the operator's upgrade) keeps its image through later updates.
    await kube.create(_stream(ns, "legacy", "docker.io/someone/spark:1"))
    allowed = ["registry.example.com/telemetra"]
    async with installed_policy(kube, ns, helm_binary, allowed):
        evil = "evil.example.com/miner:1"

        async def refused() -> KubeError | None:
            try:
                await kube.request(
                    "POST", t.STREAM.path(ns), body=_stream(ns, "probe", evil), params={"dryRun": "All"}
                )
            except KubeError as exc:
                return exc
            return None  # the API server has not loaded the policy yet

        error = await t.wait_for(refused, within=30, interval=0.5, what="the admission policy in effect")
        assert error.status == 422, error
        assert (
            f"spec.spark.image: {evil} is not from an allowed registry; allowed: {allowed[0]}"
            in error.message
        )
        assert "ValidatingAdmissionPolicy" in error.message

        for image in ("registry.example.com/telemetra-evil/spark:1", "registry.example.com/spark:1"):
            with pytest.raises(KubeError) as caught:
                await kube.create(_stream(ns, "near-miss", image))
            assert caught.value.status == 422 and f"spec.spark.image: {image}" in caught.value.message
        for name, image in [
            ("tagged", "registry.example.com/telemetra/telemetra-spark:0.2.0"),
            ("pinned", f"registry.example.com/telemetra/team/spark@{DIGEST}"),
        ]:
            await kube.create(_stream(ns, name, image))
        no_image = t.stream_manifest("default-image")
        await kube.create({**no_image, "metadata": {**no_image["metadata"], "namespace": ns}})

        suspended = await kube.patch(t.STREAM, ns, "legacy", {"spec": {"state": "suspended"}})
        assert suspended["spec"]["state"] == "suspended"
        with pytest.raises(KubeError) as caught:
            await kube.patch(
                t.STREAM, ns, "legacy", {"spec": {"spark": {"image": "docker.io/someone/spark:2"}}}
            )
        assert caught.value.status == 422 and "spec.spark.image" in caught.value.message


# -- the operator ------------------------------------------------------------------------------------------
async def test_the_operator_refuses_an_image_from_another_registry_and_runs_no_job(
    kube: Kube, namespaces: Namespaces, operator_process: t.OperatorProcess
) -> None:
    """No admission policy in this namespace: the operator's own check (its default allowlist is the path of its
    Spark image, ``telemetra``). A job that runs is deleted when its stream turns to a refused image."""
    ns = namespaces.streams
    await t.wait_for(lambda: t.operator_alive(operator_process), within=30, what="operator liveness")
    await t.run_ready(kube, ns, namespaces.kafka, t.stream_manifest("img"))
    assert await kube.get(t.SPARK_APP, ns, "telemetra-img") is not None

    evil = "evil.example.com/miner:1"
    await kube.patch(t.STREAM, ns, "img", {"spec": {"spark": {"image": evil, "version": "4.2.0"}}})
    stream = await t.wait_condition(kube, ns, "img", "ProcessorReady", "False", reason="PolicyViolation")
    message = t.condition(stream, "ProcessorReady")["message"]
    assert message == f"spec.spark.image: {evil} is not from an allowed registry; allowed: telemetra"
    assert stream["status"]["lifecycleState"] == "Failed"
    assert t.condition(stream, "Ready")["reason"] == "PolicyViolation"

    async def job_gone() -> bool:
        return await kube.get(t.SPARK_APP, ns, "telemetra-img") is None

    await t.wait_for(job_gone, within=10, what="the refused stream's SparkApplication deleted")
    events = await t.events_for(kube, ns, "img")
    assert any(e["reason"] == "PolicyViolation" and "spec.spark.image" in e["message"] for e in events)

    allowed = "telemetra/telemetra-spark:0.2.0"
    await kube.patch(t.STREAM, ns, "img", {"spec": {"spark": {"image": allowed}}})

    async def job_back() -> dict[str, Any] | None:
        return await kube.get(t.SPARK_APP, ns, "telemetra-img")

    app = await t.wait_for(job_back, within=10, what="the SparkApplication with an allowed image")
    assert app["spec"]["image"] == allowed
