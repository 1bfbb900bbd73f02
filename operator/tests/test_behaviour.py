"""Level-based behaviour against a real API server: drift is reverted within one resync interval, suspend and
resume, restartNonce, the scale subresource, conflicts, and the operator's metrics and liveness endpoints.

The operator fixture resyncs every 2 s (``TELEMETRA_OPERATOR_RESYNC_SECONDS``)."""

from __future__ import annotations

import json
import time
from typing import Any

from telemetra.dev.testing import operator as t
from telemetra.operator.builders.spark import HASH_ANNOTATION, NONCE_ANNOTATION
from telemetra.operator.kube import Kube

from .conftest import Namespaces

RESYNC = 2.0
SLACK = 2.0  # one reconciliation and the watch latency, on a busy 2-core machine


async def _stream(kube: Kube, spaces: Namespaces, process: t.OperatorProcess, name: str, **spec: Any) -> None:
    await t.wait_for(lambda: t.operator_alive(process), within=30, what="operator liveness")
    await t.run_ready(kube, spaces.streams, spaces.kafka, t.stream_manifest(name, **spec))


async def _restored(kube: Kube, what: str, probe: Any, started: float) -> float:
    await t.wait_for(probe, within=RESYNC + SLACK, interval=0.05, what=what)
    return time.monotonic() - started


async def test_deleted_or_edited_children_are_restored_within_one_interval(
    kube: Kube, namespaces: Namespaces, operator_process: t.OperatorProcess
) -> None:
    ns, kafka = namespaces.streams, namespaces.kafka
    await _stream(kube, namespaces, operator_process, "drift")
    producer, app, board = "telemetra-drift-producer", "telemetra-drift", "telemetra-drift-dashboard"
    topic = "telemetra.drift.events"

    # deleted children come back
    for kind, namespace, name in [
        (t.DEPLOYMENT, ns, producer),
        (t.CONFIG_MAP, ns, board),
        (t.KAFKA_TOPIC, kafka, topic),
        (t.SPARK_APP, ns, app),
    ]:
        await kube.delete(kind, namespace, name)
        started = time.monotonic()

        async def back(kind: Any = kind, namespace: str = namespace, name: str = name) -> bool:
            obj = await kube.get(kind, namespace, name)
            return obj is not None and obj["metadata"].get("deletionTimestamp") is None

        await _restored(kube, f"{name} recreated", back, started)

    # edited children are reverted
    await kube.patch(t.DEPLOYMENT, ns, producer, {"spec": {"replicas": 3}})
    await kube.patch(t.KAFKA_TOPIC, kafka, topic, {"spec": {"config": {"retention.ms": 1000}}})
    await kube.patch(t.SPARK_APP, ns, app, {"spec": {"executor": {"instances": 7}}})
    await kube.patch(t.CONFIG_MAP, ns, board, {"metadata": {"labels": {"grafana_dashboard": "0"}}})
    started = time.monotonic()

    async def reverted() -> bool:
        deployment = await kube.get(t.DEPLOYMENT, ns, producer) or {}
        kafka_topic = await kube.get(t.KAFKA_TOPIC, kafka, topic) or {}
        spark_app = await kube.get(t.SPARK_APP, ns, app) or {}
        dashboard = await kube.get(t.CONFIG_MAP, ns, board) or {}
        return (
            deployment.get("spec", {}).get("replicas") == 1
            and kafka_topic.get("spec", {}).get("config", {}).get("retention.ms") == 24 * 3_600_000
            and spark_app.get("spec", {}).get("executor", {}).get("instances") == 1
            and dashboard.get("metadata", {}).get("labels", {}).get("grafana_dashboard") == "1"
        )

    await _restored(kube, "edits reverted", reverted, started)

    async def restored_events() -> bool:
        reasons = [e["reason"] for e in await t.events_for(kube, ns, "drift")]
        return reasons.count("ChildRestored") >= 8

    await t.wait_for(restored_events, within=10, what="8 ChildRestored events")


