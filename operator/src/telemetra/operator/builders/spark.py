"""The Spark Structured Streaming job as a SparkApplication (Kubeflow Spark operator, ``v1beta2``).

Every change of a SparkApplication's spec makes the Spark operator kill and resubmit the job, so the
reconciler compares :func:`spec_hash` of the rendered spec with the one it applied last and patches only
when they differ. A restart is lossless: the job checkpoints to durable storage under ``checkpoint_dir``.
Secrets reach the pods through Spark's own ``spark.kubernetes.*.secretKeyRef.*`` and ``*.secrets.*`` settings,
which ``spark-submit`` applies, so the job does not depend on the Spark operator's mutating webhook. On a secured
Kafka (:mod:`~telemetra.operator.builders.kafka_client`), the driver gets ``TELEMETRA_KAFKA_*`` and the
processor user's password (it reads Kafka's offsets and writes dead letters; it hands the executors their
Kafka options), driver and executors the CA file (both read the topic).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from telemetra.operator.builders import kafka_client
from telemetra.operator.owner import Owner
from telemetra.operator.pool import Pool
from telemetra.operator.spec import PodResources
from telemetra.operator.stream import Stream
from telemetra.sinks.kafka_security import PASSWORD_ENV

API_VERSION = "sparkoperator.k8s.io/v1beta2"
MAIN_FILE = "local:///opt/telemetra/spark_main.py"
# The job builds its SparkSession with ``--master`` (default ``local[2]``); under spark-submit in cluster mode
# the driver's master is the in-cluster API server, so the job is told the same.
IN_CLUSTER_MASTER = "k8s://https://kubernetes.default.svc:443"
HASH_ANNOTATION = "telemetra.io/spec-hash"
NONCE_ANNOTATION = "telemetra.io/restart-nonce"
CHECKPOINT_VOLUME = "checkpoints"
# Writable directories of the read-only root filesystem: emptyDirs mounted by spark-submit itself (Spark's own
# volume settings, like the checkpoint claim), so they do not depend on the Spark operator's webhook. Spark's
# local dirs (shuffle, state store, downloaded files) are emptyDirs Spark mounts by itself.
SCRATCH_VOLUMES = {"tmp": "/tmp", "work-dir": "/opt/spark/work-dir"}
RETRY = {"type": "Always", "onFailureRetryInterval": 10, "onSubmissionFailureRetryInterval": 20}


def analytics_config(stream: Stream) -> dict[str, Any]:
    """``--analytics-config``: the fields of ``telemetra.analytics.config.AnalyticsConfig``."""
    processing = stream.spec.processing
    return {
        "window": processing.window_seconds,
        "slide": processing.slide_seconds,
        "lateness": processing.watermark_seconds,
        "top_emotes": processing.top_emotes,
        "thresholds": processing.moments.model_dump(by_alias=False),
    }


def job_arguments(owner: Owner) -> list[str]:
    """A stream's own job reads its topic with its settings; a pool's reads the pool's topics, and each
    stream's settings from the control topic."""
    if isinstance(owner, Pool):
        which = ["--pool", owner.name, "--idle-timeout", f"{owner.spec.idle_timeout_seconds}s"]
    else:
        assert isinstance(owner, Stream)
        which = [
            "--stream-id", owner.id,
            "--events-topic", owner.events_topic,
            "--dead-letter-topic", owner.dead_letter_topic,
            "--analytics-config", json.dumps(analytics_config(owner), sort_keys=True, separators=(",", ":")),
        ]  # fmt: skip
    args = [
        *which,
        "--kafka-bootstrap", owner.kafka_bootstrap,
        "--checkpoint-dir", owner.checkpoint_dir,
        "--trigger-interval", f"{owner.trigger_interval_seconds}s",
        "--metrics-port", str(owner.settings.job_metrics_port),
        "--master", IN_CLUSTER_MASTER,
    ]  # fmt: skip
    if owner.spark.shuffle_partitions is not None:
        args += ["--shuffle-partitions", str(owner.spark.shuffle_partitions)]
    return args


