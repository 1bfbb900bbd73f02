"""The producers: a stream's own (a ServiceAccount, a ConfigMap and a one-replica Deployment running the
``telemetra`` CLI), and a pool's shared one.

Mock traffic runs ``telemetra produce``, a Twitch channel ``telemetra ingest twitch`` and a recorded log
``telemetra ingest replay`` (from a ConfigMap, or downloaded from a URL by an init container). All of them
write to the stream's events topic (its pool's, for a pooled stream) through the Kafka sink, as the operator's
producer user when Kafka is secured (:mod:`~telemetra.operator.builders.kafka_client`). One replica, replaced
with ``Recreate``: two producers would double the traffic (mock) or the chat (Twitch).

A pool's shared producer (``telemetra ingest pool``) runs the sources of its members that need nothing from
their namespace, all in one process: it follows the pool's compacted sources topic, where the operator writes
each member's ``spec.source`` (:mod:`telemetra.operator.members`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from telemetra.operator.builders import kafka_client
from telemetra.operator.owner import Owner
from telemetra.operator.pool import Pool
from telemetra.operator.stream import Stream
from telemetra.sinks.kafka_security import KafkaSecurity

# ``telemetra produce --duration`` has no "forever" yet (it rejects 0): ten years of simulated time, generated
# lazily second by second, is forever for a Deployment (which restarts the container if it ever ends).
RUN_FOREVER_SECONDS = 10 * 365 * 86_400
REPLAY_DIR = "/var/run/telemetra/replay"
REPLAY_FILE = f"{REPLAY_DIR}/events.jsonl"
CONFIG_HASH_ANNOTATION = "telemetra.io/config-hash"
_FETCH = "import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])"

RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
POOL_RESOURCES = {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
# Pod Security Standards ``restricted``: no root, no privilege escalation, no capabilities, the runtime's seccomp
# profile, and a read-only root filesystem (``/tmp`` and the replay directory are emptyDirs or ConfigMaps).
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def pod_security_context(stream: Owner) -> dict[str, Any]:
    uid = stream.settings.producer_run_as_user
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def build_service_account(stream: Stream | Pool) -> dict[str, Any]:
    """The producer's identity; it needs no API access, so its token is not mounted."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": stream.metadata(stream.producer_name, "producer"),
        "automountServiceAccountToken": False,
    }


def kafka_security(stream: Owner) -> KafkaSecurity:
    return kafka_client.client_security(stream, stream.settings.kafka_producer_user)


