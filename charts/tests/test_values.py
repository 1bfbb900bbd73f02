"""values.yaml and values.schema.json are one contract: every key documented in both, the defaults agree, bad
values are refused by helm naming the field, and contradictory values are refused by check-values.yaml."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

Chart = Any  # conftest.Chart
CHART = Path(__file__).resolve().parents[1] / "telemetra"
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
# Kubernetes objects taken verbatim: their inner fields are documented by Kubernetes, not here (`to`: the
# NetworkPolicyPeers of networkPolicy.*).
K8S_BLOCKS = {"resources", "podSecurityContext", "containerSecurityContext", "to", "pools"}  # pools: CR specs
KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z0-9_]+):")


def schema_nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(dotted path, schema) of every property below the root."""
    for key, sub in node.get("properties", {}).items():
        here = f"{path}.{key}" if path else key
        yield here, sub
        yield from schema_nodes(sub, here)


def value_at(path: str) -> Any:
    node: Any = VALUES
    for key in path.split("."):
        node = node[key]
    return node


def test_values_yaml_satisfies_the_schema() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    jsonschema.Draft7Validator(SCHEMA).validate(VALUES)


def test_schema_and_values_have_the_same_keys() -> None:
    """Every values.yaml key is in the schema (else helm would reject the defaults) and every schema
    property is in values.yaml (so the defaults document it), down to the leaves."""

    def keys(node: Any, path: str = "") -> set[str]:
        if not isinstance(node, dict):
            return set()
        out = set()
        for key, sub in node.items():
            here = f"{path}.{key}" if path else key
            out.add(here)
            out |= keys(sub, here)
        return out

    def outside_k8s_objects(paths: set[str]) -> set[str]:
        return {p for p in paths if not any(part in K8S_BLOCKS for part in p.split(".")[:-1])}

    documented = {path for path, _ in schema_nodes(SCHEMA)} - {"global"}
    assert outside_k8s_objects(keys(VALUES)) == outside_k8s_objects(documented)


def test_every_schema_property_has_a_description_and_the_values_default() -> None:
    for path, node in schema_nodes(SCHEMA):
        assert node.get("description"), f"{path} has no description"
        if path == "global" or ("properties" in node and node.get("type") == "object"):
            continue
        if "default" in node:
            assert node["default"] == value_at(path), f"{path}: schema default differs from values.yaml"
        else:
            assert path.count(".") >= 2, f"{path} has no default"  # only the inside of k8s objects


def test_objects_reject_unknown_keys() -> None:
    for path, node in [("", SCHEMA), *schema_nodes(SCHEMA)]:
        if (
            node.get("type") == "object"
            and "properties" in node
            and path.split(".")[-1]
            not in {
                "podSecurityContext",
                "containerSecurityContext",
            }
        ):
            assert node.get("additionalProperties") is False, f"{path or 'root'} accepts unknown keys"