async def test_suspend_and_resume(
    kube: Kube, namespaces: Namespaces, operator_process: t.OperatorProcess
) -> None:
    ns = namespaces.streams
    await _stream(kube, namespaces, operator_process, "pause")
    app_name, producer = "telemetra-pause", "telemetra-pause-producer"
    before = await kube.get(t.SPARK_APP, ns, app_name) or {}

    await kube.patch(t.STREAM, ns, "pause", {"spec": {"state": "suspended"}})

    async def suspended_children() -> bool:
        deployment = await kube.get(t.DEPLOYMENT, ns, producer) or {}
        app = await kube.get(t.SPARK_APP, ns, app_name) or {}
        return deployment["spec"]["replicas"] == 0 and app["spec"].get("suspend") is True

    await t.wait_for(suspended_children, within=5, what="producer at 0 and the job suspended")
    await t.wait_for(lambda: _state(kube, ns, "pause", "Suspending"), within=5, what="Suspending")
    await t.set_spark_state(kube, ns, app_name, "SUSPENDED")
    stream = await t.wait_condition(kube, ns, "pause", "Ready", "False", reason="Suspended")
    stream = await t.wait_for(
        lambda: _state(kube, ns, "pause", "Suspended"), within=20, what="lifecycle Suspended (pods gone)"
    )
    assert t.condition(stream, "ProducerReady")["reason"] == "Suspended"
    assert t.condition(stream, "ProcessorReady")["reason"] == "Suspended"
    assert (await kube.get(t.SPARK_APP, ns, app_name) or {})["metadata"]["uid"] == before["metadata"]["uid"]

    await kube.patch(t.STREAM, ns, "pause", {"spec": {"state": "running"}})

    async def resumed_children() -> bool:
        deployment = await kube.get(t.DEPLOYMENT, ns, producer) or {}
        app = await kube.get(t.SPARK_APP, ns, app_name) or {}
        return deployment["spec"]["replicas"] == 1 and app["spec"].get("suspend") is False

    await t.wait_for(resumed_children, within=5, what="producer back to 1 and the job resumed")
    await t.set_spark_state(kube, ns, app_name, "RUNNING", submission="after-resume")
    await t.wait_condition(kube, ns, "pause", "Ready", "True")

    async def transitions() -> bool:
        reasons = {e["reason"] for e in await t.events_for(kube, ns, "pause")}
        return {"Suspending", "Suspended", "Resuming", "Running"} <= reasons

    await t.wait_for(transitions, within=10, what="suspend/resume events")


async def _state(kube: Kube, ns: str, name: str, state: str) -> dict[str, Any] | None:
    stream = await t.get_stream(kube, ns, name)
    return stream if stream.get("status", {}).get("lifecycleState") == state else None


async def test_restart_nonce_restarts_only_the_job_and_a_folder_change_does_not(
    kube: Kube, namespaces: Namespaces, operator_process: t.OperatorProcess
) -> None:
    ns = namespaces.streams
    await _stream(kube, namespaces, operator_process, "nonce")
    app_name, producer = "telemetra-nonce", "telemetra-nonce-producer"
    app = await kube.get(t.SPARK_APP, ns, app_name) or {}
    deployment = await kube.get(t.DEPLOYMENT, ns, producer) or {}
    first_submission = app["status"]["submissionID"]

    await kube.patch(t.STREAM, ns, "nonce", {"spec": {"restartNonce": 1}})

    async def restarted() -> dict[str, Any] | None:
        obj = await kube.get(t.SPARK_APP, ns, app_name) or {}
        return obj if obj["spec"]["driver"]["annotations"][NONCE_ANNOTATION] == "1" else None

    patched = await t.wait_for(restarted, within=5, what="the job's spec carries the new nonce")
    assert patched["metadata"]["generation"] == app["metadata"]["generation"] + 1
    # The old submission still runs until the Spark operator resubmits: the stream says Restarting, not Ready.
    stream = await t.wait_for(lambda: _state(kube, ns, "nonce", "Restarting"), within=5, what="Restarting")
    assert t.condition(stream, "ProcessorReady")["reason"] == "Restarting"
    assert stream["status"]["supersededSubmissionId"] == first_submission
    assert stream["status"]["sparkSpecHash"] == patched["metadata"]["annotations"][HASH_ANNOTATION]
    await t.set_spark_state(kube, ns, app_name, "RUNNING", submission="second")
    await t.wait_condition(kube, ns, "nonce", "Ready", "True")
    unchanged = await kube.get(t.DEPLOYMENT, ns, producer) or {}
    assert (
        unchanged["metadata"]["generation"] == deployment["metadata"]["generation"]
    )  # the producer kept running

    # A dashboard folder change reaches the dashboard only: the SparkApplication is not even patched.
    app = await kube.get(t.SPARK_APP, ns, app_name) or {}
    stream = await t.get_stream(kube, ns, "nonce")
    await kube.patch(t.STREAM, ns, "nonce", {"spec": {"dashboard": {"folder": "Moved"}}})

    async def moved() -> bool:
        board = await kube.get(t.CONFIG_MAP, ns, "telemetra-nonce-dashboard") or {}
        return board["metadata"]["annotations"].get("grafana_folder") == "Moved"

    await t.wait_for(moved, within=5, what="dashboard moved")
    now = await t.wait_condition(kube, ns, "nonce", "Ready", "True")
    assert now["status"]["observedGeneration"] == stream["metadata"]["generation"] + 1
    await _sleep_one_interval()
    after = await kube.get(t.SPARK_APP, ns, app_name) or {}
    assert after["metadata"]["resourceVersion"] == app["metadata"]["resourceVersion"], "the job was patched"
    deployment_after = await kube.get(t.DEPLOYMENT, ns, producer) or {}
    assert deployment_after["metadata"]["generation"] == deployment["metadata"]["generation"]

    async def one_restart() -> bool:
        return [e["reason"] for e in await t.events_for(kube, ns, "nonce")].count("SparkRestarting") == 1

    await t.wait_for(one_restart, within=10, what="exactly one SparkRestarting event")


