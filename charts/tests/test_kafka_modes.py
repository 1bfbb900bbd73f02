"""Kafka without Strimzi: `kafka.mode=statefulset` renders the chart's own KRaft StatefulSet of the
telemetra-kafka image (its entry point's contract: pipeline/docker/kafka-start.sh) at Strimzi's bootstrap
address, and the operator is told to manage topics through the Kafka Admin API, as it is for an external Kafka
that is not a Strimzi cluster. The Strimzi mode's own tests are in test_render.py, but Kafka's client security
(kafka.security, Strimzi only), which is here with the statefulset mode's refusal of it."""

from __future__ import annotations

import base64
import re
from types import SimpleNamespace
from typing import Any

import pytest

from telemetra.operator.builders import kafka_client, producer, spark
from telemetra.operator.settings import OperatorSettings
from telemetra.operator.stream import Stream
from telemetra.sinks.kafka_security import PASSWORD_ENV, KafkaSecurity

Chart = Any  # conftest.Chart
Manifest = dict[str, Any]
NAMESPACE = "telemetra"
BOOTSTRAP = f"telemetra-kafka-kafka-bootstrap.{NAMESPACE}.svc:9092"
EXTERNAL = ["kafka.enabled=false", "externalKafka.bootstrapServers=redpanda.streaming.svc:9092"]


def kafka_container(
    objects: list[Manifest], m: SimpleNamespace, name: str = "telemetra-kafka"
) -> dict[str, Any]:
    container: dict[str, Any] = m.pod_spec(m.one(objects, "StatefulSet", name))["containers"][0]
    return container


def expand(value: str, env: dict[str, Any]) -> str:
    """What the kubelet does with $(VAR) in an env value: the variables defined before it."""
    return re.sub(r"\$\((\w+)\)", lambda match: str(env[match.group(1)]), value)


