"""Admission: the API server itself rejects invalid TelemetraStreams (structural schema and CEL rules of the
CRD from the chart), with a message naming the field, and fills in the defaults of valid ones."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from telemetra.analytics.config import AnalyticsConfig
from telemetra.dev.testing import operator as t
from telemetra.operator.kube import Kube, KubeError

from .conftest import Namespaces


def valid() -> dict[str, Any]:
    return t.stream_manifest("s", "s1")


def with_spec(**spec: Any) -> dict[str, Any]:
    manifest = valid()
    manifest["spec"].update(spec)
    return manifest


INVALID_ON_CREATE: list[tuple[str, dict[str, Any], list[str]]] = [
    ("stream id not a DNS label", with_spec(streamId="Bad_Id"), ["spec.streamId"]),
    ("no source", {**valid(), "spec": {"streamId": "s1"}}, ["spec.source", "Required"]),
    (
        "source.type names an absent source",
        with_spec(source={"type": "twitch", "mock": {}}),
        ["spec.source.type", "must name the source that is set"],
    ),
    (
        "two sources",
        with_spec(source={"type": "mock", "mock": {}, "twitch": {"channel": "x"}}),
        ["spec.source", "exactly one of source.mock, source.twitch and source.replay"],
    ),
    (
        "unknown source type",
        with_spec(source={"type": "youtube", "mock": {}}),
        ["spec.source.type", "youtube"],
    ),
    (
        "replay from both a ConfigMap and a URL",
        with_spec(source={"type": "replay", "replay": {"configMap": {"name": "c"}, "url": "https://x/y"}}),
        ["spec.source.replay", "exactly one of replay.configMap and replay.url"],
    ),
    (
        "replay URL not HTTP",
        with_spec(source={"type": "replay", "replay": {"url": "ftp://x"}}),
        ["spec.source.replay.url"],
    ),
    (
        "bad Twitch channel",
        with_spec(source={"type": "twitch", "twitch": {"channel": "two words"}}),
        ["spec.source.twitch.channel"],
    ),
    ("no partitions", with_spec(kafka={"partitions": 0}), ["spec.kafka.partitions"]),
    (
        "slide does not divide the window",
        with_spec(processing={"windowSeconds": 60, "slideSeconds": 7}),
        ["spec.processing.slideSeconds", "must divide"],
    ),
    (
        "viewer drop ratio above 1",
        with_spec(processing={"moments": {"viewerDrop": {"ratio": 1.5}}}),
        ["spec.processing.moments.viewerDrop.ratio"],
    ),
    ("unknown state", with_spec(state="paused"), ["spec.state", "paused"]),
    ("no executors", with_spec(spark={"executors": 0}), ["spec.spark.executors"]),
    (
        "memory not in Spark's notation",
        with_spec(spark={"driver": {"memory": "lots"}}),
        ["spec.spark.driver.memory"],
    ),
    (
        "an image without its version",
        with_spec(spark={"image": "me/spark:1"}),
        ["spec.spark.version", "together"],
    ),
    (
        "an image without a tag or digest",
        with_spec(spark={"image": "ghcr.io/telemetra/telemetra-spark", "version": "4.2.0"}),
        ["spec.spark.image"],
    ),
    (
        "an image reference with spaces",
        with_spec(spark={"image": "ghcr.io/telemetra/spark:1 --privileged", "version": "4.2.0"}),
        ["spec.spark.image"],
    ),
    *(
        (
            f"sparkConf {what}",
            with_spec(spark={"sparkConf": {"spark.sql.shuffle.partitions": "8", key: value}}),
            ["spec.spark.sparkConf", f"key {key} is not allowed", "allowed: spark.default.parallelism"],
        )
        for what, key, value in [
            (
                "mounts the node's root filesystem",
                "spark.kubernetes.driver.volumes.hostPath.x.mount.path",
                "/",
            ),
            (
                "mounts a hostPath on executors",
                "spark.kubernetes.executor.volumes.hostPath.r.options.path",
                "/",
            ),
            (
                "switches the driver's ServiceAccount",
                "spark.kubernetes.authenticate.driver.serviceAccountName",
                "default",
            ),
            (
                "sets the executors' ServiceAccount",
                "spark.kubernetes.authenticate.executor.serviceAccountName",
                "x",
            ),
            ("sets a pod template", "spark.kubernetes.driver.podTemplateFile", "/tmp/pod.yaml"),
            ("sets another image", "spark.kubernetes.container.image", "evil/miner:1"),
            ("adds jars", "spark.jars", "https://evil.example.com/x.jar"),
            ("adds packages", "spark.jars.packages", "evil:evil:1"),
            ("adds files", "spark.files", "https://evil.example.com/x"),
            ("runs commands on OOM", "spark.driver.extraJavaOptions", "-XX:OnOutOfMemoryError=sh"),
            ("extends the executors' classpath", "spark.executor.extraClassPath", "/x"),
            ("sets Hadoop credentials", "spark.hadoop.fs.s3a.secret.key", "k"),
            ("sets the executors' environment", "spark.executorEnv.LD_PRELOAD", "/x.so"),
            ("chooses the Python workers' module", "spark.python.worker.module", "os"),
            ("moves the checkpoint", "spark.sql.streaming.checkpointLocation", "/elsewhere"),
        ]
    ),
    (
        "a state store provider outside the allowed classes",
        with_spec(spark={"sparkConf": {"spark.sql.streaming.stateStore.providerClass": "com.evil.Provider"}}),
        ["spec.spark.sparkConf", "providerClass must be one of"],
    ),
    ("unknown deletion policy", with_spec(topicDeletionPolicy="archive"), ["spec.topicDeletionPolicy"]),
    (
        "unknown sensitivity",
        with_spec(processing={"moments": {"sensitivity": "extreme"}}),
        ["spec.processing.moments.sensitivity", "low", "normal", "high"],
    ),
    ("negative restart nonce", with_spec(restartNonce=-1), ["spec.restartNonce"]),
]

INVALID_ON_UPDATE: list[tuple[str, dict[str, Any], list[str]]] = [
    ("partitions shrink", {"kafka": {"partitions": 2}}, ["spec.kafka.partitions", "may only grow"]),
    ("stream id changes", {"streamId": "s2"}, ["spec.streamId", "immutable"]),
    ("replication factor changes", {"kafka": {"replicas": 2}}, ["spec.kafka.replicas", "immutable"]),
    ("topics move to another cluster", {"kafka": {"cluster": "other"}}, ["spec.kafka.cluster", "immutable"]),
    (
        "topics move to another namespace",
        {"kafka": {"namespace": "elsewhere"}},
        ["spec.kafka.namespace", "immutable"],
    ),
]


async def _rejection(kube: Kube, call: Any) -> KubeError:
    with pytest.raises(KubeError) as caught:
        await call
    return caught.value


async def test_at_least_eight_kinds_of_invalid_streams_are_rejected_naming_the_field(
    kube: Kube, namespaces: Namespaces
) -> None:
    assert len(INVALID_ON_CREATE) + len(INVALID_ON_UPDATE) >= 8
    for what, manifest, words in INVALID_ON_CREATE:
        manifest = copy.deepcopy(manifest)
        manifest["metadata"]["namespace"] = namespaces.streams
        error = await _rejection(kube, kube.create(manifest))
        assert error.status == 422, (what, error)
        for word in words:
            assert word in error.message, f"{what}: {word!r} not in {error.message!r}"

    original = valid()
    original["metadata"]["namespace"] = namespaces.streams
    original["spec"]["kafka"] = {"partitions": 3}
    await kube.create(original)
    for what, change, words in INVALID_ON_UPDATE:
        error = await _rejection(kube, kube.patch(t.STREAM, namespaces.streams, "s", {"spec": change}))
        assert error.status == 422, (what, error)
        for word in words:
            assert word in error.message, f"{what}: {word!r} not in {error.message!r}"
    grown = await kube.patch(t.STREAM, namespaces.streams, "s", {"spec": {"kafka": {"partitions": 5}}})
    assert grown["spec"]["kafka"]["partitions"] == 5


ALLOWED_SPARK_CONF = {
    "spark.sql.shuffle.partitions": "16",
    "spark.default.parallelism": "8",
    "spark.executor.memoryOverhead": "512m",
    "spark.driver.memoryOverheadFactor": "0.2",
    "spark.memory.fraction": "0.7",
    "spark.memory.offHeap.enabled": "true",
    "spark.python.worker.reuse": "true",
    "spark.sql.streaming.metricsEnabled": "true",
    "spark.sql.streaming.stateStore.providerClass": (
        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
    ),
    "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "5000",
}


async def test_allowed_spark_settings_and_images_pass(kube: Kube, namespaces: Namespaces) -> None:
    """Tuning keys, a tagged and a digest-pinned image from a registry with a port: admitted."""
    digest = "sha256:" + "a" * 64
    for name, spark in [
        ("tuned", {"sparkConf": ALLOWED_SPARK_CONF}),
        (
            "tagged",
            {"image": "registry.example.com:5000/telemetra/telemetra-spark:0.2.0", "version": "4.2.0"},
        ),
        ("pinned", {"image": f"ghcr.io/telemetra/telemetra-spark@{digest}", "version": "4.2.0"}),
        ("both", {"image": f"telemetra-spark:dev@{digest}", "version": "4.2.0"}),
    ]:
        manifest = t.stream_manifest(name, spark=spark)
        manifest["metadata"]["namespace"] = namespaces.streams
        stored = await kube.create(manifest)
        assert stored["spec"]["spark"].get("sparkConf", {}) == spark.get("sparkConf", {})


async def test_defaults_are_filled_in_by_the_api_server(kube: Kube, namespaces: Namespaces) -> None:
    manifest = t.stream_manifest("d", source={"type": "mock", "mock": {}})
    manifest["metadata"]["namespace"] = namespaces.streams
    stored = await kube.create(manifest)
    spec = stored["spec"]
    core = AnalyticsConfig()
    assert spec["source"]["mock"] == {"rate": 50, "seed": 7}
    assert spec["kafka"]["partitions"] == 3 and spec["topicDeletionPolicy"] == "delete"
    assert (spec["processing"]["windowSeconds"], spec["processing"]["slideSeconds"]) == (
        core.window,
        core.slide,
    )
    assert spec["processing"]["moments"]["chatSpike"]["ratio"] == core.thresholds.chat_spike.ratio
    assert spec["processing"]["moments"]["sensitivity"] == core.thresholds.sensitivity
    assert spec["spark"]["executors"] == 1 and spec["spark"]["driver"] == {"cores": 1, "memory": "1g"}
    assert spec["state"] == "running" and spec["dashboard"] == {"folder": "Telemetra"}
    scale = await kube.request("GET", t.STREAM.path(namespaces.streams, "d", "scale"))
    assert scale["spec"]["replicas"] == 1