def test_every_key_in_values_yaml_has_a_comment() -> None:
    """Documented key by key: each key line is preceded by a comment line, except the fields inside the
    Kubernetes objects above (their block key itself is documented)."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    parents: list[tuple[int, str]] = []
    for number, line in enumerate(lines):
        match = KEY_LINE.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        while parents and parents[-1][0] >= indent:
            parents.pop()
        inside_k8s_object = any(key in K8S_BLOCKS for _, key in parents)
        previous = next((lines[i].strip() for i in range(number - 1, -1, -1) if lines[i].strip()), "")
        if not previous.startswith("#") and not inside_k8s_object:
            undocumented.append(f"values.yaml:{number + 1}: {line.strip()}")
        parents.append((indent, match["key"]))
    assert not undocumented, "keys without a comment:\n" + "\n".join(undocumented)


def test_parameter_table_in_readme_is_current() -> None:
    """charts/telemetra/README.md's parameter table is generated from the schema (charts/scripts/values_doc.py)."""
    script = CHART.parent / "scripts" / "values_doc.py"
    result = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("sets", "named"),
    [
        (["api.replicas=-1"], "/api/replicas"),
        (["api.bogus=1"], "'bogus'"),
        (["image.tag=latest"], "/image/tag"),
        (["image.pullPolicy=Sometimes"], "/image/pullPolicy"),
        (["api.readinessPath=/live"], "/api/readinessPath"),
        (["api.service.type=ExternalName"], "/api/service/type"),
        (["api.service.nodePort=8080"], "/api/service/nodePort"),
        (
            ["api.autoscaling.targetCPUUtilizationPercentage=150"],
            "/api/autoscaling/targetCPUUtilizationPercentage",
        ),
        (["api.resources.limits=null"], "/api/resources"),
        (["kafka.storage.type=local"], "/kafka/storage/type"),
        (["kafka.replicas=0"], "/kafka/replicas"),
        (["kafka.mode=kraft"], "/kafka/mode"),
        (["kafka.image=registry.example.com/telemetra-kafka:latest"], "/kafka/image"),
        (["kafka.image=telemetra-kafka"], "/kafka/image"),
        (["postgresql.mode=mysql"], "/postgresql/mode"),
        (["postgresql.image=postgres:latest"], "/postgresql/image"),
        (["redis.image=redis"], "/redis/image"),
        (["externalKafka.bootstrapServers=kafka"], "/externalKafka/bootstrapServers"),
        (["spark.checkpoints.uri=/checkpoints"], "/spark/checkpoints/uri"),
        (["monitoring.serviceMonitors.interval=fast"], "/monitoring/serviceMonitors/interval"),
        (["operator.logFormat=xml"], "/operator/logFormat"),
        (["operator.resyncSeconds=0"], "/operator/resyncSeconds"),
        (
            ["operator.allowedImageRegistries={https://evil.example.com}"],
            "/operator/allowedImageRegistries/0",
        ),
        (["operator.allowedImageRegistries={ghcr.io/Telemetra}"], "/operator/allowedImageRegistries/0"),
        (["nameOverride=Telemetra_X"], "/nameOverride"),
    ],
)
def test_bad_values_are_refused_naming_the_field(chart: Chart, sets: list[str], named: str) -> None:
    error = chart.template_error(sets=sets)
    assert "values don't meet the specifications of the schema" in error
    assert named in error, error


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["postgresql.enabled=false"], "postgresql.enabled=false needs externalDatabase.existingSecret"),
        (["externalDatabase.existingSecret=db"], "choose the in-release PostgreSQL or an external database"),
        (["redis.enabled=false"], "redis.enabled=false needs externalRedis.existingSecret"),
        (["externalRedis.existingSecret=cache"], "choose the in-release Redis or an external one"),
        (["kafka.enabled=false"], "kafka.enabled=false needs externalKafka.bootstrapServers"),
        (["externalKafka.bootstrapServers=k:9092"], "choose the in-release Kafka or an external cluster"),
        (
            ["kafka.enabled=false", "externalKafka.bootstrapServers=k:9092", "externalKafka.namespace=kafka"],
            "externalKafka.namespace is the namespace of a Strimzi cluster's KafkaTopics",
        ),
        (["kafka.replicas=3"], "use persistent-claim for a multi-node cluster"),
        (
            ["kafka.mode=statefulset", "kafka.replicas=3", "kafka.storage.type=persistent-claim"],
            "kafka.replicas > 1 needs kafka.mode=strimzi",
        ),
        (["postgresql.instances=3"], "postgresql.instances > 1 needs postgresql.mode=cnpg"),
        (
            ["postgresql.mode=cnpg", "postgresql.auth.existingSecret=x"],
            "postgresql.auth.existingSecret applies to postgresql.mode=statefulset",
        ),
        (
            ["api.autoscaling.minReplicas=5", "api.autoscaling.maxReplicas=2"],
            "minReplicas must not exceed api.autoscaling.maxReplicas",
        ),
        (["api.enabled=false"], "dashboard.enabled=true needs api.enabled=true"),
        (["api.auth.jwtSecretKey=jwt"], "api.auth.jwtSecretKey names a key of api.auth.existingSecret"),
        (["api.service.nodePort=30080"], "api.service.nodePort is only used with api.service.type=NodePort"),
        (
            ["spark.checkpoints.persistence.enabled=false"],
            "file:// path but spark.checkpoints.persistence.enabled=false",
        ),
        (["spark.checkpoints.uri=s3a://bucket/x"], "only used with a file:// spark.checkpoints.uri"),
    ],
)
def test_contradictory_values_are_refused(chart: Chart, sets: list[str], message: str) -> None:
    error = chart.template_error(sets=sets)
    assert "check-values.yaml" in error
    assert message in error, error


def test_documented_alternatives_render(chart: Chart) -> None:
    """The escape hatches the messages above point to are accepted."""
    chart.template(sets=["kafka.enabled=false", "externalKafka.bootstrapServers=k:9092"])  # Admin API topics
    chart.template(sets=["kafka.mode=statefulset", "kafka.storage.type=persistent-claim"])
    chart.template(
        sets=[
            "postgresql.enabled=false",
            "externalDatabase.existingSecret=db",
            "redis.enabled=false",
            "externalRedis.existingSecret=cache",
            "kafka.enabled=false",
            "externalKafka.bootstrapServers=k:9092",
            "externalKafka.clusterName=k",
            "api.service.type=NodePort",
            "api.service.nodePort=30080",
            "spark.checkpoints.uri=s3a://bucket/x",
            "spark.checkpoints.persistence.enabled=false",
        ]
    )