def operator_settings(
    objects: list[Manifest], m: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> OperatorSettings:
    """The operator's settings as its container's environment gives them."""
    m.operator_env(objects, monkeypatch)
    return OperatorSettings()


def test_statefulset_mode_renders_no_strimzi_resource(chart: Chart, m: SimpleNamespace) -> None:
    objects = chart.template("statefulset", sets=["monitoring.serviceMonitors.enabled=true"])
    assert not [o for o in objects if "strimzi" in o["apiVersion"]]
    assert not m.find(objects, "PodMonitor", "telemetra-kafka-exporter")  # the exporter is Strimzi's
    assert m.one(objects, "StatefulSet", "telemetra-kafka")
    strimzi = chart.template(sets=["monitoring.serviceMonitors.enabled=true"])
    assert m.one(strimzi, "Kafka", "telemetra-kafka") and m.one(
        strimzi, "PodMonitor", "telemetra-kafka-exporter"
    )
    assert not m.find(strimzi, "StatefulSet", "telemetra-kafka")
    assert not m.find(strimzi, "NetworkPolicy", "telemetra-kafka")  # Strimzi writes its own


def test_the_bootstrap_service_has_strimzis_address(chart: Chart, m: SimpleNamespace) -> None:
    objects = chart.template("statefulset")
    pod_labels = m.one(objects, "StatefulSet", "telemetra-kafka")["spec"]["template"]["metadata"]["labels"]
    host, port = BOOTSTRAP.rsplit(":", 1)
    name, namespace = host.split(".")[:2]
    assert namespace == NAMESPACE
    service = m.one(objects, "Service", name)
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [
        {"name": "kafka", "port": int(port), "targetPort": "kafka", "protocol": "TCP"}
    ]
    ports = {p["name"]: p["containerPort"] for p in kafka_container(objects, m)["ports"]}
    assert ports == {"kafka": 9092, "controller": 9093}


@pytest.mark.parametrize(
    ("sets", "topics", "bootstrap"),
    [
        ((), "strimzi", BOOTSTRAP),
        (("kafka.mode=statefulset",), "admin", BOOTSTRAP),
        ((*EXTERNAL, "externalKafka.clusterName=shared"), "strimzi", "redpanda.streaming.svc:9092"),
        (tuple(EXTERNAL), "admin", "redpanda.streaming.svc:9092"),
    ],
)
def test_the_operator_manages_topics_where_the_kafka_is(
    chart: Chart,
    m: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
    sets: tuple[str, ...],
    topics: str,
    bootstrap: str,
) -> None:
    objects = chart.template(sets=sets)
    settings = operator_settings(objects, m, monkeypatch)
    assert settings.topics == topics
    assert settings.default_bootstrap == bootstrap
    # Rights on KafkaTopics only for the Topic Operator's mode
    assert bool(m.find(objects, "Role", "telemetra-operator-topics")) == (topics == "strimzi")
    assert bool(m.find(objects, "RoleBinding", "telemetra-operator-topics")) == (topics == "strimzi")


def test_the_statefulset_follows_the_image_contract(chart: Chart, m: SimpleNamespace) -> None:
    objects = chart.template("statefulset")
    statefulset = m.one(objects, "StatefulSet", "telemetra-kafka")
    headless = m.one(objects, "Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert (
        headless["spec"]["publishNotReadyAddresses"] is True
    )  # the node reaches its controller while starting
    container = kafka_container(objects, m)
    assert "command" not in container and "args" not in container  # the image's entry point
    env = m.env(container)
    names = [e["name"] for e in container["env"]]
    assert names.index("POD_NAME") < names.index("KAFKA_ADVERTISED_LISTENERS")  # defined before it is used
    env["POD_NAME"] = "telemetra-kafka-0"  # what the downward API gives the only pod
    pod_dns = f"telemetra-kafka-0.{headless['metadata']['name']}.{NAMESPACE}.svc"
    assert env["KAFKA_NODE_ID"] == "0"
    assert expand(env["KAFKA_ADVERTISED_LISTENERS"], env) == f"PLAINTEXT://{pod_dns}:9092"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"0@{pod_dns}:9093"
    data = next(v for v in container["volumeMounts"] if v["name"] == "data")["mountPath"]
    assert env["KAFKA_LOG_DIRS"].startswith(data + "/")  # below the volume's root (lost+found)
    assert container["image"] == "ghcr.io/telemetra/telemetra-kafka:0.1.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    override = chart.template(
        "statefulset", sets=["kafka.image=localhost/telemetra-kafka:abc123", "image.pullPolicy=Never"]
    )
    assert kafka_container(override, m)["image"] == "localhost/telemetra-kafka:abc123"
    assert kafka_container(override, m)["imagePullPolicy"] == "Never"


def test_the_cluster_id_is_a_kafka_uuid_that_survives_upgrades(chart: Chart, m: SimpleNamespace) -> None:
    """Kafka's Uuid.fromString: base64url without padding, 16 bytes. The same on every render of the release
    (a changed id would make the broker refuse its own volume), another for another cluster."""

    def cluster_id(*sets: str, name: str = "telemetra-kafka") -> str:
        objects = chart.template("statefulset", sets=sets)
        value: str = m.env(kafka_container(objects, m, name))["KAFKA_CLUSTER_ID"]
        return value

    first = cluster_id()
    assert len(first) == 22 and re.fullmatch(r"[A-Za-z0-9_-]+", first)
    assert len(base64.urlsafe_b64decode(first + "==")) == 16
    assert cluster_id("api.logLevel=DEBUG") == first
    assert cluster_id("kafka.name=analytics", name="analytics") != first


def test_the_broker_configuration_is_the_same_in_both_modes(chart: Chart, m: SimpleNamespace) -> None:
    """kafka.config over the chart's replication settings: the Strimzi Kafka's config, and KAFKA_CFG_* variables
    whose names the entry point turns back into properties (lower case, underscores → dots)."""
    sets = ["kafka.config.log\\.retention\\.hours=48", "kafka.config.min\\.insync\\.replicas=1"]
    strimzi = m.one(chart.template(sets=sets), "Kafka", "telemetra-kafka")["spec"]["kafka"]["config"]
    env = m.env(kafka_container(chart.template(sets=[*sets, "kafka.mode=statefulset"]), m))
    properties = {
        k.removeprefix("KAFKA_CFG_").lower().replace("_", "."): v
        for k, v in env.items()
        if k.startswith("KAFKA_CFG_")
    }
    assert properties == {key: str(value).lower() for key, value in strimzi.items()}
    assert properties["auto.create.topics.enable"] == "false"  # topics come from the operator only
    assert properties["log.retention.hours"] == "48"


