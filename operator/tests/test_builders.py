"""Pure builders: spec → child manifests. Checked against the real contracts they feed: the ``telemetra``
CLI's own argument parser, the analytics core's config, the upstream CRDs (Strimzi, Spark operator) and
Kubernetes' OpenAPI schemas."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from telemetra.analytics.config import analytics_config_from_json
from telemetra.apps.cli import build_parser
from telemetra.dev.kube.cluster import UPSTREAM_CRDS_DIR as UPSTREAM
from telemetra.dev.testing.operator import load_example
from telemetra.operator.builders import dashboard, kafka_client, producer, spark, topics
from telemetra.operator.owner import OWNER_ANNOTATION
from telemetra.operator.settings import OperatorSettings
from telemetra.operator.stream import Stream
from telemetra.producers.scenarios import parse_scenario
from telemetra.sinks.kafka_security import PASSWORD_ENV, KafkaSecurity
from telemetra.spark.settings import parse_args

SETTINGS = OperatorSettings(kafka_namespace="kafka", kafka_cluster="telemetra-kafka")
SECURED = OperatorSettings(
    kafka_namespace="kafka",
    kafka_cluster="telemetra-kafka",
    kafka_bootstrap="telemetra-kafka-kafka-bootstrap.kafka.svc:9093",
    kafka_security_protocol="SASL_SSL",
    kafka_producer_user="telemetra-producer",
    kafka_processor_user="telemetra-processor",
    kafka_ca_secret="telemetra-kafka-cluster-ca-cert",
)


def make(
    spec: dict[str, Any] | None = None, *, settings: OperatorSettings = SETTINGS, **extra: Any
) -> Stream:
    body_spec = {"streamId": "demo", "source": {"type": "mock", "mock": {}}, **(spec or {}), **extra}
    body = {
        "metadata": {"name": "demo", "namespace": "team", "uid": "uid-1", "generation": 3},
        "spec": body_spec,
    }
    return Stream.from_body(body, settings)


def example_stream(name: str, settings: OperatorSettings = SETTINGS) -> Stream:
    doc = next(d for d in load_example(name) if d["kind"] == "TelemetraStream")
    body = {**doc, "metadata": {**doc["metadata"], "namespace": "team", "uid": "u", "generation": 1}}
    return Stream.from_body(body, settings)


def expand(args: list[str], env: dict[str, str]) -> list[str]:
    """What the kubelet does with ``$(VAR)`` in container arguments."""
    for name, value in env.items():
        args = [a.replace(f"$({name})", value) for a in args]
    return args


# -- topics ------------------------------------------------------------------------------------------------
def test_topics_live_in_the_kafka_namespace_with_the_cluster_label() -> None:
    events, dead = topics.build_topics(make({"kafka": {"partitions": 6, "retentionHours": 2}}))
    assert events["metadata"]["name"] == "telemetra.demo.events"
    assert dead["metadata"]["name"] == "telemetra.demo.dead-letter"
    for topic in (events, dead):
        assert topic["apiVersion"] == "kafka.strimzi.io/v1"
        assert topic["metadata"]["namespace"] == "kafka"
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "telemetra-kafka"
        assert topic["metadata"]["annotations"][OWNER_ANNOTATION] == "team/demo"
        assert "ownerReferences" not in topic["metadata"]  # cross-namespace: cleaned up by the finalizer
    assert events["spec"]["partitions"] == 6 and dead["spec"]["partitions"] == 1
    assert events["spec"]["config"]["retention.ms"] == 2 * 3_600_000


def test_a_stream_may_name_another_cluster() -> None:
    stream = make({"kafka": {"cluster": "other", "namespace": "streaming"}})
    assert topics.build_topics(stream)[0]["metadata"]["namespace"] == "streaming"
    assert stream.kafka_bootstrap == "other-kafka-bootstrap.streaming.svc:9092"
    assert (
        make().kafka_bootstrap
        == SETTINGS.default_bootstrap
        == "telemetra-kafka-kafka-bootstrap.kafka.svc:9092"
    )
    explicit = SETTINGS.model_copy(update={"kafka_bootstrap": "k:9092"})
    assert make(settings=explicit).kafka_bootstrap == explicit.default_bootstrap == "k:9092"
    assert make({"kafka": {"cluster": "other"}}, settings=explicit).kafka_bootstrap != "k:9092"


def test_both_topic_modes_build_from_one_topic_spec() -> None:
    """The KafkaTopic (strimzi mode) carries exactly what the Admin API mode creates."""
    kafka = {"partitions": 6, "replicas": 3, "retentionHours": 2, "deadLetterRetentionHours": 5}
    stream = make({"kafka": kafka})
    events, dead = topics.topic_specs(stream)
    assert (events.name, events.partitions, events.replicas) == ("telemetra.demo.events", 6, 3)
    assert (dead.name, dead.partitions, dead.replicas) == ("telemetra.demo.dead-letter", 1, 3)
    assert events.config == {
        "retention.ms": 2 * 3_600_000,
        "cleanup.policy": "delete",
        "min.insync.replicas": 2,
    }
    assert dead.config["retention.ms"] == 5 * 3_600_000
    assert topics.topic_specs(make())[0].config["min.insync.replicas"] == 1  # one replica: one in sync
    for spec, kafka_topic in zip(topics.topic_specs(stream), topics.build_topics(stream), strict=True):
        assert kafka_topic["metadata"]["name"] == spec.name
        assert kafka_topic["spec"] == {
            "partitions": spec.partitions,
            "replicas": spec.replicas,
            "config": dict(spec.config),
        }


# -- producer ----------------------------------------------------------------------------------------------
def test_mock_producer_arguments_parse_with_the_cli() -> None:
    scenarios = [
        {"kind": "hype", "atSeconds": 60, "durationSeconds": 30, "factor": 4},
        {"kind": "raid", "atSeconds": 9},
    ]
    stream = make({"source": {"type": "mock", "mock": {"rate": 120, "seed": 3, "scenarios": scenarios}}})
    account, config, deployment = producer.build_producer(stream)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["telemetra"]
    args = build_parser().parse_args(expand(container["args"], config["data"]))
    assert args.command == "produce"
    assert args.streams == ["demo"] and args.rate == 120 and args.seed == 3 and args.speed == 1
    assert args.duration >= 365 * 86_400
    assert args.sink == "kafka://telemetra-kafka-kafka-bootstrap.kafka.svc:9092?topic=telemetra.demo.events"
    assert [(s.kind.value, s.at, s.duration, s.factor) for s in args.scenario] == [
        ("hype", 60, 30, 4),
        ("raid", 9, parse_scenario("raid@9").duration, parse_scenario("raid@9").factor),
    ]
    assert account["automountServiceAccountToken"] is False
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]


def test_twitch_and_replay_arguments_parse_with_the_cli() -> None:
    twitch = example_stream("twitch")
    _, config, deployment = producer.build_producer(twitch)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = build_parser().parse_args(expand(container["args"], config["data"]))
    assert (args.source, args.channel) == ("twitch", "shroud")
    secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert secret_env["TWITCH_CLIENT_SECRET"] == {"name": "twitch-helix", "key": "client-secret"}

    replay = example_stream("replay-configmap")
    _, config, deployment = producer.build_producer(replay)
    pod = deployment["spec"]["template"]["spec"]
    args = build_parser().parse_args(expand(pod["containers"][0]["args"], config["data"]))
    assert (args.source, args.events, args.speed) == ("replay", producer.REPLAY_FILE, 8)
    volume = next(v for v in pod["volumes"] if v["name"] == "replay")
    items = [{"key": "events.jsonl", "path": "events.jsonl"}]
    assert volume["configMap"] == {"name": "recorded-evening", "items": items}

    by_url = example_stream("replay-url")
    pod = producer.build_producer(by_url)[2]["spec"]["template"]["spec"]
    fetch = pod["initContainers"][0]
    assert fetch["command"][-2:] == ["https://example.com/telemetra/finals-2026.jsonl", producer.REPLAY_FILE]


def test_suspended_producer_has_no_replicas_and_config_changes_roll_it() -> None:
    running = producer.build_producer(make())[2]
    assert running["spec"]["replicas"] == 1
    assert running["spec"]["strategy"] == {"type": "Recreate"}
    assert producer.build_producer(make(state="suspended"))[2]["spec"]["replicas"] == 0
    other = producer.build_producer(make(settings=SETTINGS.model_copy(update={"kafka_bootstrap": "k:1"})))[2]
    key = producer.CONFIG_HASH_ANNOTATION
    assert (
        other["spec"]["template"]["metadata"]["annotations"][key]
        != (running["spec"]["template"]["metadata"]["annotations"][key])
    )


# -- Spark -------------------------------------------------------------------------------------------------
def test_the_job_parses_its_arguments_and_analytics_config() -> None:
    """The job's own parser (``telemetra.spark.settings``) reads what the SparkApplication passes."""
    stream = example_stream("mock-full")
    job = parse_args(
        spark.build_spark_spec(stream)["arguments"], env={"TELEMETRA_STORE_URL": "postgresql://db/t"}
    )
    assert (job.stream_id, job.events_topic, job.dead_letter_topic) == (
        "showcase",
        "telemetra.showcase.events",
        "telemetra.showcase.dead-letter",
    )
    assert job.checkpoint_dir == "s3a://telemetra/checkpoints/team/showcase"
    assert (job.trigger_interval_ms, job.shuffle_partitions, job.metrics_port) == (5000, 6, 9108)
    assert not job.local
    config = job.analytics
    assert config == analytics_config_from_json(json.dumps(spark.analytics_config(stream)))
    assert (config.window, config.slide, config.lateness, config.top_emotes) == (60, 10, 15, 15)
    assert config.thresholds.chat_spike.ratio == 2.5
    assert config.thresholds.sensitivity == "low"
    assert config.thresholds.revenue_spike.min_usd == 200
    assert config.thresholds.viewer_drop.ratio == 0.6


