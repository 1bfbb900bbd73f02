"""`helm lint` and `helm template` of every profile: each object valid against its Kubernetes or CRD schema,
secure pod defaults everywhere, and what each value switch is supposed to change."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from telemetra.operator.settings import OperatorSettings
from telemetra.services.settings import Settings

Chart = Any  # conftest.Chart (conftest modules are not importable under --import-mode=importlib)
Manifest = dict[str, Any]
NAMESPACE = "telemetra"
WORKLOADS = ("Deployment", "StatefulSet")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_URL$|CREDENTIAL", re.IGNORECASE)
NOT_CREDENTIALS = {
    "TELEMETRA_ALERTS_SECRETS_SOURCE"
}  # where the dispatcher reads Secrets: `kubernetes` or `dir`


def test_lint_strict_for_every_profile(chart: Chart) -> None:
    for name, files in chart.profiles.items():
        args = ["lint", str(chart.path), "--strict", "--kube-version", chart.kube_version]
        for file in files:
            args += ["--values", str(chart.path / file)]
        result = chart.run(*args, check=False)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_every_object_is_valid(
    profile: tuple[str, list[Manifest]], validate: Callable[[Manifest], None]
) -> None:
    name, objects = profile
    assert len(objects) > 10, name
    for obj in objects:
        validate(obj)


def test_object_names_are_unique(profile: tuple[str, list[Manifest]]) -> None:
    _, objects = profile
    keys = [(o["kind"], o["metadata"].get("namespace", NAMESPACE), o["metadata"]["name"]) for o in objects]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)


def test_pods_are_locked_down(profile: tuple[str, list[Manifest]], m: SimpleNamespace) -> None:
    """Non-root, read-only root filesystem, no privilege escalation, all capabilities dropped, seccomp, and
    requests and limits on every container."""
    name, objects = profile
    workloads = [o for o in objects if o["kind"] in WORKLOADS]
    assert workloads, name
    for workload in workloads:
        where = f"{name}: {workload['kind']} {workload['metadata']['name']}"
        pod = m.pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] > 0, where
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in pod["containers"] + pod.get("initContainers", []):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), f"{where}: {bound}"
            assert not container["image"].endswith(":latest"), where
            assert ":" in container["image"].rsplit("/", 1)[-1], f"{where}: image without a tag"


def test_credentials_only_through_secret_references(
    profile: tuple[str, list[Manifest]], m: SimpleNamespace
) -> None:
    """Variables that carry credentials or URLs with credentials are Secret references, and no value of a
    Secret the chart renders appears anywhere else in the manifests (args, env values, ConfigMaps...)."""
    name, objects = profile
    for workload in (o for o in objects if o["kind"] in WORKLOADS):
        for container in m.pod_spec(workload)["containers"]:
            for var in container.get("env", []):
                if (
                    SECRET_NAME.search(var["name"])
                    and not var["name"].startswith("TELEMETRA_OPERATOR_")
                    and var["name"] not in NOT_CREDENTIALS
                ):
                    assert "secretKeyRef" in var.get("valueFrom", {}), (
                        f"{name}: {var['name']} is not a Secret ref"
                    )
    secrets = {
        base64.b64decode(value).decode()
        for secret in m.find(objects, "Secret")
        for value in secret.get("data", {}).values()
    }
    others = yaml.safe_dump([o for o in objects if o["kind"] != "Secret"])
    assert secrets or name != "default"
    for value in secrets:
        assert value not in others, f"{name}: a Secret value leaks outside its Secret"


def test_every_pod_is_covered_by_a_network_policy(
    profile: tuple[str, list[Manifest]], m: SimpleNamespace
) -> None:
    name, objects = profile
    policies = m.find(objects, "NetworkPolicy")
    for workload in (o for o in objects if o["kind"] in WORKLOADS):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        covering = [p for p in policies if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()]
        assert covering, f"{name}: no NetworkPolicy selects {workload['metadata']['name']}"
        ports = {port["port"] for p in covering for rule in p["spec"]["ingress"] for port in rule["ports"]}
        declared = {
            port.get("name") for c in m.pod_spec(workload)["containers"] for port in c.get("ports", [])
        } | {port["containerPort"] for c in m.pod_spec(workload)["containers"] for port in c.get("ports", [])}
        assert ports <= declared, f"{name}: policy opens {ports - declared} the pod does not serve"


def test_network_policies_can_be_turned_off(chart: Chart, m: SimpleNamespace) -> None:
    assert not m.find(chart.template(sets=["networkPolicy.enabled=false"]), "NetworkPolicy")


# -- the API ---------------------------------------------------------------------------------------------------


def _from_environment(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the container's plain variables into os.environ (Secret references stay out), as the kubelet does."""
    import os

    for key in [k for k in os.environ if k.startswith("TELEMETRA_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(key, value)


def test_api_settings_reach_the_service(
    chart: Chart, m: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every TELEMETRA_* variable the chart sets is a setting the API reads, and the API accepts the values."""
    objects = chart.template(
        sets=[
            "api.corsOrigins={https://a.example.com,https://b.example.com}",
            "api.publicReads=false",
            "api.limits.ratePerSecond=20",
            "api.limits.trustedProxies={10.42.0.0/16,fd00::/8}",
        ]
    )
    container = m.pod_spec(m.one(objects, "Deployment", "telemetra-api"))["containers"][0]
    env = m.env(container)
    fields = {name.upper() for name in Settings.model_fields}
    assert {k.removeprefix("TELEMETRA_") for k in env} <= fields
    _from_environment(env, monkeypatch)
    settings = Settings(store_url="sqlite:///x.db")
    assert settings.host == "0.0.0.0"
    assert settings.port == 8000
    assert settings.cors_origins == ["https://a.example.com", "https://b.example.com"]
    assert settings.public_reads is False
    assert (settings.rate_limit_per_s, settings.rate_limit_burst, settings.max_in_flight) == (20, 100, 64)
    assert settings.header_timeout_s == settings.body_timeout_s == 10
    assert settings.forwarded_allow_ips == "10.42.0.0/16,fd00::/8"
    assert env["TELEMETRA_DASHBOARD_DIR"] == "/opt/telemetra/dashboard"
    no_dashboard = chart.template(sets=["dashboard.enabled=false"])
    container = m.pod_spec(m.one(no_dashboard, "Deployment", "telemetra-api"))["containers"][0]
    assert m.env(container)["TELEMETRA_DASHBOARD_DIR"] == ""


def test_api_probes(chart: Chart, m: SimpleNamespace) -> None:
    def probes(*sets: str) -> dict[str, Any]:
        deployment = m.one(chart.template(sets=sets), "Deployment", "telemetra-api")
        return m.pod_spec(deployment)["containers"][0]  # type: ignore[no-any-return]

    default = probes()
    assert default["livenessProbe"]["httpGet"]["path"] == "/health"
    assert default["readinessProbe"]["httpGet"]["path"] == "/health"
    assert default["startupProbe"]["httpGet"]["path"] == "/health"
    assert probes("api.readinessPath=/ready")["readinessProbe"]["httpGet"]["path"] == "/ready"


@pytest.mark.parametrize(
    ("sets", "store", "cache"),
    [
        ((), ("telemetra-postgresql", "url"), ("telemetra-redis", "url")),
        (("postgresql.mode=cnpg",), ("telemetra-postgresql-app", "uri"), ("telemetra-redis", "url")),
        (
            ("postgresql.auth.existingSecret=pg-creds", "redis.auth.existingSecret=redis-creds"),
            ("pg-creds", "url"),
            ("redis-creds", "url"),
        ),
        (
            (
                "postgresql.enabled=false",
                "externalDatabase.existingSecret=db",
                "externalDatabase.urlKey=dsn",
                "redis.enabled=false",
                "externalRedis.existingSecret=cache",
            ),
            ("db", "dsn"),
            ("cache", "url"),
        ),
    ],
)
def test_backend_urls_come_from_the_right_secret(
    chart: Chart, m: SimpleNamespace, sets: tuple[str, ...], store: tuple[str, str], cache: tuple[str, str]
) -> None:
    """The API and the operator (which hands the same Secret to every Spark job) agree on where URLs are."""
    objects = chart.template(sets=sets)
    api = m.env(m.pod_spec(m.one(objects, "Deployment", "telemetra-api"))["containers"][0])
    for var, (secret, key) in (("TELEMETRA_STORE_URL", store), ("TELEMETRA_CACHE_URL", cache)):
        assert api[var]["secretKeyRef"] == {"name": secret, "key": key}
    operator = m.env(m.pod_spec(m.one(objects, "Deployment", "telemetra-operator"))["containers"][0])
    assert (
        operator["TELEMETRA_OPERATOR_STORE_SECRET"],
        operator["TELEMETRA_OPERATOR_STORE_SECRET_KEY"],
    ) == store
    assert (
        operator["TELEMETRA_OPERATOR_CACHE_SECRET"],
        operator["TELEMETRA_OPERATOR_CACHE_SECRET_KEY"],
    ) == cache
    generated = {s["metadata"]["name"] for s in m.find(objects, "Secret")}
    assert generated == {name for name, _ in (store, cache)} & {"telemetra-postgresql", "telemetra-redis"}


def test_generated_secrets_hold_a_consistent_url(chart: Chart, m: SimpleNamespace) -> None:
    objects = chart.template()
    for name, scheme in (("telemetra-postgresql", "postgresql"), ("telemetra-redis", "redis")):
        data = {k: base64.b64decode(v).decode() for k, v in m.one(objects, "Secret", name)["data"].items()}
        assert len(data["password"]) == 32 and data["password"].isalnum()
        assert data["url"].startswith(f"{scheme}://")
        assert f":{data['password']}@{name}.{NAMESPACE}.svc:" in data["url"]
    redis = m.pod_spec(m.one(objects, "StatefulSet", "telemetra-redis"))["containers"][0]
    assert redis["args"][:2] == [
        "--requirepass",
        "$(REDIS_PASSWORD)",
    ]  # expanded by the kubelet from the Secret


def test_autoscaling_and_disruption_budget(chart: Chart, m: SimpleNamespace) -> None:
    objects = chart.template()
    hpa = m.one(objects, "HorizontalPodAutoscaler", "telemetra-api")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert "replicas" not in m.one(objects, "Deployment", "telemetra-api")["spec"]  # the HPA owns it
    assert m.one(objects, "PodDisruptionBudget", "telemetra-api")["spec"]["maxUnavailable"] == 1
    fixed = chart.template(sets=["api.autoscaling.enabled=false", "api.replicas=3"])
    assert not m.find(fixed, "HorizontalPodAutoscaler")
    assert m.one(fixed, "Deployment", "telemetra-api")["spec"]["replicas"] == 3


def test_ingress_routes_everything_to_the_api(chart: Chart, m: SimpleNamespace) -> None:
    assert not m.find(chart.template(), "Ingress")
    ingress = m.one(chart.template("production"), "Ingress", "telemetra")
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert ingress["spec"]["tls"] == [{"secretName": "telemetra-tls", "hosts": ["telemetra.example.com"]}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "telemetra.example.com"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["backend"]["service"]["name"]) == ("/", "telemetra-api")


def test_api_credentials_are_secret_references(chart: Chart, m: SimpleNamespace) -> None:
    env = m.env(
        m.pod_spec(m.one(chart.template("production"), "Deployment", "telemetra-api"))["containers"][0]
    )
    assert env["TELEMETRA_API_TOKENS"]["secretKeyRef"] == {"name": "telemetra-api-auth", "key": "api-tokens"}
    assert env["TELEMETRA_JWT_SECRET"]["secretKeyRef"] == {"name": "telemetra-api-auth", "key": "jwt-secret"}
    assert "TELEMETRA_API_TOKENS" not in m.env(
        m.pod_spec(m.one(chart.template(), "Deployment", "telemetra-api"))["containers"][0]
    )


# -- the operator ------------------------------------------------------------------------------------------


def test_operator_runs_alone_and_its_settings_parse(
    chart: Chart, m: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = chart.template()
    deployment = m.one(objects, "Deployment", "telemetra-operator")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    container = m.pod_spec(deployment)["containers"][0]
    env = m.env(container)
    fields = set(OperatorSettings.model_fields)
    values = {k.removeprefix("TELEMETRA_OPERATOR_").lower(): v for k, v in env.items() if "OPERATOR_" in k}
    assert set(values) <= fields, set(values) - fields
    _from_environment(env, monkeypatch)
    settings = OperatorSettings()
    assert settings.watch_namespace == NAMESPACE
    assert settings.kafka_cluster == "telemetra-kafka"
    assert settings.kafka_namespace == NAMESPACE
    assert settings.kafka_bootstrap == f"telemetra-kafka-kafka-bootstrap.{NAMESPACE}.svc:9092"
    assert settings.kafka_topic_api_version == "kafka.strimzi.io/v1"
    assert settings.spark_packages == []  # the connector is baked into the Spark image
    assert settings.spark_image == "ghcr.io/telemetra/telemetra-spark:0.1.0"
    assert settings.producer_image == "ghcr.io/telemetra/telemetra-producer:0.1.0"
    assert settings.spark_service_account == "telemetra-spark"
    assert settings.checkpoint_base_uri == "file:///checkpoints"
    assert settings.checkpoint_claim == "telemetra-checkpoints"
    assert m.one(objects, "PersistentVolumeClaim", "telemetra-checkpoints")
    assert settings.liveness_endpoint == "http://0.0.0.0:8080/healthz"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["args"] == ["python", "-m", "telemetra.operator", "run", "--log-format", "json"]
    verbose = m.one(chart.template(sets=["operator.verbose=true"]), "Deployment", "telemetra-operator")
    assert m.pod_spec(verbose)["containers"][0]["args"][-1] == "--verbose"
    from telemetra.operator.__main__ import main

    with pytest.raises(SystemExit) as parsed:  # the operator's own parser accepts the chart's arguments
        main([*container["args"][3:], "--help"])
    assert parsed.value.code == 0
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8080, "metrics": settings.metrics_port}


def test_operator_rbac_scope(chart: Chart, m: SimpleNamespace) -> None:
    namespaced = chart.template()
    role = m.one(namespaced, "Role", "telemetra-operator")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert not m.find(namespaced, "ClusterRole")  # nothing cluster-wide by default
    topics = m.one(namespaced, "Role", "telemetra-operator-topics")
    assert topics["metadata"]["namespace"] == NAMESPACE  # the in-release Kafka cluster's namespace

    cluster = chart.template(sets=["operator.namespaced=false"])
    assert m.one(cluster, "ClusterRole", "telemetra-operator")["rules"] == role["rules"]
    assert m.one(cluster, "ClusterRoleBinding", "telemetra-operator")
    env = m.env(m.pod_spec(m.one(cluster, "Deployment", "telemetra-operator"))["containers"][0])
    assert env["TELEMETRA_OPERATOR_WATCH_NAMESPACE"] == ""

    external = chart.template(
        sets=[
            "kafka.enabled=false",
            "externalKafka.bootstrapServers=shared-kafka-kafka-bootstrap.kafka.svc:9092",
            "externalKafka.clusterName=shared-kafka",
            "externalKafka.namespace=kafka",
        ]
    )
    topics = m.one(external, "Role", "telemetra-operator-topics")
    assert topics["metadata"]["namespace"] == "kafka"
    binding = m.one(external, "RoleBinding", "telemetra-operator-topics")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "telemetra-operator", "namespace": NAMESPACE}
    ]
    env = m.env(m.pod_spec(m.one(external, "Deployment", "telemetra-operator"))["containers"][0])
    assert env["TELEMETRA_OPERATOR_KAFKA_NAMESPACE"] == "kafka"
    assert env["TELEMETRA_OPERATOR_KAFKA_CLUSTER"] == "shared-kafka"
    assert not m.find(external, "Kafka")


def test_spark_driver_identity(chart: Chart, m: SimpleNamespace) -> None:
    objects = chart.template()
    role = m.one(objects, "Role", "telemetra-spark")
    pods, policies = role["rules"]
    assert {"pods", "services", "configmaps"} <= set(pods["resources"])
    assert policies["resources"] == ["networkpolicies"]  # Spark 4.1+ fences each driver
    assert m.one(objects, "RoleBinding", "telemetra-spark")["subjects"][0]["name"] == "telemetra-spark"
    # spark-submit runs in the Spark operator's controller: it applies the driver's NetworkPolicy here
    submitter = m.one(objects, "RoleBinding", "telemetra-spark-submitter")
    assert submitter["subjects"] == [
        {"kind": "ServiceAccount", "name": "spark-operator-controller", "namespace": "spark-operator"}
    ]
    (rule,) = m.one(objects, "Role", "telemetra-spark-submitter")["rules"]
    assert rule["resources"] == ["networkpolicies"] and "patch" in rule["verbs"]
    without = chart.template(sets=["spark.submitter=null"])
    assert not [o for o in without if o["metadata"]["name"] == "telemetra-spark-submitter"]


def _image_policy(objects: list[Manifest], m: SimpleNamespace) -> tuple[Manifest, Manifest]:
    policies = m.find(objects, "ValidatingAdmissionPolicy")
    bindings = m.find(objects, "ValidatingAdmissionPolicyBinding")
    assert len(policies) == len(bindings) == 1
    return policies[0], bindings[0]


def _allowed_in_policy(policy: Manifest) -> list[str]:
    (variable,) = [v for v in policy["spec"]["variables"] if v["name"] == "allowed"]
    allowed: list[str] = json.loads(variable["expression"])  # a JSON list of strings is a CEL list literal
    return allowed


@pytest.mark.parametrize(
    ("values_profile", "sets", "allowed"),
    [
        ("default", [], ["ghcr.io/telemetra"]),
        ("kind", [], ["telemetra-spark"]),  # no registry: the Spark image's own repository
        ("production", [], ["registry.example.com/telemetra"]),
        ("default", ["operator.allowedImageRegistries={ghcr.io/telemetra/,docker.io/library/spark}"], None),
    ],
)
def test_stream_images_are_limited_to_the_allowed_registries(
    chart: Chart,
    m: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
    values_profile: str,
    sets: list[str],
    allowed: list[str] | None,
) -> None:
    """The operator and the admission policy get one list: operator.allowedImageRegistries, else image.registry,
    else the Spark image's repository, which is also what the operator allows by itself for its own Spark
    image."""
    allowed = allowed or ["ghcr.io/telemetra", "docker.io/library/spark"]
    objects = chart.template(values_profile, sets=sets)
    container = m.pod_spec(m.one(objects, "Deployment", "telemetra-operator"))["containers"][0]
    _from_environment(m.env(container), monkeypatch)
    settings = OperatorSettings()
    assert settings.image_registries == allowed
    if not sets:
        assert OperatorSettings(spark_image=settings.spark_image).image_registries == allowed
    policy, binding = _image_policy(objects, m)
    assert _allowed_in_policy(policy) == allowed
    assert policy["spec"]["failurePolicy"] == "Fail"
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["telemetrastreams"] and rule["operations"] == ["CREATE", "UPDATE"]
    (validation,) = policy["spec"]["validations"]
    assert validation["reason"] == "Invalid" and "'spec.spark.image: '" in validation["messageExpression"]
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    selector = binding["spec"]["matchResources"]["namespaceSelector"]["matchLabels"]
    assert selector == {
        "kubernetes.io/metadata.name": NAMESPACE
    }  # the operator watches the release namespace


def test_the_image_policy_binding_follows_the_operators_scope(chart: Chart, m: SimpleNamespace) -> None:
    _, binding = _image_policy(chart.template(sets=["operator.namespaced=false"]), m)
    assert "matchResources" not in binding["spec"]  # every namespace, as the operator
    off = chart.template(sets=["operator.admissionPolicy.enabled=false"])
    assert not m.find(off, "ValidatingAdmissionPolicy") and not m.find(
        off, "ValidatingAdmissionPolicyBinding"
    )
    assert not m.find(chart.template(sets=["operator.enabled=false"]), "ValidatingAdmissionPolicy")


# -- Kafka, PostgreSQL, Redis ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("replicas", "factor", "isr"), [(1, 1, 1), (3, 3, 2), (5, 3, 2)])
def test_kafka_replication_follows_the_node_count(
    chart: Chart, m: SimpleNamespace, replicas: int, factor: int, isr: int
) -> None:
    sets = [f"kafka.replicas={replicas}", "kafka.storage.type=persistent-claim"]
    objects = chart.template(sets=sets)
    kafka = m.one(objects, "Kafka", "telemetra-kafka")
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == factor
    assert config["offsets.topic.replication.factor"] == factor
    assert config["min.insync.replicas"] == isr
    assert config["auto.create.topics.enable"] is False  # topics come from KafkaTopics only
    pool = m.one(objects, "KafkaNodePool", "telemetra-kafka-dual-role")
    assert pool["spec"]["replicas"] == replicas
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "telemetra-kafka"
    assert pool["spec"]["storage"]["volumes"][0]["size"] == "10Gi"


def test_kafka_config_overrides_win(chart: Chart, m: SimpleNamespace) -> None:
    kafka = m.one(chart.template(sets=["kafka.config.min\\.insync\\.replicas=1"]), "Kafka", "telemetra-kafka")
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 1


def test_postgresql_modes(chart: Chart, m: SimpleNamespace) -> None:
    statefulset = chart.template()
    assert m.one(statefulset, "StatefulSet", "telemetra-postgresql")
    assert not m.find(statefulset, "Cluster")
    cnpg = chart.template("production")
    cluster = m.one(cnpg, "Cluster", "telemetra-postgresql")
    assert cluster["spec"]["instances"] == 3
    assert cluster["spec"]["bootstrap"]["initdb"] == {"database": "telemetra", "owner": "telemetra"}
    assert cluster["spec"]["affinity"]["enablePodAntiAffinity"] is True
    assert not m.find(cnpg, "StatefulSet", "telemetra-postgresql")
    policy = m.one(cnpg, "NetworkPolicy", "telemetra-postgresql")
    assert policy["spec"]["podSelector"]["matchLabels"] == {"cnpg.io/cluster": "telemetra-postgresql"}


def test_redis_persistence(chart: Chart, m: SimpleNamespace) -> None:
    ephemeral = m.one(chart.template(), "StatefulSet", "telemetra-redis")
    assert "volumeClaimTemplates" not in ephemeral["spec"]
    assert "--appendonly" in (args := m.pod_spec(ephemeral)["containers"][0]["args"])
    assert args[args.index("--appendonly") + 1] == "no"
    persistent = m.one(
        chart.template(sets=["redis.persistence.enabled=true"]), "StatefulSet", "telemetra-redis"
    )
    assert persistent["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"


# -- monitoring ----------------------------------------------------------------------------------------------


def test_service_monitors(chart: Chart, m: SimpleNamespace) -> None:
    assert not m.find(chart.template(), "ServiceMonitor")
    objects = chart.template("production")
    for component, port in (("api", "http"), ("operator", "metrics")):
        monitor = m.one(objects, "ServiceMonitor", f"telemetra-{component}")
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        selector = monitor["spec"]["selector"]["matchLabels"]
        services = [
            s for s in m.find(objects, "Service") if selector.items() <= s["metadata"]["labels"].items()
        ]
        assert services, component
        assert any(p["name"] == port for s in services for p in s["spec"]["ports"]), component
    exporter = m.one(objects, "PodMonitor", "telemetra-kafka-exporter")
    assert exporter["spec"]["selector"]["matchLabels"]["strimzi.io/name"] == "telemetra-kafka-kafka-exporter"


def test_example_streams_match_the_crd(chart: Chart, validate: Callable[[Manifest], None]) -> None:
    """What NOTES.txt and `make kind-demo` apply (the CEL rules are checked by the API server in
    test_install.py)."""
    examples = sorted((chart.path / "examples" / "streams").glob("*.yaml"))
    assert len(examples) >= 2
    for path in examples:
        stream = yaml.safe_load(path.read_text())
        assert stream["kind"] == "TelemetraStream"
        assert stream["metadata"]["name"] == stream["spec"]["streamId"], path.name
        validate(stream)


def test_spark_driver_metrics_are_scraped_where_the_operator_serves_them(
    chart: Chart, m: SimpleNamespace
) -> None:
    """The PodMonitor selects the driver pods the operator's SparkApplication creates, on the job's port."""
    from telemetra.operator.builders.spark import build_spark_spec
    from telemetra.operator.stream import Stream

    monitor = m.one(chart.template("production"), "PodMonitor", "telemetra-spark-drivers")
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["portNumber"] == OperatorSettings().job_metrics_port
    body = yaml.safe_load((chart.path / "examples" / "streams" / "demo-stream.yaml").read_text())
    body["metadata"] |= {"namespace": NAMESPACE, "uid": "0000", "generation": 1}
    spark = build_spark_spec(Stream.from_body(body, OperatorSettings()))
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= spark["driver"]["labels"].items()
    assert not selector.items() <= spark["executor"]["labels"].items()