def spark_conf(stream: Owner) -> dict[str, str]:
    """The owner's extra settings first, then the operator's own (which win)."""
    s = stream.settings
    conf = dict(stream.spark.spark_conf)
    conf["spark.jars.ivy"] = "/tmp/.ivy2"  # deps are resolved in the Spark operator's pod: $HOME is read-only
    kafka = kafka_client.client_security(stream, s.kafka_processor_user)
    for name, value in kafka.env().items():
        conf[f"spark.kubernetes.driverEnv.{name}"] = value
    if password := kafka_client.password_ref(kafka):
        conf[f"spark.kubernetes.driver.secretKeyRef.{PASSWORD_ENV}"] = ":".join(password)
    ca = kafka_client.ca_secret(stream, kafka)
    for role in ("driver", "executor"):
        conf[f"spark.kubernetes.{role}.secretKeyRef.TELEMETRA_STORE_URL"] = (
            f"{s.store_secret}:{s.store_secret_key}"
        )
        conf[f"spark.kubernetes.{role}.secretKeyRef.TELEMETRA_CACHE_URL"] = (
            f"{s.cache_secret}:{s.cache_secret_key}"
        )
        if ca:
            conf[f"spark.kubernetes.{role}.secrets.{ca}"] = kafka_client.CA_DIR
        for volume_name, path in SCRATCH_VOLUMES.items():
            conf[f"spark.kubernetes.{role}.volumes.emptyDir.{volume_name}.mount.path"] = path
        if s.checkpoint_claim and s.checkpoint_base_uri.startswith("file://"):
            volume = f"spark.kubernetes.{role}.volumes.persistentVolumeClaim.{CHECKPOINT_VOLUME}"
            conf[f"{volume}.options.claimName"] = s.checkpoint_claim
            conf[f"{volume}.mount.path"] = s.checkpoint_base_uri.removeprefix("file://")
    return conf


def pod_security_context(stream: Owner) -> dict[str, Any]:
    """The pod's securityContext (Pod Security Standards ``restricted``); ``fsGroup`` makes the checkpoint
    claim writable, changed only when its root does not match yet."""
    uid = stream.settings.spark_run_as_user
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context(stream: Owner) -> dict[str, Any]:
    """The Spark container's securityContext: no root, no privilege escalation, no capabilities, and a read-only
    root filesystem (the writable directories are :data:`SCRATCH_VOLUMES` and Spark's local dirs)."""
    uid = stream.settings.spark_run_as_user
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod(stream: Owner, resources: PodResources, role: str) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "cores": resources.cores,
        "memory": resources.memory,
        "labels": {**stream.labels("processor"), "telemetra.io/spark-role": role},
        "podSecurityContext": pod_security_context(stream),
        "securityContext": container_security_context(stream),
    }
    if resources.core_limit is not None:
        pod["coreLimit"] = resources.core_limit
    if request := resources.core_request or stream.settings.spark_core_request:
        pod["coreRequest"] = request
    return pod


def build_spark_spec(stream: Owner) -> dict[str, Any]:
    spark, s = stream.spark, stream.settings
    version = spark.version or s.spark_version
    driver = _pod(stream, spark.driver, "driver")
    driver["serviceAccount"] = s.spark_service_account
    # The nonce is part of the spec, so a new one is a spec change: the Spark operator restarts the job.
    driver["annotations"] = {NONCE_ANNOTATION: str(stream.restart_nonce)}
    executor = _pod(stream, spark.executor, "executor")
    executor["instances"] = spark.executors
    app: dict[str, Any] = {
        "type": "Python",
        "pythonVersion": "3",
        "mode": "cluster",
        "image": spark.image or s.spark_image,
        "imagePullPolicy": s.image_pull_policy,
        "mainApplicationFile": MAIN_FILE,
        "arguments": job_arguments(stream),
        "sparkVersion": version,
        "sparkConf": spark_conf(stream),
        "restartPolicy": RETRY,
        "suspend": stream.suspended,
        "driver": driver,
        "executor": executor,
    }
    packages = [p.format(spark_version=version) for p in s.spark_packages]
    if packages:
        app["deps"] = {"packages": packages}
    return app


def spec_hash(spark_spec: dict[str, Any]) -> str:
    """Stable across processes and key order: what decides whether the SparkApplication is patched."""
    canonical = json.dumps(spark_spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def build_spark_application(stream: Owner) -> dict[str, Any]:
    spark_spec = build_spark_spec(stream)
    meta = stream.metadata(stream.spark_name, "processor")
    meta["annotations"][HASH_ANNOTATION] = spec_hash(spark_spec)
    return {"apiVersion": API_VERSION, "kind": "SparkApplication", "metadata": meta, "spec": spark_spec}


def executor_selector(stream: Owner) -> str:
    """The executor pods, as labelled by the Spark operator and by us (a string, for the scale subresource)."""
    return f"sparkoperator.k8s.io/app-name={stream.spark_name},spark-role=executor"
