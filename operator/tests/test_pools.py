"""Pools: one Spark job, one set of topics and one shared producer for many streams.

The operator runs as a subprocess against the real API server and the test's Kafka broker (``admin`` topic
mode, so the pool's topics are real Kafka topics and its control and sources records real records); this test
plays the Spark operator. What it checks:

* a pool gets its four topics (control and sources compacted), its SparkApplication (``--pool``) and its shared
  producer; its streams get none of those, only their dashboard, or a producer of their own when their source
  needs an object of their namespace;
* a stream joins by its records: its settings in the control topic, its source in the sources topic; a change
  of its thresholds is one new record and does not touch the SparkApplication (no restart); suspending it
  tombstones its source; deleting it tombstones both;
* two streams with one id in a pool: the older is the member, the younger fails with ``StreamIdConflict``; a
  stream naming a pool that does not exist waits with ``PoolMissing``;
* ``kubectl scale`` on a pool sets its executors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from telemetra.dev.kube.cluster import KubeCluster
from telemetra.dev.localstack.process import free_port
from telemetra.dev.testing import operator as t
from telemetra.operator import status as st
from telemetra.operator.kube import Kube, kind_of
from telemetra.records import PoolTopics

from .conftest import Namespaces

POOL = kind_of("telemetra.io/v1alpha1", "TelemetraPool")
DEPLOYMENT = kind_of("apps/v1", "Deployment")
POD = kind_of("v1", "Pod")
POOL_NAME = "shared"
MERGE_PATCH = "application/merge-patch+json"


@pytest.fixture
def job_metrics_port() -> int:
    """Where the operator reads a pool's job metrics (a driver pod's address is the test's 127.0.0.1)."""
    return free_port()


@pytest.fixture
def operator(
    kube_cluster: KubeCluster,
    namespaces: Namespaces,
    kafka_bootstrap: str,
    tmp_path: Path,
    job_metrics_port: int,
) -> Iterator[t.OperatorProcess]:
    """The operator in admin topic mode on the test broker, with the pool ``shared`` as its default."""
    settings = {
        "TELEMETRA_OPERATOR_JOB_METRICS_PORT": str(job_metrics_port),
        "TELEMETRA_OPERATOR_TOPICS": "admin",
        "TELEMETRA_OPERATOR_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TELEMETRA_OPERATOR_KAFKA_TIMEOUT_SECONDS": "5",
        "TELEMETRA_OPERATOR_DEFAULT_POOL": POOL_NAME,
        "TELEMETRA_OPERATOR_POOL_SYNC_SECONDS": "0.2",
    }
    process = t.OperatorProcess(
        kube_cluster.env(),
        namespaces.streams,
        namespaces.kafka,
        tmp_path / "operator.log",
        extra_env=settings,
    )
    with process:
        yield process
    print(f"--- operator log ({process.log_path}) ---\n{process.log()[-20000:]}")


def pool_manifest(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "telemetra.io/v1alpha1",
        "kind": "TelemetraPool",
        "metadata": {"name": name},
        "spec": {"kafka": {"partitions": 2}, **spec},
    }


async def create(kube: Kube, namespace: str, manifest: dict[str, Any]) -> None:
    await kube.create({**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}})


async def records(bootstrap: str, topic: str) -> dict[str, Any]:
    """The live records of a compacted topic, as the job or the producer folds them: the newest value of each
    key, decoded; a key whose newest record is a tombstone maps to None."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        found: dict[str, Any] = {}
        while await consumer.position(partition) < end:
            for record in (await consumer.getmany(partition, timeout_ms=500)).get(partition, []):
                found[record.key.decode()] = orjson.loads(record.value) if record.value is not None else None
        return found
    finally:
        await consumer.stop()


async def ready_pool(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    """Play the Spark operator for the pool's job, then wait until the pool is Ready."""
    app = f"telemetra-pool-{name}"

    async def submitted() -> bool:
        return await kube.get(t.SPARK_APP, namespace, app) is not None

    await t.wait_for(submitted, within=20, what=f"SparkApplication {app}")
    await t.set_spark_state(kube, namespace, app, "RUNNING", submission="pool-1")

    async def ready() -> dict[str, Any] | None:
        pool = await kube.get(POOL, namespace, name)
        return pool if t.condition(pool, "Ready").get("status") == "True" else None

    return await t.wait_for(ready, within=60, what=f"TelemetraPool {name} Ready")


