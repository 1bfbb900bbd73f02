"""The platform Grafana dashboard: valid Grafana JSON shipped as a sidecar ConfigMap, querying only metrics
that Telemetra's components really export (names read from their live Prometheus registries)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry

Chart = Any  # conftest.Chart
DASHBOARDS = Path(__file__).resolve().parents[1] / "telemetra" / "dashboards"
METRIC = re.compile(r"\b(telemetra_[a-z0-9_]+)\b")
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}


def exported(registry: CollectorRegistry) -> set[str]:
    """Sample names a registry exposes (a labelled metric with no child yet has no samples, so expand)."""
    names = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
    return names


def telemetra_metrics() -> set[str]:
    from telemetra.operator.metrics import Metrics as OperatorMetrics
    from telemetra.services.api.observability import Metrics as ApiMetrics
    from telemetra.spark.metrics import JobMetrics

    return (
        exported(OperatorMetrics().registry)
        | exported(ApiMetrics().registry)
        | exported(JobMetrics("demo").registry)
    )


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_every_queried_telemetra_metric_exists() -> None:
    known = telemetra_metrics()
    for path in DASHBOARDS.glob("*.json"):
        dashboard = json.loads(path.read_text())
        used = {name for expr in expressions(dashboard) for name in METRIC.findall(expr)}
        assert used, path.name
        assert used <= known, f"{path.name} queries metrics nobody exports: {sorted(used - known)}"


def test_platform_dashboard_covers_streams_events_lag_and_errors() -> None:
    dashboard = json.loads((DASHBOARDS / "platform-overview.json").read_text())
    assert dashboard["uid"] == "telemetra-platform"
    exprs = " ".join(expressions(dashboard))
    for metric in (
        "telemetra_operator_streams",  # streams
        "telemetra_spark_events_total",  # events/s
        "telemetra_spark_kafka_offsets_behind_latest",  # lag
        "telemetra_spark_dead_letters_total",  # errors
        "telemetra_operator_reconcile_errors_total",
        "telemetra_http_request_duration_seconds_count",
    ):
        assert metric in exprs, metric
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
            assert panel["targets"] and panel["description"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24


def test_dashboards_render_as_sidecar_config_maps(chart: Chart, m: SimpleNamespace) -> None:
    objects = chart.template(
        sets=[
            "monitoring.grafanaDashboards.datasourceUid=prom-main",
            "monitoring.grafanaDashboards.namespace=monitoring",
        ]
    )
    maps = m.find(objects, "ConfigMap")
    assert len(maps) == len(list(DASHBOARDS.glob("*.json")))
    (config_map,) = [c for c in maps if c["metadata"]["name"] == "telemetra-dashboard-platform-overview"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Telemetra"}
    assert config_map["metadata"]["namespace"] == "monitoring"
    dashboard = json.loads(config_map["data"]["platform-overview.json"])
    assert {p["datasource"]["uid"] for p in dashboard["panels"] if p["type"] != "row"} == {"prom-main"}
    assert not m.find(chart.template(sets=["monitoring.grafanaDashboards.enabled=false"]), "ConfigMap")


def test_dashboard_folder_matches_the_operators_per_stream_dashboards(
    chart: Chart, m: SimpleNamespace
) -> None:
    """Both land in one Grafana folder through the same sidecar annotation."""
    from telemetra.operator.settings import OperatorSettings
    from telemetra.operator.spec import Dashboard

    objects = chart.template()
    env = m.env(m.pod_spec(m.one(objects, "Deployment", "telemetra-operator"))["containers"][0])
    assert env["TELEMETRA_OPERATOR_GRAFANA_FOLDER_ANNOTATION"] == "grafana_folder"
    assert OperatorSettings.model_fields["grafana_folder_annotation"].default == "grafana_folder"
    config_map = m.one(objects, "ConfigMap", "telemetra-dashboard-platform-overview")
    assert config_map["metadata"]["annotations"]["grafana_folder"] == Dashboard().folder