def test_storage_and_the_locked_down_pod(chart: Chart, m: SimpleNamespace) -> None:
    persistent = m.one(chart.template("statefulset"), "StatefulSet", "telemetra-kafka")
    (claim,) = persistent["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["storageClassName"] == "standard"
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert "data" not in {v["name"] for v in m.pod_spec(persistent)["volumes"]}

    ephemeral = m.one(chart.template(sets=["kafka.mode=statefulset"]), "StatefulSet", "telemetra-kafka")
    assert "volumeClaimTemplates" not in ephemeral["spec"]
    volumes = {v["name"]: v for v in m.pod_spec(ephemeral)["volumes"]}
    assert volumes["data"]["emptyDir"] == {"sizeLimit": "10Gi"}
    pod = m.pod_spec(ephemeral)
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user
    assert pod["securityContext"]["fsGroup"] == 10001  # owns the volume
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {v["mountPath"]: v["name"] for v in container["volumeMounts"]}
    assert mounts == {"/var/lib/kafka/data": "data", "/tmp": "tmp"}  # the only places it writes
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["tcpSocket"] == {"port": "kafka"}


def test_the_network_policy_admits_exactly_kafkas_clients(
    chart: Chart, m: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Port 9092 for the pods the operator creates (producer, Spark driver and executors, built here by the
    operator's own builders with the chart's settings) and for the operator; not for the API. Port 9093 for
    the Kafka node only."""
    objects = chart.template("statefulset")
    policy = m.one(objects, "NetworkPolicy", "telemetra-kafka")
    statefulset = m.one(objects, "StatefulSet", "telemetra-kafka")
    kafka_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert m.selects(policy["spec"]["podSelector"], kafka_labels)
    rules = {rule["ports"][0]["port"]: rule["from"] for rule in policy["spec"]["ingress"]}
    assert set(rules) == {9092, 9093}

    def admitted(port: int, labels: dict[str, str]) -> bool:
        return any(m.selects(peer["podSelector"], labels) for peer in rules[port])

    body = {
        "metadata": {"name": "demo", "namespace": NAMESPACE, "uid": "u", "generation": 1},
        "spec": {"streamId": "demo", "source": {"type": "mock", "mock": {}}},
    }
    stream = Stream.from_body(body, operator_settings(objects, m, monkeypatch))
    deployment = producer.build_producer(stream)[-1]
    application = spark.build_spark_application(stream)["spec"]
    clients = {
        "producer": deployment["spec"]["template"]["metadata"]["labels"],
        "driver": application["driver"]["labels"],
        "executor": application["executor"]["labels"],
        "operator": m.one(objects, "Deployment", "telemetra-operator")["spec"]["template"]["metadata"][
            "labels"
        ],
    }
    for who, labels in clients.items():
        assert admitted(9092, labels), who
        assert not admitted(9093, labels), who
    api = m.one(objects, "Deployment", "telemetra-api")["spec"]["template"]["metadata"]["labels"]
    assert not admitted(9092, api)
    assert admitted(9093, kafka_labels)


# -- client security (kafka.security) -------------------------------------------------------------------------
def demo_stream(settings: OperatorSettings) -> Stream:
    body = {
        "metadata": {"name": "demo", "namespace": NAMESPACE, "uid": "u", "generation": 1},
        "spec": {"streamId": "demo", "source": {"type": "mock", "mock": {}}},
    }
    return Stream.from_body(body, settings)


def test_production_kafka_takes_only_tls_and_scram_from_its_own_users(
    chart: Chart, m: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production values: one listener, TLS on 9093 with SCRAM-SHA-512, simple authorization; a KafkaUser
    per client, whose Secret (Strimzi's: the user's name, key ``password``) and the cluster CA Secret are what
    the operator's builders reference, at the address and port of that listener."""
    objects = chart.template("production")
    kafka = m.one(objects, "Kafka", "telemetra-kafka")["spec"]
    listeners = kafka["kafka"]["listeners"]
    for listener in listeners:
        listener.pop("networkPolicyPeers")  # tested with the NetworkPolicies
    assert listeners == [
        {
            "name": "tls",
            "port": 9093,
            "type": "internal",
            "tls": True,
            "authentication": {"type": "scram-sha-512"},
        }
    ]
    assert kafka["kafka"]["authorization"] == {"type": "simple"}
    assert "userOperator" in kafka["entityOperator"]
    users = {u["metadata"]["name"]: u for u in m.find(objects, "KafkaUser")}
    assert set(users) == {"telemetra-producer", "telemetra-processor", "telemetra-operator"}
    for user in users.values():
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "telemetra-kafka"
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
    acls = {
        name: {
            (a["resource"]["type"], a["resource"]["name"], *a["operations"])
            for a in u["spec"]["authorization"]["acls"]
        }
        for name, u in users.items()
    }
    assert acls["telemetra-producer"] == {("topic", "telemetra.", "Describe", "Write")}
    assert ("group", "spark-kafka-source-", "Describe", "Read") in acls["telemetra-processor"]
    assert acls["telemetra-operator"] == {("topic", "telemetra.pool.", "Describe", "Read", "Write")}

    settings = operator_settings(objects, m, monkeypatch)
    stream = demo_stream(settings)
    assert stream.kafka_bootstrap.endswith(f":{listeners[0]['port']}")
    _, config, deployment = producer.build_producer(stream)
    pod = m.pod_spec(deployment)
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in pod["containers"][0]["env"]}
    assert refs[PASSWORD_ENV] == {"name": "telemetra-producer", "key": "password"}
    ca = next(v for v in pod["volumes"] if v["name"] == kafka_client.CA_VOLUME)["secret"]
    assert ca["secretName"] == "telemetra-kafka-cluster-ca-cert"  # Strimzi's cluster CA Secret
    security = KafkaSecurity.from_env({**config["data"], PASSWORD_ENV: "x"})
    assert (security.security_protocol, security.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    conf = spark.spark_conf(stream)
    assert conf[f"spark.kubernetes.driver.secretKeyRef.{PASSWORD_ENV}"] == "telemetra-processor:password"


@pytest.mark.parametrize(
    ("sets", "protocol", "ports"),
    [
        ((), "PLAINTEXT", {9092: None, 9093: None}),
        (("kafka.security.authentication=scram-sha-512",), "SASL_PLAINTEXT", {9092: "scram", 9093: "scram"}),
        (("kafka.security.tls=true",), "SSL", {9093: None}),
    ],
)
def test_every_listener_authenticates_and_the_operator_is_told_how(
    chart: Chart,
    m: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
    sets: tuple[str, ...],
    protocol: str,
    ports: dict[int, str | None],
) -> None:
    objects = chart.template(sets=sets)
    listeners = m.one(objects, "Kafka", "telemetra-kafka")["spec"]["kafka"]["listeners"]
    assert {
        listener["port"]: listener.get("authentication", {}).get("type", "")[:5] or None
        for listener in listeners
    } == ports
    assert bool(m.find(objects, "KafkaUser")) == protocol.startswith("SASL_")
    settings = operator_settings(objects, m, monkeypatch)
    assert settings.kafka_security_protocol == protocol
    assert settings.default_bootstrap.endswith(":9093" if protocol.endswith("SSL") else ":9092")
    assert bool(settings.kafka_ca_secret) == protocol.endswith("SSL")


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("kafka.mode=statefulset", "kafka.security.tls=true"), "need kafka.mode=strimzi"),
        (
            ("kafka.mode=statefulset", "kafka.security.authentication=scram-sha-512"),
            "need kafka.mode=strimzi",
        ),
        ((*EXTERNAL, "kafka.security.tls=true"), "external Kafka over TLS or SASL is not supported"),
        (("kafka.security.authentication=plain",), "/kafka/security/authentication"),
    ],
)
def test_kafka_security_is_refused_where_it_cannot_work(
    chart: Chart, sets: tuple[str, ...], message: str
) -> None:
    assert message in chart.template_error(sets=sets)