async def test_partitions_grown_on_the_topic_are_not_reverted(
    kube: Kube, namespaces: Namespaces, operator_process: t.OperatorProcess
) -> None:
    """Someone grows the KafkaTopic's partitions directly: Kafka cannot remove them and the Topic Operator
    refuses a decrease, so the operator keeps the larger count instead of "restoring" it (other drift on the
    same topic is still restored)."""
    ns = namespaces.streams
    await _stream(kube, namespaces, operator_process, "grown")
    name = "telemetra.grown.events"
    before = await kube.get(t.KAFKA_TOPIC, namespaces.kafka, name) or {}
    assert before["spec"]["partitions"] < 9
    await kube.patch(t.KAFKA_TOPIC, namespaces.kafka, name, {"spec": {"partitions": 9}})
    await _sleep_one_interval()
    topic = await kube.get(t.KAFKA_TOPIC, namespaces.kafka, name) or {}
    assert topic["spec"]["partitions"] == 9
    assert "ChildRestored" not in [e["reason"] for e in await t.events_for(kube, ns, "grown")]

    await kube.patch(t.KAFKA_TOPIC, namespaces.kafka, name, {"spec": {"replicas": 7}})

    async def restored() -> bool:
        topic = await kube.get(t.KAFKA_TOPIC, namespaces.kafka, name) or {}
        return topic["spec"]["replicas"] == before["spec"]["replicas"] and topic["spec"]["partitions"] == 9

    await t.wait_for(restored, within=RESYNC + SLACK, what="the replicas restored, the partitions kept")


async def _sleep_one_interval() -> None:
    import asyncio

    await asyncio.sleep(RESYNC + 0.5)


async def test_scale_subresource_sets_the_executors(
    kube: Kube, namespaces: Namespaces, operator_process: t.OperatorProcess
) -> None:
    ns = namespaces.streams
    await _stream(kube, namespaces, operator_process, "scaled")
    scale = await kube.request("GET", t.STREAM.path(ns, "scaled", "scale"))
    assert (scale["spec"]["replicas"], scale["status"]["replicas"]) == (1, 1)
    assert scale["status"]["selector"] == "sparkoperator.k8s.io/app-name=telemetra-scaled,spark-role=executor"
    await kube.patch(t.STREAM, ns, "scaled", {"spec": {"replicas": 3}}, subresource="scale")

    async def three() -> bool:
        app = await kube.get(t.SPARK_APP, ns, "telemetra-scaled") or {}
        return app["spec"]["executor"]["instances"] == 3

    await t.wait_for(three, within=5, what="3 executors requested")
    await t.set_spark_state(kube, ns, "telemetra-scaled", "RUNNING", submission="scaled-up")
    await t.wait_condition(kube, ns, "scaled", "Ready", "True")
    scale = await kube.request("GET", t.STREAM.path(ns, "scaled", "scale"))
    assert (scale["spec"]["replicas"], scale["status"]["replicas"]) == (3, 3)


