"""The CRD: rendered from the typed models, structural, and committed unchanged in the chart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from telemetra.analytics.config import AnalyticsConfig
from telemetra.operator import crd
from telemetra.operator.spec import TelemetraStreamSpec

REPO = Path(__file__).resolve().parents[2]


def _schema() -> dict[str, Any]:
    version = crd.build_crd()["spec"]["versions"][0]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _nodes(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for name, sub in (node.get("properties") or {}).items():
        found += _nodes(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        found += _nodes(node["items"], f"{path}[]")
    return found


def test_the_chart_copy_is_the_rendered_crd() -> None:
    committed = (REPO / crd.CHART_PATH).read_text()
    assert committed == crd.render(), (
        f"{crd.CHART_PATH} is stale: regenerate it with `python -m telemetra.operator crd > {crd.CHART_PATH}`"
    )


def test_the_command_prints_the_crd() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "telemetra.operator", "crd"], capture_output=True, text=True, check=True
    ).stdout
    assert out == crd.render()
    assert yaml.safe_load(out)["metadata"]["name"] == "telemetrastreams.telemetra.io"


def test_the_schema_is_structural() -> None:
    """Every node has a type, no JSON Schema leftovers, every field is documented."""
    for path, node in _nodes(_schema()["properties"]["spec"], ".spec") + _nodes(
        _schema()["properties"]["status"], ".status"
    ):
        assert "type" in node, path
        assert not {"$ref", "$defs", "anyOf", "allOf", "title", "const"} & set(node), path
        assert node.get("description"), f"{path} has no description"
        if node["type"] == "object" and "properties" in node:
            assert "additionalProperties" not in node, path
        if node["type"] == "string" and "enum" not in node and not node.get("format"):
            assert "maxLength" in node, f"{path}: CEL cost estimation needs a bound"
        if node["type"] == "array":
            assert "maxItems" in node, path


def test_names_subresources_and_columns() -> None:
    spec = crd.build_crd()["spec"]
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == ["ts"]
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"]["status"] == {}
    scale = version["subresources"]["scale"]
    assert scale["specReplicasPath"] == ".spec.spark.executors"
    status = _schema()["properties"]["status"]["properties"]
    assert status["executors"]["type"] == "integer"
    assert status["executorSelector"]["type"] == "string"
    default_columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert default_columns == ["Stream", "Source", "Pool", "State", "Ready", "Age"]


def test_defaults_are_the_analytics_core_defaults() -> None:
    spec = _schema()["properties"]["spec"]["properties"]
    processing = spec["processing"]["properties"]
    core = AnalyticsConfig()
    assert processing["windowSeconds"]["default"] == core.window
    assert processing["slideSeconds"]["default"] == core.slide
    moments = processing["moments"]["properties"]
    assert moments["chatSpike"]["properties"]["ratio"]["default"] == core.thresholds.chat_spike.ratio
    assert moments["sensitivity"]["default"] == core.thresholds.sensitivity == "normal"
    assert moments["sensitivity"]["enum"] == ["low", "normal", "high"]
    assert moments["viewerDrop"]["properties"]["ratio"]["default"] == core.thresholds.viewer_drop.ratio
    assert (
        moments["revenueSpike"]["properties"]["giftBomb"]["default"]
        == core.thresholds.revenue_spike.gift_bomb
    )
    bare = TelemetraStreamSpec.model_validate({"streamId": "x", "source": {"type": "mock"}})
    for name in ("kafka", "processing", "spark", "dashboard"):
        # A default on the object itself, so that its fields' defaults apply when it is absent.
        expected = getattr(bare, name).model_dump(mode="json", by_alias=True, exclude_none=True)
        assert spec[name]["default"] == expected
    assert "default" not in spec["source"]["properties"]["mock"], "source kinds must stay absent unless set"


def test_a_spec_with_only_the_required_fields_gets_every_default() -> None:
    parsed = TelemetraStreamSpec.model_validate({"streamId": "demo", "source": {"type": "mock", "mock": {}}})
    assert parsed.kafka.partitions == 3
    assert (
        parsed.processing.moments.sentiment_swing.delta == AnalyticsConfig().thresholds.sentiment_swing.delta
    )
    assert parsed.state == "running" and parsed.topic_deletion_policy == "delete"


def test_cel_rules_name_their_fields() -> None:
    rules = [
        (path, rule)
        for path, node in _nodes(_schema()["properties"]["spec"], ".spec")
        for rule in node.get("x-kubernetes-validations", [])
    ]
    assert len(rules) >= 9
    transition = [rule["rule"] for _, rule in rules if "oldSelf" in rule["rule"]]
    assert "self >= oldSelf" in transition  # partitions only grow
    assert "self == oldSelf" in transition  # streamId, replicas immutable
    for path, rule in rules:
        field = path.rsplit(".", 1)[-1]
        assert field in rule["message"] or rule.get("fieldPath", "").lstrip(".") in rule["message"], (
            path,
            rule,
        )