def test_spark_application_follows_the_job_contract() -> None:
    app = spark.build_spark_application(make({"spark": {"executors": 3, "shufflePartitions": 8}}))
    spec = app["spec"]
    assert app["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
    assert spec["mainApplicationFile"] == "local:///opt/telemetra/spark_main.py"
    assert spec["restartPolicy"] == {
        "type": "Always",
        "onFailureRetryInterval": 10,
        "onSubmissionFailureRetryInterval": 20,
    }
    assert spec["executor"]["instances"] == 3
    assert "deps" not in spec  # the image bakes the Kafka connector; resolving it is opt-in:
    with_packages = SETTINGS.model_copy(
        update={"spark_packages": ["org.apache.spark:spark-sql-kafka-0-10_2.13:{spark_version}"]}
    )
    deps = spark.build_spark_spec(make(settings=with_packages))["deps"]
    assert deps == {"packages": ["org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0"]}
    args = dict(zip(spec["arguments"][::2], spec["arguments"][1::2], strict=True))
    assert args["--stream-id"] == "demo"
    assert args["--kafka-bootstrap"] == "telemetra-kafka-kafka-bootstrap.kafka.svc:9092"
    assert args["--checkpoint-dir"] == "s3a://telemetra/checkpoints/team/demo"
    assert args["--events-topic"] == "telemetra.demo.events"
    assert args["--dead-letter-topic"] == "telemetra.demo.dead-letter"
    assert args["--trigger-interval"] == "1s" and args["--shuffle-partitions"] == "8"
    assert args["--metrics-port"] == "9108"
    conf = spec["sparkConf"]
    assert conf["spark.kubernetes.driver.secretKeyRef.TELEMETRA_STORE_URL"] == "telemetra-store:url"
    assert conf["spark.kubernetes.executor.secretKeyRef.TELEMETRA_CACHE_URL"] == "telemetra-cache:url"
    assert app["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_a_file_checkpoint_mounts_its_claim() -> None:
    settings = SETTINGS.model_copy(
        update={"checkpoint_base_uri": "file:///checkpoints", "checkpoint_claim": "ckpt"}
    )
    conf = spark.spark_conf(make(settings=settings))
    prefix = "spark.kubernetes.driver.volumes.persistentVolumeClaim.checkpoints"
    assert conf[f"{prefix}.options.claimName"] == "ckpt"
    assert conf[f"{prefix}.mount.path"] == "/checkpoints"


def test_pods_request_the_streams_cpu_else_the_operators_else_their_cores() -> None:
    def requests(stream: Stream) -> tuple[Any, Any]:
        spec = spark.build_spark_spec(stream)
        return spec["driver"].get("coreRequest"), spec["executor"].get("coreRequest")

    assert requests(make()) == (None, None)  # Spark requests `cores` (1)
    small = SETTINGS.model_copy(update={"spark_core_request": "250m"})
    assert requests(make(settings=small)) == ("250m", "250m")
    own = {"spark": {"driver": {"coreRequest": "500m"}}}
    assert requests(make(own, settings=small)) == ("500m", "250m")


def test_only_what_reaches_the_job_changes_the_spark_hash() -> None:
    def digest(stream: Stream) -> str:
        return spark.build_spark_application(stream)["metadata"]["annotations"][spark.HASH_ANNOTATION]

    base = digest(make())
    assert digest(make()) == base
    assert digest(make({"dashboard": {"folder": "Elsewhere"}})) == base
    assert digest(make({"kafka": {"retentionHours": 99}})) == base
    assert digest(make({"source": {"type": "mock", "mock": {"rate": 999}}})) == base
    for changed in (
        make(restartNonce=1),
        make(state="suspended"),
        make({"spark": {"executors": 2}}),
        make({"processing": {"slideSeconds": 5}}),
    ):
        assert digest(changed) != base
    assert spark.build_spark_spec(make(state="suspended"))["suspend"] is True


# -- Kafka security ----------------------------------------------------------------------------------------
def test_a_secured_producer_gets_its_user_by_secret_reference_and_the_ca_as_a_file() -> None:
    _, config, deployment = producer.build_producer(example_stream("twitch", SECURED))
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert refs[PASSWORD_ENV] == {"name": "telemetra-producer", "key": "password"}
    assert refs["TWITCH_CLIENT_SECRET"] == {"name": "twitch-helix", "key": "client-secret"}  # kept
    assert all("value" not in e for e in container["env"])  # never a literal password
    volume = next(v for v in pod["volumes"] if v["name"] == kafka_client.CA_VOLUME)
    assert volume["secret"] == {
        "secretName": "telemetra-kafka-cluster-ca-cert",
        "items": [{"key": "ca.crt", "path": "ca.crt"}],
    }
    mount = next(m for m in container["volumeMounts"] if m["name"] == kafka_client.CA_VOLUME)
    assert mount == {"name": "kafka-ca", "mountPath": "/etc/telemetra/kafka-ca", "readOnly": True}
    # What the sink reads in the pod: the ConfigMap, and the password the kubelet takes from the Secret.
    security = KafkaSecurity.from_env({**config["data"], PASSWORD_ENV: "from-the-secret"})
    assert str(security) == "SASL_SSL (SCRAM-SHA-512 as telemetra-producer)"
    assert security.ssl_ca_file == "/etc/telemetra/kafka-ca/ca.crt"
    args = build_parser().parse_args(expand(container["args"], config["data"]))
    assert args.sink.startswith("kafka://telemetra-kafka-kafka-bootstrap.kafka.svc:9093?")


def test_a_secured_job_gets_the_processor_user_on_the_driver_and_the_ca_everywhere() -> None:
    conf = spark.spark_conf(make(settings=SECURED))
    driver_env = {
        key.removeprefix("spark.kubernetes.driverEnv."): value
        for key, value in conf.items()
        if key.startswith("spark.kubernetes.driverEnv.")
    }
    assert conf[f"spark.kubernetes.driver.secretKeyRef.{PASSWORD_ENV}"] == "telemetra-processor:password"
    assert not any(PASSWORD_ENV in key for key in conf if ".executor." in key)  # executors get options
    for role in ("driver", "executor"):
        mount = conf[f"spark.kubernetes.{role}.secrets.telemetra-kafka-cluster-ca-cert"]
        assert mount == "/etc/telemetra/kafka-ca"
    job = parse_args(
        ["--stream-id", "demo", "--kafka-bootstrap", "k:9093", "--checkpoint-dir", "c", "--store-url", "s"],
        env={**driver_env, PASSWORD_ENV: "from-the-secret"},
    )
    assert str(job.kafka_security) == "SASL_SSL (SCRAM-SHA-512 as telemetra-processor)"
    assert job.kafka_connection["kafka.ssl.truststore.location"] == "/etc/telemetra/kafka-ca/ca.crt"
    assert "from-the-secret" not in json.dumps(spark.build_spark_application(make(settings=SECURED)))


def test_plaintext_and_other_clusters_get_no_kafka_credentials() -> None:
    for stream in (make(), make({"kafka": {"cluster": "other"}}, settings=SECURED)):
        _, config, deployment = producer.build_producer(stream)
        pod = deployment["spec"]["template"]["spec"]
        assert not any(key.startswith("TELEMETRA_KAFKA_") for key in config["data"])
        assert "env" not in pod["containers"][0] and [v["name"] for v in pod["volumes"]] == ["tmp"]
        assert not any("KAFKA" in key or ".secrets." in key for key in spark.spark_conf(stream))


def test_sasl_needs_both_users() -> None:
    with pytest.raises(ValueError, match="needs kafka_producer_user and kafka_processor_user"):
        OperatorSettings(kafka_security_protocol="SASL_SSL", kafka_producer_user="p")
    with pytest.raises(ValueError, match="kafka_ca_secret is for SSL or SASL_SSL"):
        OperatorSettings(kafka_ca_secret="ca")
    tls_only = SECURED.model_copy(update={"kafka_security_protocol": "SSL"})
    security = kafka_client.client_security(make(settings=tls_only), "telemetra-producer")
    assert security.env() == {
        "TELEMETRA_KAFKA_SECURITY_PROTOCOL": "SSL",
        "TELEMETRA_KAFKA_SSL_CA_FILE": "/etc/telemetra/kafka-ca/ca.crt",
    }
    assert kafka_client.password_env(security) == []


# -- dashboard ---------------------------------------------------------------------------------------------
def test_dashboard_configmap_for_the_grafana_sidecar() -> None:
    stream = make({"dashboard": {"folder": "Streams"}})
    board = dashboard.build_dashboard(stream)
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert board["metadata"]["annotations"]["grafana_folder"] == "Streams"
    (key, text), *_ = board["data"].items()
    assert key == "telemetra-demo.json"
    content = json.loads(text)
    assert len(content["uid"]) <= 40
    titles = " ".join(p["title"] for p in content["panels"]).lower()
    for word in (
        "chat rate",
        "viewers",
        "sentiment",
        "revenue",
        "moments",
        "input",
        "batch duration",
        "dead letters",
    ):
        assert word in titles
    exprs = " ".join(t["expr"] for p in content["panels"] for t in p["targets"])
    for metric in dashboard.JOB_METRICS:  # the stream's own job: its pool label is the stream id
        assert f'{metric}{{pool="demo"}}' in exprs
    for metric in dashboard.STREAM_METRICS:
        assert f'{metric}{{stream_id="demo"}}' in exprs
    assert all(p["datasource"]["uid"] == "prometheus" for p in content["panels"])


def test_the_spark_job_exports_every_metric_the_dashboard_plots() -> None:
    from telemetra.records import Moment, WindowMetrics
    from telemetra.spark.metrics import JobMetrics

    metrics = JobMetrics("demo")
    window = WindowMetrics("demo", "2026-11-27T16:00:00Z", "2026-11-27T16:01:00Z", messages=600, chat_rate=10.0,
                           unique_chatters=50, top_emotes=[], sentiment=0.25, positive=300, neutral=200,
                           negative=100, viewers=1200, viewers_max=1300, revenue_usd=24.99, transactions={"sub": 5},
                           late_events=0, bits=0, emote_total=0, final=True)  # fmt: skip
    moment = Moment("m1", "demo", "raid", "2026-11-27T16:00:10Z", "2026-11-27T16:00:10Z", "viewers", 500.0, 0.0,
                    0.0, 0.0, "raid", "2026-11-27T16:00:10Z", "2026-11-27T16:00:10Z", ongoing=False)  # fmt: skip
    metrics.record_windows([window])
    metrics.record_moments([moment, moment])  # an episode's updates repeat its id: counted once
    metrics.on_progress(_progress())
    samples = {
        sample.name: sample.value for family in metrics.registry.collect() for sample in family.samples
    }
    for name in (*dashboard.JOB_METRICS, *dashboard.STREAM_METRICS):
        assert name in samples, name
    assert samples["telemetra_stream_chat_messages_per_second"] == 10.0
    assert samples["telemetra_stream_viewers"] == 1200 and samples["telemetra_stream_sentiment"] == 0.25
    assert samples["telemetra_stream_window_revenue_usd"] == 24.99
    assert samples["telemetra_stream_moments_total"] == 1


def _progress() -> Any:
    """The parts of a ``StreamingQueryProgress`` the metrics read."""
    from types import SimpleNamespace

    return SimpleNamespace(numInputRows=100, inputRowsPerSecond=50.0, processedRowsPerSecond=80.0,
                           durationMs={"triggerExecution": 1200}, sources=[])  # fmt: skip


# -- upstream schemas --------------------------------------------------------------------------------------
def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    """The upstream schema with unknown fields forbidden (the API server would silently prune them)."""
    schema = dict(schema)
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        schema["properties"] = {k: _closed(v) for k, v in schema["properties"].items()}
        schema.setdefault("additionalProperties", False)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = _closed(schema[key])
    return schema


def _crd_schema(path: str, version: str) -> dict[str, Any]:
    crd = yaml.load((UPSTREAM / path).read_text(), Loader=yaml.CSafeLoader)
    schema: dict[str, Any] = next(v for v in crd["spec"]["versions"] if v["name"] == version)["schema"][
        "openAPIV3Schema"
    ]
    return schema


@pytest.mark.parametrize("settings", [SETTINGS, SECURED], ids=["plaintext", "sasl-ssl"])
@pytest.mark.parametrize("name", ["minimal", "mock-full", "twitch", "replay-configmap", "replay-url"])
def test_children_conform_to_the_upstream_crds_and_kubernetes(name: str, settings: OperatorSettings) -> None:
    stream = example_stream(name, settings)
    topic_schema = _closed(_crd_schema("strimzi/1.2.0/043-Crd-kafkatopic.yaml", "v1")["properties"]["spec"])
    for topic in topics.build_topics(stream):
        jsonschema.validate(topic["spec"], topic_schema)
    spark_schema = _crd_schema("spark-operator/sparkoperator.k8s.io_sparkapplications.yaml", "v1beta2")
    jsonschema.validate(
        spark.build_spark_application(stream)["spec"], _closed(spark_schema["properties"]["spec"])
    )
    for obj in [*producer.build_producer(stream), dashboard.build_dashboard(stream)]:
        kubernetes_validate.validate(obj, "1.35", strict=True)