def build_config_map(stream: Stream) -> dict[str, Any]:
    """Where and how the producer writes, as environment (``$(TELEMETRA_SINK)`` in the arguments)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": stream.metadata(stream.producer_name, "producer"),
        "data": {
            "TELEMETRA_STREAM_ID": stream.id,
            "TELEMETRA_SINK": f"kafka://{stream.kafka_bootstrap}?topic={stream.events_topic}",
            "TELEMETRA_SOURCE": stream.spec.source.type,
            "TELEMETRA_LOG_LEVEL": "INFO",
            **kafka_security(stream).env(),
        },
    }


def scenario_flag(kind: str, at: int, duration: int | None, factor: float | None) -> str:
    """``KIND@START[+DURATION][xFACTOR]``, the syntax of ``telemetra produce --scenario``."""
    flag = f"{kind}@{at}"
    if duration is not None:
        flag += f"+{duration}"
    if factor is not None:
        flag += f"x{factor:g}"
    return flag


def producer_args(stream: Stream) -> list[str]:
    source = stream.spec.source
    if source.type == "mock" and source.mock is not None:
        mock = source.mock
        args = ["produce", "--streams", "$(TELEMETRA_STREAM_ID)", "--rate", str(mock.rate)]
        args += ["--seed", str(mock.seed), "--duration", str(RUN_FOREVER_SECONDS), "--speed", "1"]
        args += ["--sink", "$(TELEMETRA_SINK)"]
        for s in mock.scenarios:
            args += ["--scenario", scenario_flag(s.kind.value, s.at_seconds, s.duration_seconds, s.factor)]
        return args
    if source.type == "twitch" and source.twitch is not None:
        return ["ingest", "twitch", "--channel", source.twitch.channel.lower(), "--sink", "$(TELEMETRA_SINK)"]
    if source.type == "replay" and source.replay is not None:
        speed = f"{source.replay.speed:g}"
        return ["ingest", "replay", "--sink", "$(TELEMETRA_SINK)", "--speed", speed, REPLAY_FILE]
    raise ValueError(f"source.{source.type} is not set")  # the CRD's CEL rules prevent this


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _container(stream: Stream) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "producer",
        "image": stream.settings.producer_image,
        "imagePullPolicy": stream.settings.image_pull_policy,
        "command": ["telemetra"],
        "args": producer_args(stream),
        "envFrom": [{"configMapRef": {"name": stream.producer_name}}],
        "resources": RESOURCES,
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    security = kafka_security(stream)
    env = kafka_client.password_env(security)
    twitch = stream.spec.source.twitch
    if stream.spec.source.type == "twitch" and twitch and twitch.credentials_secret:
        ref = twitch.credentials_secret
        env += [
            _secret_env("TWITCH_CLIENT_ID", ref.name, ref.client_id_key),
            _secret_env("TWITCH_CLIENT_SECRET", ref.name, ref.client_secret_key),
        ]
    if env:
        container["env"] = env
    if stream.spec.source.type == "replay":
        container["volumeMounts"].append({"name": "replay", "mountPath": REPLAY_DIR, "readOnly": True})
    if ca := kafka_client.ca_volume(stream, security):
        container["volumeMounts"].append(ca[1])
    return container


def _replay_volume_and_init(stream: Stream) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    replay = stream.spec.source.replay
    if replay is not None and replay.config_map is not None:
        items = [{"key": replay.config_map.key, "path": "events.jsonl"}]
        return {"name": "replay", "configMap": {"name": replay.config_map.name, "items": items}}, []
    fetch = {
        "name": "fetch",
        "image": stream.settings.producer_image,
        "imagePullPolicy": stream.settings.image_pull_policy,
        "command": ["python", "-c", _FETCH, replay.url if replay else "", REPLAY_FILE],
        "resources": RESOURCES,
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [{"name": "replay", "mountPath": REPLAY_DIR}],
    }
    return {"name": "replay", "emptyDir": {}}, [fetch]


def config_hash(config_map: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config_map["data"], sort_keys=True).encode()).hexdigest()[:16]


def build_deployment(stream: Stream, config_map: dict[str, Any]) -> dict[str, Any]:
    """One replica (zero when suspended); a ConfigMap change rolls the pod through the hash annotation."""
    selector = {"app.kubernetes.io/name": "telemetra", "app.kubernetes.io/component": "producer"}
    selector["telemetra.io/stream"] = stream.id
    pod: dict[str, Any] = {
        "serviceAccountName": stream.producer_name,
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(stream),
        "containers": [_container(stream)],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    if stream.spec.source.type == "replay":
        volume, init = _replay_volume_and_init(stream)
        pod["volumes"].append(volume)
        if init:
            pod["initContainers"] = init
    if ca := kafka_client.ca_volume(stream, kafka_security(stream)):
        pod["volumes"].append(ca[0])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": stream.metadata(stream.producer_name, "producer"),
        "spec": {
            "replicas": 0 if stream.suspended else 1,
            "revisionHistoryLimit": 2,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": stream.labels("producer"),
                    "annotations": {CONFIG_HASH_ANNOTATION: config_hash(config_map)},
                },
                "spec": pod,
            },
        },
    }


def build_producer(stream: Stream) -> list[dict[str, Any]]:
    """ServiceAccount, ConfigMap and Deployment, in that order (the Deployment refers to both)."""
    config_map = build_config_map(stream)
    return [build_service_account(stream), config_map, build_deployment(stream, config_map)]


def pool_producer_args(pool: Pool) -> list[str]:
    return ["ingest", "pool", "--pool", pool.name, "--kafka-bootstrap", pool.kafka_bootstrap]


def build_pool_deployment(pool: Pool) -> dict[str, Any]:
    """The pool's shared producer: one replica (each member's source runs once)."""
    security = kafka_security(pool)
    container: dict[str, Any] = {
        "name": "producer",
        "image": pool.settings.producer_image,
        "imagePullPolicy": pool.settings.image_pull_policy,
        "command": ["telemetra"],
        "args": pool_producer_args(pool),
        "env": [{"name": "TELEMETRA_LOG_LEVEL", "value": "INFO"}]
        + [{"name": name, "value": value} for name, value in security.env().items()]
        + kafka_client.password_env(security),
        "resources": POOL_RESOURCES,
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod: dict[str, Any] = {
        "serviceAccountName": pool.producer_name,
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(pool),
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    if ca := kafka_client.ca_volume(pool, security):
        pod["volumes"].append(ca[0])
        container["volumeMounts"].append(ca[1])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": pool.metadata(pool.producer_name, "producer"),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 2,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": pool.labels("producer")},
            "template": {"metadata": {"labels": pool.labels("producer")}, "spec": pod},
        },
    }


def build_pool_producer(pool: Pool) -> list[dict[str, Any]]:
    """ServiceAccount and Deployment of the pool's shared producer."""
    return [build_service_account(pool), build_pool_deployment(pool)]
