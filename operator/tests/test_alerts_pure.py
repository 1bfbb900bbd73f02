"""spec.alerts → the alert outbox's configs, and the ``AlertsReady`` condition (pure: no API server, no
database). The operator's loop around these is test_alerts.py's."""

from __future__ import annotations

from typing import Any

import pytest

from telemetra.operator import alerts
from telemetra.operator import status as st
from telemetra.operator.settings import OperatorSettings
from telemetra.operator.stream import Stream
from telemetra.services.alerts.outbox import StoredConfig
from telemetra.services.alerts.rules import AlertConfig

DISCORD = {"name": "mods", "type": "discord", "urlFrom": {"name": "stream-alerts", "key": "discord-url"}}
WEBHOOK = {
    "name": "editors",
    "type": "webhook",
    "url": "https://editors.example.com/hooks/telemetra",
    "signingSecretFrom": {"name": "hook-keys", "key": "editors"},
}


def spec_alerts(*destinations: dict[str, Any], rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    chosen = list(destinations) or [DISCORD]
    names = [d["name"] for d in chosen]
    return {"destinations": chosen, "rules": rules or [{"name": "all", "destinations": names}]}


def body(
    name: str = "s",
    *,
    namespace: str = "team-a",
    stream_id: str | None = None,
    alerts_: dict[str, Any] | None = None,
    created: str = "2026-12-07T10:00:00Z",
    generation: int = 1,
    **spec: Any,
) -> dict[str, Any]:
    full = {"streamId": stream_id or name, "source": {"type": "mock", "mock": {}}, **spec}
    if alerts_ is not None:
        full["alerts"] = alerts_
    meta = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{name}",
        "generation": generation,
        "creationTimestamp": created,
    }
    return {"apiVersion": "telemetra.io/v1alpha1", "kind": "TelemetraStream", "metadata": meta, "spec": full}


def wanted(**kwargs: Any) -> alerts.Wanted:
    kwargs.setdefault("alerts_", spec_alerts())
    manifest = body(**kwargs)
    found = alerts.wanted_of(Stream.from_body(manifest, OperatorSettings()), manifest)
    assert found is not None
    return found


def row(w: alerts.Wanted, *, origin: str | None = None, config: AlertConfig | None = None) -> StoredConfig:
    stored = config or w.config
    assert stored is not None
    return StoredConfig(w.stream_id, stored, origin or w.origin, 1.0)


# -- parsing -------------------------------------------------------------------------------------------------
def test_a_stream_without_alerts_wants_nothing() -> None:
    manifest = body()
    assert alerts.wanted_of(Stream.from_body(manifest, OperatorSettings()), manifest) is None


def test_the_config_is_stored_with_its_secrets_in_the_streams_namespace() -> None:
    w = wanted(alerts_=spec_alerts(DISCORD, WEBHOOK))
    assert w.origin == "resource:team-a/s" and w.invalid is None and w.config is not None
    refs = w.config.secret_refs()
    assert [(r.namespace, r.name, r.key) for r in refs] == [
        ("team-a", "stream-alerts", "discord-url"),
        ("team-a", "hook-keys", "editors"),
    ]
    assert w.secrets() == [("stream-alerts", "destination mods"), ("hook-keys", "destination editors")]


def test_a_pooled_stream_names_its_pools_loop() -> None:
    assert wanted(pool="small").loop == "team-a/pools/small"
    assert wanted(dedicated=True).loop is None


@pytest.mark.parametrize(
    ("config", "where", "words"),
    [
        (
            spec_alerts(
                {**DISCORD, "url": "https://discord.com/api/webhooks/1/token-in-here", "urlFrom": None}
            ),
            "spec.alerts.destinations[0]",
            ["urlFrom", "never inline"],
        ),
        (
            spec_alerts({k: v for k, v in WEBHOOK.items() if k != "signingSecretFrom"}),
            "spec.alerts.destinations[0]",
            ["signingSecretFrom"],
        ),
        (
            spec_alerts(DISCORD, rules=[{"name": "r", "destinations": ["mods", "nobody"]}]),
            "spec.alerts",
            ["unknown destination", "nobody"],
        ),
        (
            spec_alerts(
                DISCORD, rules=[{"name": "r", "destinations": ["mods"], "quietHours": ["07:00-07:00"]}]
            ),
            "spec.alerts.rules[0].quietHours",
            ["same"],
        ),
        (
            spec_alerts({**DISCORD, "urlFrom": {"env": "TELEMETRA_ALERTS_OUTBOX_URL"}}),
            "spec.alerts.destinations[0].urlFrom.env",
            ["Secrets of its namespace"],
        ),
    ],
)
def test_invalid_alerts_name_the_field_and_never_a_value(
    config: dict[str, Any], where: str, words: list[str]
) -> None:
    config = {
        **config,
        "destinations": [{k: v for k, v in d.items() if v is not None} for d in config["destinations"]],
    }
    w = wanted(alerts_=config)
    assert w.config is None and w.invalid is not None
    assert w.invalid.startswith(f"{where}:"), w.invalid
    for word in words:
        assert word in w.invalid
    assert "token-in-here" not in w.invalid and "OUTBOX_URL" not in w.invalid.split(":", 1)[1]


# -- the difference --------------------------------------------------------------------------------------------
def test_new_changed_and_unchanged_streams() -> None:
    a, b, c = wanted(name="a"), wanted(name="b"), wanted(name="c")
    b_before = wanted(name="b", alerts_=spec_alerts(WEBHOOK))
    rows = {"a": row(a), "b": row(b_before)}
    writes = alerts.plan([a, b, c], rows).writes
    assert [(w.stream_id, w.config is not None) for w in writes] == [("b", True), ("c", True)]
    assert all(w.replaces is None for w in writes)
    rows_after = dict(rows)
    for write in writes:
        alerts.applied(rows_after, write, 2.0)
    assert alerts.plan([a, b, c], rows_after).writes == []  # converged: nothing more to write