async def test_streams_join_change_and_leave_a_pool_by_records_without_restarting_its_job(
    kube: Kube,
    namespaces: Namespaces,
    operator: t.OperatorProcess,
    kafka: AIOKafkaAdminClient,
    kafka_bootstrap: str,
) -> None:
    ns = namespaces.streams
    topics = PoolTopics.of(POOL_NAME)
    await t.wait_for(lambda: t.operator_alive(operator), within=30, what="operator liveness")
    await create(kube, ns, pool_manifest(POOL_NAME, spark={"executors": 2, "shufflePartitions": 4}))
    await create(kube, ns, t.stream_manifest("alpha", "alpha"))  # no spec.pool: the default pool
    await create(kube, ns, t.stream_manifest("beta", "beta", pool=POOL_NAME))
    replay = {"type": "replay", "replay": {"configMap": {"name": "replay-log"}}}
    await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "replay-log", "namespace": ns},
                       "data": {"events.jsonl": ""}})  # fmt: skip
    await create(kube, ns, t.stream_manifest("gamma", "gamma", source=replay))

    pool = await ready_pool(kube, ns, POOL_NAME)
    assert pool["status"]["streams"] == 3
    app = await kube.get(t.SPARK_APP, ns, f"telemetra-pool-{POOL_NAME}")
    assert app is not None
    args = app["spec"]["arguments"]
    assert args[args.index("--pool") + 1] == POOL_NAME
    assert args[args.index("--shuffle-partitions") + 1] == "4"
    assert app["spec"]["executor"]["instances"] == 2
    shared = await kube.get(DEPLOYMENT, ns, f"telemetra-pool-{POOL_NAME}-producer")
    assert shared is not None
    assert shared["spec"]["template"]["spec"]["containers"][0]["args"][:4] == [
        "ingest",
        "pool",
        "--pool",
        POOL_NAME,
    ]

    # the pool's topics, in Kafka: control and sources compacted
    names = [topics.events, topics.control, topics.sources, topics.dead_letter]
    assert set(names) <= set(await kafka.list_topics())
    responses = await kafka.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    policy = {
        r[3]: dict((e[0], e[1]) for e in r[4])["cleanup.policy"] for resp in responses for r in resp.resources
    }
    assert policy == {topics.events: "delete", topics.control: "compact", topics.sources: "compact",
                      topics.dead_letter: "delete"}  # fmt: skip

    # the streams: Ready in the pool, with no job or topics of their own
    for name in ("alpha", "beta", "gamma"):
        stream = await t.wait_condition(kube, ns, name, "Ready", "True", within=30)
        assert stream["status"]["pool"] == POOL_NAME
        assert (
            "pool shared's Spark job processes the stream" in t.condition(stream, "ProcessorReady")["message"]
        )
        assert await kube.get(t.SPARK_APP, ns, f"telemetra-{name}") is None
    alpha = await t.get_stream(kube, ns, "alpha")
    assert alpha["status"]["children"] == []  # on its pool's dashboard, its source in the shared producer
    board = await kube.get(kind_of("v1", "ConfigMap"), ns, f"telemetra-pool-{POOL_NAME}-dashboard")
    assert board is not None and '"name": "stream"' in board["data"][f"telemetra-pool-{POOL_NAME}.json"]
    gamma = await t.get_stream(kube, ns, "gamma")  # a replay from a ConfigMap: a producer of its own
    assert {c["kind"] for c in gamma["status"]["children"]} == {"ServiceAccount", "ConfigMap", "Deployment"}
    producer_config = await kube.get(kind_of("v1", "ConfigMap"), ns, "telemetra-gamma-producer")
    assert producer_config is not None
    assert producer_config["data"]["TELEMETRA_SINK"].endswith(f"?topic={topics.events}")

    control = await records(kafka_bootstrap, topics.control)
    assert set(control) == {"alpha", "beta", "gamma"}
    assert control["alpha"]["window"] == 60 and control["alpha"]["thresholds"]["chat_spike"]["ratio"] > 0
    sources = await records(kafka_bootstrap, topics.sources)
    assert set(sources) == {"alpha", "beta"}  # gamma's source runs in its own producer
    assert sources["alpha"]["type"] == "mock" and sources["alpha"]["mock"]["rate"] > 0

    # a change of thresholds: one new control record; the SparkApplication is not touched
    version = app["metadata"]["resourceVersion"]
    await kube.patch(t.STREAM, ns, "beta", {"spec": {"processing": {"moments": {"chatSpike": {"ratio": 9}}}}})

    async def applied() -> bool:
        return (await records(kafka_bootstrap, topics.control))["beta"]["thresholds"]["chat_spike"][
            "ratio"
        ] == 9

    await t.wait_for(applied, within=10, interval=0.3, what="beta's new thresholds in the control topic")
    await t.wait_condition(kube, ns, "beta", "Ready", "True", within=10)
    unchanged = await kube.get(t.SPARK_APP, ns, f"telemetra-pool-{POOL_NAME}")
    assert unchanged is not None and unchanged["metadata"]["resourceVersion"] == version

    # a dashboard of its own on request, removed when no longer asked for
    config_map = kind_of("v1", "ConfigMap")
    for enabled in (True, False):
        await kube.patch(t.STREAM, ns, "beta", {"spec": {"dashboard": {"enabled": enabled}}})

        async def board_is(there: bool = enabled) -> bool:
            return (await kube.get(config_map, ns, "telemetra-beta-dashboard") is not None) == there

        await t.wait_for(board_is, within=10, what=f"beta's own dashboard {'there' if enabled else 'gone'}")

    # suspended: its source stops (tombstone), its settings stay
    await kube.patch(t.STREAM, ns, "alpha", {"spec": {"state": "suspended"}})

    async def suspended() -> dict[str, Any] | None:
        stream = await t.get_stream(kube, ns, "alpha")
        return stream if stream.get("status", {}).get("lifecycleState") == "Suspended" else None

    await t.wait_for(suspended, within=15, what="alpha Suspended")
    sources = await records(kafka_bootstrap, topics.sources)
    assert sources["alpha"] is None and sources["beta"] is not None
    assert (await records(kafka_bootstrap, topics.control))["alpha"] is not None

    # deleted: both records are tombstones
    await kube.delete(t.STREAM, ns, "beta")

    async def left() -> bool:
        control = await records(kafka_bootstrap, topics.control)
        return control.get("beta", "") is None

    await t.wait_for(left, within=10, interval=0.3, what="beta's tombstone")
    assert (await records(kafka_bootstrap, topics.sources))["beta"] is None

    async def two_streams() -> bool:
        pool = await kube.get(POOL, ns, POOL_NAME)
        return bool(pool and pool["status"].get("streams") == 2)

    await t.wait_for(two_streams, within=10, what="the pool counting 2 streams")
    final = await kube.get(t.SPARK_APP, ns, f"telemetra-pool-{POOL_NAME}")
    assert final is not None and final["metadata"]["resourceVersion"] == version  # never restarted


