"""The NetworkPolicies as a whole, evaluated as Kubernetes does: a pod that a policy of one direction selects is
isolated in that direction, and a connection needs both the client's egress and the server's ingress to admit it.
The pods are the chart's, the CloudNativePG and Strimzi pods it asks for, and the producer and Spark pods of a
stream as the operator's own builders make them with the chart's settings (their labels are not copied here)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from telemetra.dev.testing.kube import selects
from telemetra.operator.builders import producer, spark
from telemetra.operator.settings import OperatorSettings
from telemetra.operator.stream import Stream

Chart = Any  # conftest.Chart
Manifest = dict[str, Any]
NAMESPACE = "telemetra"
HERE = {"kubernetes.io/metadata.name": NAMESPACE}
STREAM = {
    "metadata": {"name": "demo", "namespace": NAMESPACE, "uid": "u", "generation": 1},
    "spec": {"streamId": "demo", "source": {"type": "mock", "mock": {}}},
}


@dataclass(frozen=True)
class Pod:
    """An endpoint: a pod's labels, its namespace's labels and its address (the API server is only an address)."""

    labels: Mapping[str, str] = field(default_factory=dict)
    namespace: Mapping[str, str] = field(default_factory=lambda: HERE)
    ip: str = "10.244.0.20"


DNS = Pod({"k8s-app": "kube-dns"}, {"kubernetes.io/metadata.name": "kube-system"}, "10.244.0.2")
PROMETHEUS = Pod({"app.kubernetes.io/name": "prometheus"}, {"kubernetes.io/metadata.name": "monitoring"})
API_SERVER = Pod({}, {}, "192.168.100.2")  # inside the production profile's kubeApiServer.cidrs
INTERNET = Pod({}, {}, "34.212.10.5")
# Another pod of the platform that uses no backend: carrying the part-of label is not enough.
STRANGER = Pod({"app.kubernetes.io/part-of": "telemetra", "app.kubernetes.io/component": "dashboard-sidecar"})


def peer_matches(peer: Mapping[str, Any], pod: Pod) -> bool:
    if "ipBlock" in peer:
        address = ipaddress.ip_address(pod.ip)
        block = peer["ipBlock"]
        inside = address in ipaddress.ip_network(block["cidr"])
        return inside and not any(address in ipaddress.ip_network(c) for c in block.get("except", []))
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], pod.namespace)
    else:
        in_namespace = pod.namespace == HERE  # a podSelector alone: the policy's own namespace
    return in_namespace and selects(peer.get("podSelector", {}), pod.labels)


def isolating(policies: Iterable[Manifest], pod: Pod, direction: str) -> list[Manifest]:
    """The policies (all in the release namespace) that select the pod for Ingress or Egress."""
    if pod.namespace != HERE:
        return []
    return [
        p
        for p in policies
        if direction in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], pod.labels)
    ]


def allowed(
    policies: list[Manifest], direction: str, pod: Pod, peer: Pod, port: int | str, protocol: str = "TCP"
) -> bool:
    selecting = isolating(policies, pod, direction)
    if not selecting:
        return True
    peers_key = "from" if direction == "Ingress" else "to"
    for rule in (rule for policy in selecting for rule in policy["spec"].get(direction.lower(), [])):
        ports = rule.get("ports") or [{"protocol": protocol}]  # no ports: every port
        if not any(p.get("protocol", "TCP") == protocol and p.get("port", port) == port for p in ports):
            continue
        if not rule.get(peers_key) or any(peer_matches(x, peer) for x in rule[peers_key]):
            return True
    return False


def connects(
    policies: list[Manifest], client: Pod, server: Pod, port: int | str, protocol: str = "TCP"
) -> bool:
    return allowed(policies, "Egress", client, server, port, protocol) and allowed(
        policies, "Ingress", server, client, port, protocol
    )


@dataclass(frozen=True)
class Platform:
    """A rendered profile: its NetworkPolicies, its pods by role, and the Kafka port the operator's pods use."""

    policies: list[Manifest]
    pods: dict[str, Pod]
    kafka_port: int
    strimzi: tuple[str, ...]  # roles whose ingress Strimzi's own policies govern