def test_rows_of_streams_gone_or_without_alerts_go_and_other_origins_stay() -> None:
    a, gone = wanted(name="a"), wanted(name="gone")
    rows = {
        "a": row(a),
        "gone": row(gone),
        "by-api": row(wanted(name="by-api"), origin="api"),
        "from-file": row(wanted(name="from-file"), origin="file"),
    }
    writes = alerts.plan([a], rows).writes
    assert [(w.stream_id, w.origin, w.config) for w in writes] == [("gone", "resource:team-a/gone", None)]


def test_a_stream_takes_over_a_row_of_another_origin() -> None:
    a = wanted(name="a")
    writes = alerts.plan([a], {"a": row(a, origin="api")}).writes
    assert [(w.stream_id, w.origin, w.replaces) for w in writes] == [("a", "resource:team-a/a", "api")]


def test_a_stream_of_the_same_name_elsewhere_rewrites_the_row() -> None:
    a = wanted(name="a")
    other = wanted(name="a", namespace="team-b")
    writes = alerts.plan([a], {"a": row(other)}).writes
    assert [(w.origin, w.replaces) for w in writes] == [("resource:team-a/a", None)]


def test_invalid_alerts_leave_the_row_alone() -> None:
    good = wanted(name="a")
    bad = wanted(
        name="a", generation=2, alerts_=spec_alerts(DISCORD, rules=[{"name": "r", "destinations": ["x"]}])
    )
    assert alerts.plan([bad], {"a": row(good)}).writes == []
    assert alerts.plan([bad], {}).writes == []


def test_of_two_streams_with_one_id_the_older_ones_alerts_apply() -> None:
    old = wanted(name="old", stream_id="x", created="2026-12-07T09:00:00Z")
    young = wanted(name="young", stream_id="x", alerts_=spec_alerts(WEBHOOK))
    result = alerts.plan([young, old], {})
    assert [(w.stream_id, w.origin) for w in result.writes] == [("x", "resource:team-a/old")]
    assert result.left_out == {"team-a/young": old}


# -- the condition ------------------------------------------------------------------------------------------
def test_verdicts() -> None:
    w = wanted(alerts_=spec_alerts(DISCORD, WEBHOOK))
    rows = {w.stream_id: row(w)}
    ok = alerts.verdict(w, rows, {}, set(), None)
    assert (ok.status, ok.reason) == ("True", "Configured")
    assert "2 destinations, 1 rule" in ok.message
    missing = alerts.verdict(w, rows, {}, {"hook-keys"}, None)
    assert (missing.status, missing.reason) == ("False", "SecretMissing")
    assert "Secret team-a/hook-keys does not exist (destination editors needs it)" in missing.message
    down = alerts.verdict(w, rows, {}, set(), "ConnectionRefusedError: refused")
    assert (down.status, down.reason) == ("False", "OutboxUnavailable")
    unwritten = alerts.verdict(w, {}, {}, set(), None)
    assert (unwritten.status, unwritten.reason) == ("Unknown", "Syncing")

    bad = wanted(alerts_=spec_alerts(DISCORD, rules=[{"name": "r", "destinations": ["x"]}]))
    kept = alerts.verdict(bad, rows, {}, set(), None)
    assert (kept.status, kept.reason) == ("False", "InvalidAlerts")
    assert kept.message.endswith("the last valid configuration stays in effect")
    assert not alerts.verdict(bad, {}, {}, set(), None).message.endswith("in effect")


def test_the_condition_a_status_pass_writes() -> None:
    configured = st.Check("True", "Configured", "1 destination")
    assert alerts.condition_of(False, (1, configured), 1, {}) is None
    assert alerts.condition_of(True, (1, configured), 1, {}) == configured
    # a verdict of an older generation: what the status says for this one, else Unknown
    assert alerts.condition_of(True, (1, configured), 2, {}).reason == "Syncing"  # type: ignore[union-attr]
    status = {"conditions": [{"type": "AlertsReady", "status": "True", "reason": "Configured", "message": "m",
                              "observedGeneration": 2}]}  # fmt: skip
    assert alerts.condition_of(True, None, 2, status) == st.Check("True", "Configured", "m")
    assert alerts.condition_of(True, None, 3, status).reason == "Syncing"  # type: ignore[union-attr]


def test_alerts_count_toward_neither_ready_nor_the_lifecycle_state() -> None:
    ready = st.Check("True", "Ready")
    observation = st.Observation(
        generation=1,
        suspended=False,
        topics=[st.TopicObservation("t", ready)],
        producer=st.Check("True", "Available"),
        spark=st.SparkObservation(exists=True, state="RUNNING"),
        dashboard=st.Check("True", "Provisioned"),
        alerts=st.Check("False", "SecretMissing", "Secret team-a/x does not exist"),
    )
    status = st.build_status(observation, {})
    types = [c["type"] for c in status["conditions"]]
    assert types == [*st.CONDITION_TYPES, "AlertsReady"]
    assert st.condition(status, "Ready")["status"] == "True"  # type: ignore[index]
    assert status["lifecycleState"] == "Running"
    without = st.build_status(
        st.Observation(**{**observation.__dict__, "alerts": None}), status
    )  # alerts removed: the condition goes
    assert [c["type"] for c in without["conditions"]] == list(st.CONDITION_TYPES)