async def test_a_second_stream_with_the_same_id_is_refused_not_merged(
    kube: Kube, namespaces: Namespaces, operator_process: t.OperatorProcess
) -> None:
    ns = namespaces.streams
    await _stream(kube, namespaces, operator_process, "first", stream_id="shared")
    owner = await kube.get(t.KAFKA_TOPIC, namespaces.kafka, "telemetra.shared.events") or {}
    second = t.stream_manifest("second", "shared", kafka={"partitions": 9})
    await kube.create({**second, "metadata": {"name": "second", "namespace": ns}})
    stream = await t.wait_condition(kube, ns, "second", "TopicsReady", "False", reason="TopicConflict")
    assert "belongs to TelemetraStream" in t.condition(stream, "TopicsReady")["message"]
    assert stream["status"]["lifecycleState"] == "Failed"
    topic = await kube.get(t.KAFKA_TOPIC, namespaces.kafka, "telemetra.shared.events") or {}
    assert topic["spec"]["partitions"] == owner["spec"]["partitions"] == 3
    first = await t.get_stream(kube, ns, "first")
    assert t.condition(first, "Ready")["status"] == "True"


async def test_metrics_and_liveness(
    kube: Kube, namespaces: Namespaces, operator_process: t.OperatorProcess
) -> None:
    await _stream(kube, namespaces, operator_process, "observed")
    status, text = await t.http_get(f"http://127.0.0.1:{operator_process.metrics_port}/metrics")
    assert status == 200
    assert 'telemetra_operator_reconciles_total{result="ok"}' in text
    assert "telemetra_operator_reconcile_duration_seconds_bucket" in text
    assert 'telemetra_operator_streams{state="Running"} 1.0' in text

    async def probe_sees_the_stream() -> bool:  # kopf caches probe results for 10 s
        status, body = await t.http_get(f"http://127.0.0.1:{operator_process.liveness_port}/healthz")
        return status == 200 and json.loads(body)["reconciliation"]["streams"] == 1

    await t.wait_for(probe_sees_the_stream, within=15, interval=0.5, what="liveness reporting one stream")


async def _reasons(kube: Kube, ns: str, name: str) -> list[str]:
    return [e["reason"] for e in await t.events_for(kube, ns, name)]


async def test_spec_changes_are_updates_not_drift(
    kube: Kube, namespaces: Namespaces, operator_process: t.OperatorProcess
) -> None:
    """The operator's own updates of its children, after an edit of the stream, are reported as updates
    (Normal ChildUpdated events, lifecycle Updating), never as drift (ChildRestored, Degraded)."""
    ns, kafka = namespaces.streams, namespaces.kafka
    await _stream(kube, namespaces, operator_process, "tuned")
    app_name, producer, topic = "telemetra-tuned", "telemetra-tuned-producer", "telemetra.tuned.events"

    # The producer's rate and the events' retention: the job is not touched, the topic waits for Strimzi.
    patch = {"spec": {"source": {"mock": {"rate": 25}}, "kafka": {"retentionHours": 48}}}
    await kube.patch(t.STREAM, ns, "tuned", patch)

    async def producer_and_topic_updated() -> bool:
        deployment = await kube.get(t.DEPLOYMENT, ns, producer) or {}
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        kafka_topic = await kube.get(t.KAFKA_TOPIC, kafka, topic) or {}
        return args[args.index("--rate") + 1] == "25" and (
            kafka_topic["spec"]["config"]["retention.ms"] == 48 * 3_600_000
        )

    await t.wait_for(producer_and_topic_updated, within=5, what="the producer and the topic updated")
    await t.wait_for(lambda: _state(kube, ns, "tuned", "Updating"), within=5, what="lifecycle Updating")
    await t.mark_topic_ready(kube, kafka, topic)
    await t.wait_condition(kube, ns, "tuned", "Ready", "True")

    # Partitions and a Spark setting: the job restarts, then waits for the grown topic.
    patch = {
        "spec": {"kafka": {"partitions": 6}, "spark": {"sparkConf": {"spark.sql.shuffle.partitions": "8"}}}
    }
    await kube.patch(t.STREAM, ns, "tuned", patch)

    async def job_and_topic_updated() -> bool:
        app = await kube.get(t.SPARK_APP, ns, app_name) or {}
        kafka_topic = await kube.get(t.KAFKA_TOPIC, kafka, topic) or {}
        conf = app["spec"].get("sparkConf") or {}
        return conf.get("spark.sql.shuffle.partitions") == "8" and kafka_topic["spec"]["partitions"] == 6

    await t.wait_for(job_and_topic_updated, within=5, what="the job and the topic updated")
    await t.wait_for(lambda: _state(kube, ns, "tuned", "Restarting"), within=5, what="lifecycle Restarting")
    await t.set_spark_state(kube, ns, app_name, "RUNNING", submission="after-tuning")
    await t.wait_for(lambda: _state(kube, ns, "tuned", "Updating"), within=5, what="Updating (topic pending)")
    await t.mark_topic_ready(kube, kafka, topic)
    await t.wait_condition(kube, ns, "tuned", "Ready", "True")

    async def updated_events() -> list[str] | None:
        reasons = await _reasons(kube, ns, "tuned")
        return reasons if reasons.count("ChildUpdated") >= 3 and "SparkRestarting" in reasons else None

    reasons = await t.wait_for(updated_events, within=10, what="ChildUpdated and SparkRestarting events")
    assert "ChildRestored" not in reasons and "Degraded" not in reasons, reasons
    _, text = await t.http_get(f"http://127.0.0.1:{operator_process.metrics_port}/metrics")
    restores = [
        line for line in text.splitlines() if line.startswith("telemetra_operator_child_restores_total")
    ]
    assert not restores, restores
    assert 'telemetra_operator_spark_patches_total{cause="drift"}' not in text


