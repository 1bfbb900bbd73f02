"""The Secrets a child refers to, read from its rendered manifest (pure)."""

from __future__ import annotations

from telemetra.operator.builders import producer, spark
from telemetra.operator.secret_refs import secret_names

from .test_builders import make


def test_the_builders_references_are_found() -> None:
    twitch = {"type": "twitch", "twitch": {"channel": "c", "credentialsSecret": {"name": "helix"}}}
    stream = make({"source": twitch})
    service_account, config_map, deployment = producer.build_producer(stream)
    assert secret_names(deployment) == ["helix"]
    assert secret_names(service_account) == secret_names(config_map) == []
    assert secret_names(producer.build_deployment(make(), config_map)) == []  # mock traffic needs none
    assert secret_names(spark.build_spark_application(stream)) == ["telemetra-store", "telemetra-cache"]


def test_every_kind_of_reference_counts_and_optional_ones_do_not() -> None:
    pod = {
        "containers": [
            {
                "env": [
                    {"name": "A", "valueFrom": {"secretKeyRef": {"name": "env", "key": "k"}}},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "maybe", "optional": True}}},
                ],
                "envFrom": [{"secretRef": {"name": "env-from"}}, {"configMapRef": {"name": "not-a-secret"}}],
            }
        ],
        "volumes": [
            {"name": "v", "secret": {"secretName": "volume"}},
            {"name": "p", "projected": {"sources": [{"secret": {"name": "projected"}}]}},
        ],
    }
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": pod}}}
    assert secret_names(deployment) == ["env", "env-from", "volume", "projected"]
    app = {
        "kind": "SparkApplication",
        "spec": {
            "driver": {"secrets": [{"name": "mounted", "path": "/etc/m", "secretType": "Generic"}]},
            "sparkConf": {
                "spark.kubernetes.executor.secretKeyRef.URL": "conf-ref:url",
                "spark.kubernetes.driver.secrets.conf-mount": "/etc/c",
                "spark.sql.shuffle.partitions": "8",
            },
        },
    }
    assert secret_names(app) == ["mounted", "conf-ref", "conf-mount"]