async def test_an_id_taken_in_the_pool_or_a_missing_pool_is_reported_on_the_stream(
    kube: Kube, namespaces: Namespaces, operator: t.OperatorProcess
) -> None:
    ns = namespaces.streams
    await t.wait_for(lambda: t.operator_alive(operator), within=30, what="operator liveness")
    await create(kube, ns, pool_manifest(POOL_NAME))
    await create(kube, ns, t.stream_manifest("first", "same"))
    await ready_pool(kube, ns, POOL_NAME)
    await t.wait_condition(kube, ns, "first", "Ready", "True", within=30)
    await create(kube, ns, t.stream_manifest("second", "same"))
    second = await t.wait_condition(
        kube, ns, "second", "ProcessorReady", "False", reason="StreamIdConflict", within=15
    )
    assert "is TelemetraStream" in t.condition(second, "ProcessorReady")["message"]
    assert second["status"]["lifecycleState"] == "Failed"
    assert t.condition(await t.get_stream(kube, ns, "first"), "Ready")["status"] == "True"

    await create(kube, ns, t.stream_manifest("lost", "lost", pool="nowhere"))
    lost = await t.wait_condition(
        kube, ns, "lost", "ProcessorReady", "False", reason="PoolMissing", within=15
    )
    assert lost["status"]["lifecycleState"] == "Pending"