def platform(objects: list[Manifest], m: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> Platform:
    pods = {
        workload["metadata"]["name"].removeprefix("telemetra-"): Pod(
            workload["spec"]["template"]["metadata"]["labels"]
        )
        for workload in objects
        if workload["kind"] in ("Deployment", "StatefulSet")
    }
    for cluster in m.find(objects, "Cluster"):  # CloudNativePG instances
        pods["postgresql"] = Pod(
            {"cnpg.io/cluster": cluster["metadata"]["name"], "cnpg.io/podRole": "instance"}
        )
    strimzi: tuple[str, ...] = ()
    for kafka in m.find(objects, "Kafka"):
        name = kafka["metadata"]["name"]
        (pool,) = m.find(objects, "KafkaNodePool")
        common = {"strimzi.io/cluster": name, "strimzi.io/kind": "Kafka"}
        pods["kafka"] = Pod(
            {
                **common,
                "strimzi.io/name": f"{name}-kafka",
                "strimzi.io/pool-name": pool["metadata"]["name"],
                "strimzi.io/broker-role": "true",
                "strimzi.io/controller-role": "true",
            }
        )
        pods["entity-operator"] = Pod({**common, "strimzi.io/name": f"{name}-entity-operator"})
        strimzi = ("kafka", "entity-operator")
    # The stream's pods, built by the operator with the settings the chart gives it.
    m.operator_env(objects, monkeypatch)
    stream = Stream.from_body(STREAM, OperatorSettings())
    config_map, deployment = producer.build_producer(stream)[1:]
    application = spark.build_spark_application(stream)["spec"]
    pods["producer"] = Pod(deployment["spec"]["template"]["metadata"]["labels"])
    pods["driver"] = Pod(application["driver"]["labels"])
    pods["executor"] = Pod(application["executor"]["labels"])
    kafka_port = urlsplit(config_map["data"]["TELEMETRA_SINK"]).port
    assert kafka_port and str(kafka_port) == stream.kafka_bootstrap.rsplit(":", 1)[1]
    return Platform(m.find(objects, "NetworkPolicy"), pods, kafka_port, strimzi)


@pytest.fixture
def render(
    chart: Chart, m: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, validate: Callable[[Manifest], None]
) -> Callable[..., Platform]:
    """render(profile="default", sets=(), json_sets=()) → the Platform, its NetworkPolicies checked against
    Kubernetes' schema. ``json_sets`` go to --set-json (an empty list cannot be written with --set)."""

    def run(profile: str = "default", sets: Iterable[str] = (), json_sets: Iterable[str] = ()) -> Platform:
        args = chart.template_args(profile, sets=sets)
        for item in json_sets:
            args += ["--set-json", item]
        objects = [doc for doc in yaml.safe_load_all(chart.run(*args).stdout) if doc]
        for policy in m.find(objects, "NetworkPolicy"):
            validate(policy)
        return platform(objects, m, monkeypatch)

    return run


def test_every_pod_is_isolated_both_ways(
    profile: tuple[str, list[Manifest]], m: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each pod, the operator's producers and Spark pods included, is selected by an ingress and an egress
    policy (Strimzi's pods: egress; Strimzi writes their ingress policies), and every policy limits egress."""
    name, objects = profile
    world = platform(objects, m, monkeypatch)
    assert {"api", "operator", "producer", "driver", "executor", "postgresql", "redis"} <= set(world.pods), (
        name
    )
    for role, pod in world.pods.items():
        assert isolating(world.policies, pod, "Egress"), f"{name}: no egress policy selects {role}"
        if role not in world.strimzi:
            assert isolating(world.policies, pod, "Ingress"), f"{name}: no ingress policy selects {role}"
    for policy in world.policies:
        assert "Egress" in policy["spec"]["policyTypes"], f"{name}: {policy['metadata']['name']}"


def test_every_pod_reaches_the_dns_and_nothing_at_random(
    profile: tuple[str, list[Manifest]], m: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, objects = profile
    world = platform(objects, m, monkeypatch)
    stranger = Pod({"app": "somebody-else"})
    for role, pod in world.pods.items():
        for protocol in ("UDP", "TCP"):
            assert allowed(world.policies, "Egress", pod, DNS, 53, protocol), (
                f"{name}: {role} → DNS/{protocol}"
            )
        assert not allowed(world.policies, "Egress", pod, stranger, 8080), f"{name}: {role} → any pod"
        if role != "alerts":  # the alert destinations are on the internet (its own test)
            assert not allowed(world.policies, "Egress", pod, INTERNET, 80), f"{name}: {role} → internet:80"


@pytest.mark.parametrize("name", ["default", "production", "statefulset"])
def test_each_backend_admits_exactly_its_clients(render: Callable[..., Platform], name: str) -> None:
    """PostgreSQL: the API, the Spark pods, the alert dispatcher and the operator (the alert outbox and the
    streams' alert configs); Redis: the API and the Spark pods (not the producer, not any pod with the part-of
    label). Kafka: the producer and the Spark pods, and the operator when it manages topics through the Admin API
    (statefulset mode), not the API. The server's ingress and each client's egress both enforce it
    (Strimzi writes the Kafka pods' ingress policies). The statefulset PostgreSQL, the CloudNativePG instances,
    Redis and both Kafka modes are covered."""
    world = render(name)
    roles = ("api", "operator", "producer", "driver", "executor", "alerts")
    clients = {role: world.pods[role] for role in roles}
    backends = {"postgresql": 5432, "redis": 6379, "kafka": world.kafka_port}
    expected = {
        "postgresql": {"api", "driver", "executor", "alerts", "operator"},
        "redis": {"api", "driver", "executor"},
        "kafka": {"producer", "driver", "executor", "operator"},  # the operator: the pools' control topics
    }
    for backend, port in backends.items():
        server = world.pods[backend]
        reaching = {
            role for role, pod in clients.items() if allowed(world.policies, "Egress", pod, server, port)
        }
        assert reaching == expected[backend], f"{name}: egress to {backend}"
        if backend not in world.strimzi:
            admitted = {
                role
                for role, pod in (clients | {"stranger": STRANGER}).items()
                if allowed(world.policies, "Ingress", server, pod, port)
            }
            assert admitted == expected[backend], f"{name}: ingress of {backend}"
        assert not connects(world.policies, world.pods["api"], server, port + 1), backend


def test_spark_pods_talk_to_each_other_and_drivers_are_scraped(render: Callable[..., Platform]) -> None:
    world = render("production")  # Prometheus restricted to the monitoring namespace
    driver, executor, producer_pod = world.pods["driver"], world.pods["executor"], world.pods["producer"]
    for port in (7078, 7079):  # Spark's driver RPC and block manager
        assert connects(world.policies, executor, driver, port)
        assert connects(world.policies, driver, executor, port)
        assert not connects(world.policies, producer_pod, driver, port)
        assert not connects(world.policies, world.pods["api"], executor, port)
    port = OperatorSettings().job_metrics_port
    assert allowed(world.policies, "Ingress", driver, PROMETHEUS, port)
    assert connects(world.policies, world.pods["operator"], driver, port)  # a pool's events/s and lag
    elsewhere = Pod(PROMETHEUS.labels, {"kubernetes.io/metadata.name": "default"})
    assert not allowed(world.policies, "Ingress", driver, elsewhere, port)
    assert not allowed(world.policies, "Ingress", producer_pod, PROMETHEUS, port)
    assert not connects(world.policies, producer_pod, driver, port)


@pytest.mark.parametrize("name", ["default", "production"])
def test_only_the_operator_the_spark_drivers_the_alert_dispatcher_and_cnpg_reach_the_api_server(
    render: Callable[..., Platform], name: str
) -> None:
    """Default: any address on ports 443 and 6443; production: the control plane's CIDR only."""
    world = render(name)
    callers = {
        role
        for role, pod in world.pods.items()
        if all(allowed(world.policies, "Egress", pod, API_SERVER, port) for port in (443, 6443))
    }
    assert callers == {"operator", "driver", "alerts", "entity-operator"} | (
        {"postgresql"} if name == "production" else set()
    )
    elsewhere = Pod({}, {}, "192.168.100.99")
    assert allowed(world.policies, "Egress", world.pods["operator"], elsewhere, 6443) is (name == "default")


def test_the_api_reaches_the_otlp_collector_when_tracing_is_on(render: Callable[..., Platform]) -> None:
    collector = Pod({"app": "otel-collector"}, {"kubernetes.io/metadata.name": "observability"})
    default = render()
    assert not allowed(default.policies, "Egress", default.pods["api"], collector, 4318)
    production = render("production")  # otelEndpoint http://otel-collector.observability.svc:4318/v1/traces
    api = production.pods["api"]
    assert allowed(production.policies, "Egress", api, collector, 4318)
    outside = Pod(collector.labels, HERE)  # networkPolicy.otelCollector.to: the observability namespace only
    assert not allowed(production.policies, "Egress", api, outside, 4318)
    assert not allowed(production.policies, "Egress", production.pods["producer"], collector, 4318)
    anywhere = render(sets=["api.otelEndpoint=https://otlp.example.com/v1/traces"])  # the scheme's port
    assert allowed(anywhere.policies, "Egress", anywhere.pods["api"], INTERNET, 443)
    assert not allowed(anywhere.policies, "Egress", anywhere.pods["api"], INTERNET, 4318)


def test_producers_reach_the_internet_on_https_only(render: Callable[..., Platform]) -> None:
    world = render()
    producer_pod = world.pods["producer"]
    assert allowed(world.policies, "Egress", producer_pod, INTERNET, 443)  # Twitch, replay URLs
    assert not allowed(world.policies, "Egress", producer_pod, Pod({}, {}, "10.1.2.3"), 443)  # the cluster
    assert not allowed(world.policies, "Egress", world.pods["executor"], INTERNET, 443)
    closed = render(json_sets=["networkPolicy.producerInternet.ports=[]"])
    assert not allowed(closed.policies, "Egress", closed.pods["producer"], INTERNET, 443)


def test_external_backends(render: Callable[..., Platform]) -> None:
    """An external Kafka is reached on its bootstrap port, as the brokers of its Strimzi cluster when it names
    one; an external database and Redis on their ports, at networkPolicy.external*.to."""
    external = [
        "kafka.enabled=false",
        "externalKafka.bootstrapServers=redpanda.streaming.svc:19092",
        "postgresql.enabled=false",
        "externalDatabase.existingSecret=db",
        "networkPolicy.externalDatabase.to[0].ipBlock.cidr=10.20.0.0/16",
        "redis.enabled=false",
        "externalRedis.existingSecret=cache",
    ]
    world = render(sets=external)
    producer_pod, driver, api = world.pods["producer"], world.pods["driver"], world.pods["api"]
    assert world.kafka_port == 19092
    broker = Pod({}, {"kubernetes.io/metadata.name": "streaming"})
    assert allowed(world.policies, "Egress", producer_pod, broker, 19092)
    assert not allowed(world.policies, "Egress", producer_pod, broker, 9092)
    assert not allowed(world.policies, "Egress", api, broker, 19092)
    database = Pod({}, {}, "10.20.3.4")
    assert allowed(world.policies, "Egress", driver, database, 5432)
    assert not allowed(world.policies, "Egress", driver, Pod({}, {}, "10.30.3.4"), 5432)
    assert allowed(world.policies, "Egress", api, Pod({}, {}, "10.30.3.4"), 6379)
    assert not allowed(world.policies, "Egress", producer_pod, Pod({}, {}, "10.30.3.4"), 6379)

    strimzi = render(sets=[*external[:2], "externalKafka.clusterName=shared"])
    executor = strimzi.pods["executor"]
    brokers = {"strimzi.io/cluster": "shared", "strimzi.io/kind": "Kafka", "strimzi.io/broker-role": "true"}
    assert allowed(strimzi.policies, "Egress", executor, Pod(brokers, broker.namespace), 19092)
    assert not allowed(strimzi.policies, "Egress", executor, broker, 19092)
    entity_operator = {"strimzi.io/cluster": "shared", "strimzi.io/kind": "Kafka"}
    assert not allowed(strimzi.policies, "Egress", executor, Pod(entity_operator, broker.namespace), 19092)


def test_extra_egress_is_added_to_its_component_only(render: Callable[..., Platform]) -> None:
    world = render(sets=["networkPolicy.extraEgress.processor[0].ports[0].port=443"])  # s3a:// checkpoints
    assert allowed(world.policies, "Egress", world.pods["executor"], INTERNET, 443)
    assert not allowed(world.policies, "Egress", world.pods["api"], INTERNET, 443)


@pytest.mark.parametrize(
    ("sets", "named"),
    [
        (["networkPolicy.kubeApiServer.cidrs={10.0.0.1}"], "/networkPolicy/kubeApiServer/cidrs/0"),
        (["networkPolicy.kubeApiServer.ports={0}"], "/networkPolicy/kubeApiServer/ports/0"),
        (["networkPolicy.extraEgress.api[0].from[0].podSelector.x=y"], "/networkPolicy/extraEgress/api/0"),
        (["networkPolicy.dns.to[0].bogus=1"], "/networkPolicy/dns/to/0"),
    ],
)
def test_bad_egress_values_are_refused(chart: Chart, sets: list[str], named: str) -> None:
    error = chart.template_error(sets=sets)
    assert "values don't meet the specifications of the schema" in error
    assert named in error, error


@pytest.mark.parametrize("profile", ["default", "production"])
def test_strimzi_brokers_admit_only_their_clients(
    chart: Chart, m: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, profile: str
) -> None:
    """Strimzi writes the brokers' ingress policy from each listener's ``networkPolicyPeers``: without them it
    admits every pod in the cluster."""
    objects = [doc for doc in yaml.safe_load_all(chart.run(*chart.template_args(profile)).stdout) if doc]
    pods = platform(objects, m, monkeypatch).pods
    (kafka,) = m.find(objects, "Kafka")
    for listener in kafka["spec"]["kafka"]["listeners"]:
        peers = listener["networkPolicyPeers"]
        admitted = {role for role, pod in pods.items() if any(peer_matches(peer, pod) for peer in peers)}
        assert admitted == {"producer", "driver", "executor"}, listener["name"]
        assert not any(peer_matches(peer, STRANGER) for peer in peers)


def test_the_alert_dispatcher_reaches_public_destinations_only(render: Callable[..., Platform]) -> None:
    """Webhooks, Discord and Slack on 443 and 80, anywhere public: not a private or link-local address (a stream's
    webhook must not reach into the cluster or the cloud's metadata service); Prometheus scrapes its metrics. The
    production profile names the API server's addresses, so its port 443 opens nothing else."""
    world = render("production")
    alerts = world.pods["alerts"]
    for port in (443, 80):
        assert allowed(world.policies, "Egress", alerts, INTERNET, port)
    assert not allowed(world.policies, "Egress", alerts, INTERNET, 8080)
    for inside in ("10.96.0.10", "172.20.1.1", "192.168.1.10", "169.254.169.254"):
        for port in (443, 80):
            assert not allowed(world.policies, "Egress", alerts, Pod({}, {}, inside), port), (inside, port)
    assert not connects(world.policies, alerts, world.pods["redis"], 6379)
    assert not connects(world.policies, alerts, world.pods["api"], 8000)
    assert allowed(world.policies, "Ingress", alerts, PROMETHEUS, "metrics")
    assert not allowed(world.policies, "Ingress", alerts, world.pods["api"], "metrics")

    receiver = Pod({"app": "receiver"}, {"kubernetes.io/metadata.name": "hooks"})
    opened = render(
        "production",
        json_sets=[
            'alerts.egress.to=[{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "hooks"}}}]'
        ],
    )
    assert allowed(opened.policies, "Egress", opened.pods["alerts"], receiver, 80)
    assert not allowed(opened.policies, "Egress", opened.pods["alerts"], INTERNET, 443)
    closed = render("production", json_sets=["alerts.egress.ports=[]"])
    assert not allowed(closed.policies, "Egress", closed.pods["alerts"], INTERNET, 443)