async def test_a_removed_annotation_does_not_disown_a_child(
    kube: Kube, namespaces: Namespaces, operator_process: t.OperatorProcess
) -> None:
    """A child the stream controls through its owner reference stays the stream's when someone removes the
    operator's annotations: they are restored and the stream stays Ready (the job is not restarted). An object
    of the same name that the stream does not own is still a conflict."""
    ns = namespaces.streams
    await _stream(kube, namespaces, operator_process, "marked")
    app_name, producer = "telemetra-marked", "telemetra-marked-producer"
    app = await kube.get(t.SPARK_APP, ns, app_name) or {}
    owner, spec_hash = "telemetra.io/owner", HASH_ANNOTATION
    unmark = {"metadata": {"annotations": {owner: None, spec_hash: None}}}
    await kube.patch(t.DEPLOYMENT, ns, producer, unmark)
    await kube.patch(t.SPARK_APP, ns, app_name, unmark)
    started = time.monotonic()

    async def marked_again() -> bool:
        for kind, name in ((t.DEPLOYMENT, producer), (t.SPARK_APP, app_name)):
            annotations = ((await kube.get(kind, ns, name) or {})["metadata"]).get("annotations") or {}
            if annotations.get(owner) != f"{ns}/marked" or spec_hash not in annotations:
                return False
        return True

    await _restored(kube, "annotations restored", marked_again, started)
    await _sleep_one_interval()
    stream = await t.wait_condition(kube, ns, "marked", "Ready", "True")
    assert stream["status"]["lifecycleState"] == "Running"
    assert stream["status"].get("supersededSubmissionId") is None
    after = await kube.get(t.SPARK_APP, ns, app_name) or {}
    assert after["metadata"]["generation"] == app["metadata"]["generation"]  # the job was not restarted
    assert "ChildConflict" not in await _reasons(kube, ns, "marked")

    # An object of the same name that another owner controls remains a conflict, whatever its annotation says.
    other = {"apiVersion": stream["apiVersion"], "kind": stream["kind"], "name": "marked", "controller": True}
    other["uid"] = stream["metadata"]["uid"]
    meta = {"name": "telemetra-squatted-dashboard", "namespace": ns, "annotations": {owner: f"{ns}/squatted"}}
    meta["ownerReferences"] = [other]
    await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {}})
    squatter = t.stream_manifest("squatted")
    await kube.create({**squatter, "metadata": {"name": "squatted", "namespace": ns}})
    await t.wait_condition(kube, ns, "squatted", "DashboardReady", "False", reason="ChildConflict")
    board = await kube.get(t.CONFIG_MAP, ns, "telemetra-squatted-dashboard") or {}
    assert not board.get("data") and board["metadata"]["ownerReferences"] == [other]
