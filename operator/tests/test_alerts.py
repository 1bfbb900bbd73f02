"""spec.alerts against a real API server and a real PostgreSQL: admission of what the CRD can judge, and the
operator keeping the streams' configs in the alert outbox's table (``alert_configs``) with ``AlertsReady``.

What it checks:

* the API server rejects, naming the field, what the CRD's schema and CEL rules can say (an inline Discord URL,
  a webhook without a signing key, a rule naming an unknown destination, credentials in a URL, an env reference,
  an unknown moment kind, duplicate names), and fills in the defaults of a valid config;
* a stream with alerts gets its row (origin ``resource:<namespace>/<name>``, Secret references in its namespace)
  and ``AlertsReady``: False with ``SecretMissing`` (a Warning Event) until the Secret exists, then True; a
  change rewrites the row; invalid alerts (beyond the schema) keep the last valid row and say where the problem
  is; removing the alerts deletes the row and the condition; deleting the stream deletes the row; a row of
  another origin is left alone, unless a stream with alerts has its id (it takes it over);
* failing alerts never make the stream look down: Ready stays True;
* without an outbox the condition says alerting is not installed; with an unreachable one, that the outbox is
  unavailable, and the URL's password is never logged;
* an operator restart rewrites nothing, and deletes the rows of streams deleted while it was down;
* a pooled stream without a loop of its own gets its condition from its pool's loop.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from telemetra.dev.kube.cluster import KubeCluster
from telemetra.dev.localstack.postgres import PostgresServer
from telemetra.dev.localstack.process import free_port
from telemetra.dev.testing import operator as t
from telemetra.operator.kube import Kube, KubeError
from telemetra.services.alerts.outbox import Outbox, StoredConfig, open_outbox
from telemetra.services.alerts.rules import AlertConfig

from .conftest import Namespaces
from .test_pools import create, pool_manifest, ready_pool

DISCORD = {"name": "mods", "type": "discord", "urlFrom": {"name": "stream-alerts", "key": "discord-url"}}
WEBHOOK = {
    "name": "editors",
    "type": "webhook",
    "url": "https://editors.example.com/hooks/telemetra",
    "signingSecretFrom": {"name": "stream-alerts", "key": "webhook-key"},
}
RULE = {"name": "big-moments", "kinds": ["chat_spike", "raid"], "destinations": ["mods", "editors"]}
ALERTS = {"destinations": [DISCORD, WEBHOOK], "rules": [RULE]}


def with_alerts(name: str, alerts: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return t.stream_manifest(name, alerts=alerts, **spec)


# -- admission -----------------------------------------------------------------------------------------------
def _changed(**change: Any) -> dict[str, Any]:
    config = copy.deepcopy(ALERTS)
    for key, value in change.items():
        config[key] = value
    return config


INVALID: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "an inline Discord URL",
        _changed(destinations=[{**DISCORD, "url": "https://discord.com/api/webhooks/1/tok"}, WEBHOOK]),
        ["spec.alerts.destinations[0].url", "carries its token"],
    ),
    (
        "a webhook without a signing key",
        _changed(destinations=[DISCORD, {k: v for k, v in WEBHOOK.items() if k != "signingSecretFrom"}]),
        ["spec.alerts.destinations[1].signingSecretFrom", "needs signingSecretFrom"],
    ),
    (
        "a rule naming an unknown destination",
        _changed(rules=[{**RULE, "destinations": ["mods", "nobody"]}]),
        ["spec.alerts.rules", "must be one of spec.alerts.destinations"],
    ),
    (
        "credentials in a webhook URL",
        _changed(destinations=[DISCORD, {**WEBHOOK, "url": "https://user:pw@editors.example.com/h"}]),
        ["spec.alerts.destinations[1].url"],
    ),
    (
        "an env reference (the dispatcher's environment)",
        _changed(destinations=[{**DISCORD, "urlFrom": {"env": "TELEMETRA_ALERTS_OUTBOX_URL"}}, WEBHOOK]),
        ["spec.alerts.destinations[0].urlFrom"],
    ),
    (
        "an unknown moment kind",
        _changed(rules=[{**RULE, "kinds": ["earthquake"]}]),
        ["spec.alerts.rules[0].kinds[0]", "earthquake"],
    ),
    (
        "two destinations of one name",
        _changed(destinations=[DISCORD, {**WEBHOOK, "name": "mods"}]),
        ["spec.alerts.destinations[1]", "Duplicate value"],
    ),
    (
        "quiet hours not HH:MM-HH:MM",
        _changed(rules=[{**RULE, "quietHours": ["10pm-7am"]}]),
        ["spec.alerts.rules[0].quietHours[0]"],
    ),
]


async def test_invalid_alerts_are_rejected_at_admission_naming_the_field(
    kube: Kube, namespaces: Namespaces
) -> None:
    for what, alerts, words in INVALID:
        manifest = with_alerts("s", alerts)
        manifest["metadata"]["namespace"] = namespaces.streams
        with pytest.raises(KubeError) as caught:
            await kube.create(manifest)
        error = caught.value
        assert error.status == 422, (what, error)
        for word in words:
            assert word in error.message, f"{what}: {word!r} not in {error.message!r}"
        assert "tok" not in error.message.replace("token", ""), what  # the URL's token is not echoed


async def test_valid_alerts_are_admitted_with_their_defaults(kube: Kube, namespaces: Namespaces) -> None:
    alerts = _changed(destinations=[DISCORD, {**WEBHOOK, "rateLimit": {"max": 10}}])
    manifest = with_alerts("s", alerts)
    manifest["metadata"]["namespace"] = namespaces.streams
    stored = (await kube.create(manifest))["spec"]["alerts"]
    assert stored["destinations"][1]["rateLimit"] == {"max": 10, "perSeconds": 3600}
    assert stored["rules"][0]["minScore"] == 0
    assert AlertConfig.model_validate(stored).rules[0].kinds == ["chat_spike", "raid"]


# -- the operator and the outbox -----------------------------------------------------------------------------
@pytest.fixture
def outbox_url(request: pytest.FixtureRequest) -> str:
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"alerts_{uuid.uuid4().hex[:10]}")


@pytest.fixture
async def outbox(outbox_url: str) -> AsyncIterator[Outbox]:
    box = open_outbox(outbox_url)
    await box.start()
    try:
        yield box
    finally:
        await box.close()


def operator_with(
    cluster: KubeCluster, spaces: Namespaces, tmp_path: Path, url: str | None, **env: str
) -> t.OperatorProcess:
    extra = {"TELEMETRA_OPERATOR_ALERTS_OUTBOX_URL": url} if url is not None else {}
    return t.OperatorProcess(
        cluster.env(), spaces.streams, spaces.kafka, tmp_path / "operator.log", extra_env={**extra, **env}
    )


@pytest.fixture
def alerting_operator(
    kube_cluster: KubeCluster, namespaces: Namespaces, tmp_path: Path, outbox_url: str
) -> Iterator[t.OperatorProcess]:
    process = operator_with(kube_cluster, namespaces, tmp_path, outbox_url)
    with process:
        yield process
    print(f"--- operator log ({process.log_path}) ---\n{process.log()[-20000:]}")


async def rows(outbox: Outbox) -> dict[str, StoredConfig]:
    return await outbox.configs()


async def wait_rows(outbox: Outbox, check: Any, what: str, within: float = 20) -> dict[str, StoredConfig]:
    async def probe() -> dict[str, StoredConfig] | None:
        found = await rows(outbox)
        return found if check(found) else None

    return await t.wait_for(probe, within=within, interval=0.2, what=what)


async def alerts_ready(
    kube: Kube, namespace: str, name: str, status: str, reason: str, within: float = 20
) -> dict[str, Any]:
    return await t.wait_condition(kube, namespace, name, "AlertsReady", status, reason=reason, within=within)


async def test_a_streams_alerts_reach_the_outbox_and_follow_its_spec(
    kube: Kube, namespaces: Namespaces, alerting_operator: t.OperatorProcess, outbox: Outbox
) -> None:
    ns = namespaces.streams
    other = AlertConfig.model_validate({"destinations": [], "rules": []})
    await outbox.set_config("by-api", other, "api", 1.0)  # another source's row: never touched
    await outbox.set_config("taken", other, "api", 1.0)  # …unless a stream with alerts has its id

    # A Secret missing: the row is written all the same, the condition says what is missing, Ready holds.
    stream = await t.run_ready(kube, ns, namespaces.kafka, with_alerts("watched", ALERTS))
    stream = await alerts_ready(kube, ns, "watched", "False", "SecretMissing")
    assert t.condition(stream, "Ready")["status"] == "True"
    assert stream["status"]["lifecycleState"] == "Running"
    message = t.condition(stream, "AlertsReady")["message"]
    assert f"Secret {ns}/stream-alerts does not exist" in message
    found = await wait_rows(outbox, lambda r: "watched" in r, "the stream's row")
    row = found["watched"]
    assert row.origin == f"resource:{ns}/watched"
    assert [(r.namespace, r.name, r.key) for r in row.config.secret_refs()] == [
        (ns, "stream-alerts", "discord-url"),
        (ns, "stream-alerts", "webhook-key"),
    ]

    async def warned() -> bool:
        events = await t.events_for(kube, ns, "watched")
        return any(e["reason"] == "SecretMissing" and e["type"] == "Warning" for e in events)

    await t.wait_for(warned, within=10, what="a SecretMissing Warning")

    await t.create_secret(kube, ns, "stream-alerts", {"discord-url": "https://x", "webhook-key": "k"})
    stream = await alerts_ready(kube, ns, "watched", "True", "Configured")
    assert "2 destinations, 1 rule" in t.condition(stream, "AlertsReady")["message"]

    # A change rewrites the row; the condition follows the generation.
    changed = copy.deepcopy(ALERTS)
    changed["rules"][0]["minScore"] = 3
    await kube.patch(t.STREAM, ns, "watched", {"spec": {"alerts": changed}})
    await wait_rows(outbox, lambda r: r["watched"].config.rules[0].min_score == 3, "the changed row")
    stream = await alerts_ready(kube, ns, "watched", "True", "Configured")
    assert t.condition(stream, "AlertsReady")["observedGeneration"] == 2

    # Invalid beyond the schema: the last valid row stays, the condition names the field.
    invalid = copy.deepcopy(changed)
    invalid["rules"][0]["quietHours"] = ["07:00-07:00"]
    await kube.patch(t.STREAM, ns, "watched", {"spec": {"alerts": invalid}})
    stream = await alerts_ready(kube, ns, "watched", "False", "InvalidAlerts")
    message = t.condition(stream, "AlertsReady")["message"]
    assert message.startswith("spec.alerts.rules[0].quietHours:") and "stays in effect" in message
    assert (await rows(outbox))["watched"].config.rules[0].min_score == 3
    assert t.condition(stream, "Ready")["status"] == "True"

    # A second stream takes over the api row of its id; the other api row stays.
    await t.run_ready(kube, ns, namespaces.kafka, with_alerts("taken", ALERTS))
    await alerts_ready(kube, ns, "taken", "True", "Configured")
    found = await wait_rows(outbox, lambda r: r["taken"].origin.startswith("resource:"), "the row taken over")
    assert found["by-api"].origin == "api"
    assert "replaces the configuration of origin api" in alerting_operator.log()

    # Alerts removed: row and condition go. Stream deleted: its row goes.
    await kube.patch(t.STREAM, ns, "watched", {"spec": {"alerts": None}})
    await wait_rows(outbox, lambda r: "watched" not in r, "the removed alerts' row gone")

    async def no_condition() -> bool:
        body = await t.get_stream(kube, ns, "watched")
        current = body["status"].get("observedGeneration") == body["metadata"]["generation"]
        return current and not t.condition(body, "AlertsReady")

    await t.wait_for(no_condition, within=10, what="AlertsReady gone")
    await kube.delete(t.STREAM, ns, "taken")
    found = await wait_rows(outbox, lambda r: "taken" not in r, "the deleted stream's row gone")
    assert set(found) == {"by-api"}


async def test_a_restart_rewrites_nothing_and_catches_up_with_deletions(
    kube: Kube,
    kube_cluster: KubeCluster,
    namespaces: Namespaces,
    tmp_path: Path,
    outbox_url: str,
    outbox: Outbox,
) -> None:
    ns = namespaces.streams
    await t.create_secret(kube, ns, "stream-alerts", {"discord-url": "https://x", "webhook-key": "k"})
    process = operator_with(kube_cluster, namespaces, tmp_path, outbox_url)
    with process:
        for name in ("kept", "dropped"):
            await t.run_ready(kube, ns, namespaces.kafka, with_alerts(name, ALERTS))
            await alerts_ready(kube, ns, name, "True", "Configured")
    before = await rows(outbox)
    kept = await t.get_stream(kube, ns, "kept")
    await kube.patch(t.STREAM, ns, "dropped", {"metadata": {"finalizers": None}})
    await kube.delete(t.STREAM, ns, "dropped")  # while no operator runs

    again = operator_with(kube_cluster, namespaces, tmp_path, outbox_url)
    with again:
        after = await wait_rows(
            outbox, lambda r: "dropped" not in r, "the row of the stream deleted meanwhile"
        )
        await asyncio.sleep(3)  # a resync (2 s) and more
        assert after["kept"].updated_at == before["kept"].updated_at  # not rewritten
        body = await t.get_stream(kube, ns, "kept")
        assert t.condition(body, "AlertsReady") == t.condition(kept, "AlertsReady")
    print(again.log()[-5000:])


async def test_without_an_outbox_alerting_is_not_installed(
    kube: Kube, namespaces: Namespaces, operator_process: t.OperatorProcess
) -> None:
    await t.run_ready(kube, namespaces.streams, namespaces.kafka, with_alerts("s", ALERTS))
    stream = await alerts_ready(kube, namespaces.streams, "s", "False", "AlertingNotInstalled")
    assert "TELEMETRA_OPERATOR_ALERTS_OUTBOX_URL" in t.condition(stream, "AlertsReady")["message"]
    assert t.condition(stream, "Ready")["status"] == "True"


async def test_an_unreachable_outbox_is_reported_and_its_password_never_logged(
    kube: Kube, kube_cluster: KubeCluster, namespaces: Namespaces, tmp_path: Path
) -> None:
    url = f"postgresql://telemetra:pw-{uuid.uuid4().hex}@127.0.0.1:{free_port()}/telemetra"
    process = operator_with(kube_cluster, namespaces, tmp_path, url)
    with process:
        await kube.create(
            {**with_alerts("s", ALERTS), "metadata": {"name": "s", "namespace": namespaces.streams}}
        )
        stream = await alerts_ready(kube, namespaces.streams, "s", "False", "OutboxUnavailable")
        message = t.condition(stream, "AlertsReady")["message"]
    password = url.split(":")[2].split("@")[0]
    assert password not in message and password not in process.log()
    assert "alert outbox" in process.log()


async def test_a_pooled_stream_without_a_loop_of_its_own_gets_its_condition_from_its_pool(
    kube: Kube,
    kube_cluster: KubeCluster,
    namespaces: Namespaces,
    tmp_path: Path,
    kafka_bootstrap: str,
    outbox_url: str,
    outbox: Outbox,
) -> None:
    ns = namespaces.streams
    pool = "alerting"  # a pool of its own: test_pools reads its pool's control topic on the same broker
    settings = {
        "TELEMETRA_OPERATOR_TOPICS": "admin",
        "TELEMETRA_OPERATOR_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TELEMETRA_OPERATOR_KAFKA_TIMEOUT_SECONDS": "5",
        "TELEMETRA_OPERATOR_DEFAULT_POOL": pool,
        "TELEMETRA_OPERATOR_POOL_SYNC_SECONDS": "0.2",
    }
    process = operator_with(kube_cluster, namespaces, tmp_path, outbox_url, **settings)
    with process:
        await create(kube, ns, pool_manifest(pool))
        await create(kube, ns, with_alerts("pooled", ALERTS))
        await ready_pool(kube, ns, pool)
        stream = await t.wait_condition(kube, ns, "pooled", "Ready", "True", within=30)
        assert stream["status"]["pool"] == pool and not stream["status"].get("children")
        assert not (stream["metadata"].get("finalizers") or [])  # no loop of its own: kopf never took it
        await alerts_ready(kube, ns, "pooled", "False", "SecretMissing")
        await t.create_secret(kube, ns, "stream-alerts", {"discord-url": "https://x", "webhook-key": "k"})
        await alerts_ready(kube, ns, "pooled", "True", "Configured")
        assert (await rows(outbox))["pooled"].origin == f"resource:{ns}/pooled"
    print(f"--- operator log ---\n{process.log()[-10000:]}")
