"""The chart grants the operator exactly the RBAC the operator declares (operator/src/telemetra/operator/
rbac.yaml, printed by `python -m telemetra.operator rbac`): no less (it would fail), no more (least privilege)."""

from __future__ import annotations

from typing import Any

import yaml

from telemetra.operator.__main__ import rbac_text

Chart = Any  # conftest.Chart


def normalized(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def declared() -> dict[str, set[tuple[str, str, str]]]:
    """Rules of the operator's own RBAC by the namespace they apply in (the watched one, Kafka's)."""
    roles = [d for d in yaml.safe_load_all(rbac_text()) if d and d["kind"] == "Role"]
    by_namespace = {r["metadata"]["namespace"]: normalized(r["rules"]) for r in roles}
    assert set(by_namespace) == {"telemetra", "kafka"}, by_namespace.keys()
    return {"watched": by_namespace["telemetra"], "kafka": by_namespace["kafka"]}


def test_chart_grants_what_the_operator_declares(chart: Chart, m: Any) -> None:
    wanted = declared()
    for sets, watched_kind in (((), "Role"), (("operator.namespaced=false",), "ClusterRole")):
        objects = chart.template(sets=sets)
        assert normalized(m.one(objects, watched_kind, "telemetra-operator")["rules"]) == wanted["watched"]
        assert normalized(m.one(objects, "Role", "telemetra-operator-topics")["rules"]) == wanted["kafka"]
        roles = [o for o in objects if o["kind"] in {"Role", "ClusterRole"}]
        granted_to_operator = {
            o["metadata"]["name"] for o in roles if o["metadata"]["name"].startswith("telemetra-operator")
        }
        assert granted_to_operator == {"telemetra-operator", "telemetra-operator-topics"}


def test_bindings_name_the_operator_service_account(chart: Chart, m: Any) -> None:
    objects = chart.template()
    account = m.pod_spec(m.one(objects, "Deployment", "telemetra-operator"))["serviceAccountName"]
    for name in ("telemetra-operator", "telemetra-operator-topics"):
        binding = m.one(objects, "RoleBinding", name)
        assert binding["roleRef"]["name"] == name
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "telemetra"}]
