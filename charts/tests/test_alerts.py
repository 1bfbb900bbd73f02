"""The chart's alert dispatcher (`telemetra alerts dispatch`): its Deployment, identity, disruption budget and
metrics, and the operator's access to the alert outbox (the streams' spec.alerts). The network paths are
test_network_policies.py's."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import pytest

from telemetra.apps.cli import build_parser
from telemetra.operator.settings import OperatorSettings
from telemetra.services.alerts.settings import AlertSettings

Chart = Any  # conftest.Chart
Manifest = dict[str, Any]
NAMESPACE = "telemetra"
NAME = "telemetra-alerts"


def _container(objects: list[Manifest], m: SimpleNamespace, name: str = NAME) -> dict[str, Any]:
    container: dict[str, Any] = m.pod_spec(m.one(objects, "Deployment", name))["containers"][0]
    return container


def test_the_dispatcher_runs_in_the_apis_image_with_the_stores_database(
    chart: Chart, m: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = chart.template()
    deployment = m.one(objects, "Deployment", NAME)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    pod = m.pod_spec(deployment)
    assert pod["serviceAccountName"] == NAME and pod["automountServiceAccountToken"] is True
    container = pod["containers"][0]
    api = _container(objects, m, "telemetra-api")
    assert container["image"] == api["image"]
    assert container["args"] == ["telemetra", "alerts", "dispatch"]
    args = build_parser().parse_args(container["args"][1:])  # the CLI accepts the chart's command
    assert args.handler.__name__ == "cmd_alerts_dispatch"
    env = m.env(container)
    assert env["TELEMETRA_ALERTS_OUTBOX_URL"] == m.env(api)["TELEMETRA_STORE_URL"]  # the same Secret key
    assert env["TELEMETRA_ALERTS_OUTBOX_URL"]["secretKeyRef"] == {
        "name": "telemetra-postgresql",
        "key": "url",
    }
    for key in [k for k in os.environ if k.startswith("TELEMETRA_ALERTS_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("TELEMETRA_ALERTS_OUTBOX_URL", "postgresql://u@db/telemetra")  # the Secret's value
    settings = AlertSettings()
    assert settings.secrets_source == "kubernetes"
    assert (settings.metrics_host, settings.metrics_port) == ("0.0.0.0", 9465)
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"metrics": 9465}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "metrics"}, probe
    budget = m.one(objects, "PodDisruptionBudget", NAME)
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize(
    ("sets", "secret"),
    [
        ((), {"name": "telemetra-postgresql", "key": "url"}),
        (("postgresql.mode=cnpg",), {"name": "telemetra-postgresql-app", "key": "uri"}),
        (
            ("postgresql.enabled=false", "externalDatabase.existingSecret=db", "externalDatabase.urlKey=dsn"),
            {"name": "db", "key": "dsn"},
        ),
    ],
)
def test_the_operator_keeps_the_streams_alert_configs_in_that_database(
    chart: Chart, m: SimpleNamespace, sets: tuple[str, ...], secret: dict[str, str]
) -> None:
    objects = chart.template(sets=sets)
    operator = m.env(_container(objects, m, "telemetra-operator"))
    assert operator["TELEMETRA_OPERATOR_ALERTS_OUTBOX_URL"]["secretKeyRef"] == secret
    assert m.env(_container(objects, m))["TELEMETRA_ALERTS_OUTBOX_URL"]["secretKeyRef"] == secret
    assert "alerts_outbox_url" in OperatorSettings.model_fields


def test_the_dispatcher_may_only_get_secrets_where_the_streams_are(chart: Chart, m: SimpleNamespace) -> None:
    namespaced = chart.template()
    role = m.one(namespaced, "Role", NAME)
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    binding = m.one(namespaced, "RoleBinding", NAME)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]

    everywhere = chart.template(sets=["operator.namespaced=false"])  # streams in any namespace
    assert m.one(everywhere, "ClusterRole", NAME)["rules"] == role["rules"]
    assert m.one(everywhere, "ClusterRoleBinding", NAME)["roleRef"]["kind"] == "ClusterRole"

    blind = chart.template(sets=["alerts.readSecrets=false"])
    assert not [o for o in blind if o["kind"] in ("Role", "RoleBinding") and o["metadata"]["name"] == NAME]
    assert m.one(blind, "ServiceAccount", NAME)["automountServiceAccountToken"] is False
    assert m.pod_spec(m.one(blind, "Deployment", NAME))["automountServiceAccountToken"] is False
    assert m.env(_container(blind, m))["TELEMETRA_ALERTS_SECRETS_SOURCE"] == "dir"


def test_alerts_can_be_turned_off(chart: Chart, m: SimpleNamespace) -> None:
    objects = chart.template(sets=["alerts.enabled=false"])
    assert not [o for o in objects if o["metadata"]["name"].startswith(NAME)]
    assert "TELEMETRA_OPERATOR_ALERTS_OUTBOX_URL" not in m.env(_container(objects, m, "telemetra-operator"))


def test_the_dispatchers_metrics_are_scraped(chart: Chart, m: SimpleNamespace) -> None:
    objects = chart.template("production")
    monitor = m.one(objects, "ServiceMonitor", NAME)
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    selector = monitor["spec"]["selector"]["matchLabels"]
    (service,) = [
        s for s in m.find(objects, "Service") if selector.items() <= s["metadata"]["labels"].items()
    ]
    assert service["metadata"]["name"] == "telemetra-alerts-metrics"
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9465, "targetPort": "metrics", "protocol": "TCP"}
    ]
    pods = m.pod_spec(m.one(objects, "Deployment", NAME))
    assert m.selects(
        {"matchLabels": service["spec"]["selector"]},
        m.one(objects, "Deployment", NAME)["spec"]["template"]["metadata"]["labels"],
    )
    assert pods["containers"][0]["resources"]["limits"]