async def test_kubectl_scale_on_a_pool_sets_its_executors_and_its_status_shows_events_and_lag(
    kube: Kube, namespaces: Namespaces, operator: t.OperatorProcess, job_metrics_port: int
) -> None:
    ns = namespaces.streams
    await t.wait_for(lambda: t.operator_alive(operator), within=30, what="operator liveness")
    await create(kube, ns, pool_manifest("scaled"))
    await ready_pool(kube, ns, "scaled")
    scale = await kube.request("GET", POOL.path(ns, "scaled", "scale"))
    assert scale["spec"]["replicas"] == 1
    assert "spark-role=executor" in scale["status"]["selector"]
    patch = {"spec": {"replicas": 3}}
    await kube.request("PATCH", POOL.path(ns, "scaled", "scale"), body=patch, content_type=MERGE_PATCH)

    async def three() -> bool:
        app = await kube.get(t.SPARK_APP, ns, "telemetra-pool-scaled")
        return bool(app and app["spec"]["executor"]["instances"] == 3)

    await t.wait_for(three, within=15, what="3 executors in the pool's SparkApplication")

    # the job's own metrics, on its driver (here: this test, at the driver pod's address)
    metrics = (
        'telemetra_spark_input_rows_per_second{pool="scaled"} 1234.5\n'
        'telemetra_spark_kafka_offsets_behind_latest{pool="scaled"} 42\n'
        'telemetra_spark_input_rows_per_second{pool="other"} 9\n'
    )

    async def serve(_: web.Request) -> web.Response:
        return web.Response(text=metrics)

    app = web.Application()
    app.router.add_get("/metrics", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", job_metrics_port).start()
    try:
        container = {"name": "spark-kubernetes-driver", "image": "spark:1"}
        meta = {"name": "telemetra-pool-scaled-driver", "namespace": ns}
        spec = {"nodeName": "no-such-node", "containers": [container]}  # never scheduled: no kubelet
        driver = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
        await kube.create(driver)
        status = {"status": {"podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}}
        await kube.patch(POD, ns, "telemetra-pool-scaled-driver", status, subresource="status")
        await t.set_spark_state(kube, ns, "telemetra-pool-scaled", "RUNNING", submission="pool-2")

        async def figures() -> dict[str, Any] | None:
            pool = await kube.get(POOL, ns, "scaled")
            return pool if pool and pool["status"].get("lag") == 42 else None

        shown = await t.wait_for(figures, within=30, what="the pool's events/s and lag in its status")
        assert shown["status"]["eventsPerSecond"] == "1234.5"
    finally:
        await runner.cleanup()


async def test_the_pool_example_converges_and_deletes_cleanly(
    kube: Kube, namespaces: Namespaces, operator: t.OperatorProcess, kafka: AIOKafkaAdminClient
) -> None:
    ns = namespaces.streams
    docs = t.load_example("pool")
    (pool,) = [d for d in docs if d["kind"] == "TelemetraPool"]
    streams = [d["metadata"]["name"] for d in docs if d["kind"] == "TelemetraStream"]
    await t.wait_for(lambda: t.operator_alive(operator), within=30, what="operator liveness")
    await t.apply_all(kube, ns, docs)
    name = pool["metadata"]["name"]
    ready = await ready_pool(kube, ns, name)
    assert ready["status"]["streams"] == len(streams)
    for stream in streams:
        body = await t.wait_condition(kube, ns, stream, "Ready", "True", within=30)
        assert body["status"]["pool"] == name
    topics = PoolTopics.of(name)

    await kube.delete(POOL, ns, name)  # the pool goes, with its job, its producer and its topics

    async def gone() -> bool:
        children = [await kube.get(t.SPARK_APP, ns, f"telemetra-pool-{name}"),
                    await kube.get(DEPLOYMENT, ns, f"telemetra-pool-{name}-producer")]  # fmt: skip
        return all(c is None for c in children) and topics.events not in await kafka.list_topics()

    await t.wait_for(gone, within=30, what=f"the children and topics of pool {name} deleted")
    orphan = await t.wait_condition(kube, ns, streams[0], "ProcessorReady", "False", reason="PoolMissing")
    assert orphan["status"]["lifecycleState"] == "Degraded"  # it ran, and its pool is gone


async def test_an_operator_restart_changes_nothing_and_tombstones_what_was_deleted_meanwhile(
    kube: Kube, namespaces: Namespaces, operator: t.OperatorProcess, kafka_bootstrap: str
) -> None:
    ns = namespaces.streams
    topics = PoolTopics.of(POOL_NAME)
    await t.wait_for(lambda: t.operator_alive(operator), within=30, what="operator liveness")
    await create(kube, ns, pool_manifest(POOL_NAME))
    for name in ("stays", "goes"):
        await create(kube, ns, t.stream_manifest(name, name))
    await ready_pool(kube, ns, POOL_NAME)
    ready = {
        name: await t.wait_condition(kube, ns, name, "Ready", "True", within=30) for name in ("stays", "goes")
    }
    ready_since = since(ready["stays"], "Ready")

    operator.stop()
    await kube.delete(t.STREAM, ns, "goes")  # while no operator runs (kopf's finalizer waits for it)
    operator.start()
    await t.wait_for(
        lambda: t.operator_alive(operator), within=30, what="operator liveness after the restart"
    )

    async def tombstoned() -> bool:
        return (await records(kafka_bootstrap, topics.control)).get("goes", "") is None

    await t.wait_for(
        tombstoned, within=20, interval=0.3, what="the tombstone of the stream deleted meanwhile"
    )
    stays = await t.get_stream(kube, ns, "stays")
    assert stays["status"]["lifecycleState"] == "Running"
    assert since(stays, "Ready") == ready_since  # no flap through the restart
    reasons = [e["reason"] for e in await t.events_for(kube, ns, "stays")]
    assert "Degraded" not in reasons and "Failed" not in reasons


def since(body: dict[str, Any], kind: str) -> str:
    """When the condition ``kind`` of ``body`` last changed."""
    return str((st.condition(body["status"], kind) or {})["lastTransitionTime"])
