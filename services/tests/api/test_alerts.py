"""The alerts admin API over the real stores (SQLite and PostgreSQL; the outbox in the store's database): a stream's
alert config set, read and removed (and picked up by an intake within its refresh), invalid configs refused
naming the field and never the value, configs a TelemetraStream manages refused with 409, and the delivery log
paged, inspected and requeued."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from telemetra.dev.testing.alerts import T0, make_moment
from telemetra.dev.testing.services import ADMIN_TOKEN, READ_TOKEN, WRITE_TOKEN
from telemetra.services.alerts import AlertConfig, AlertIntake
from telemetra.services.alerts.outbox import Offer, Outbox, Settlement, open_outbox
from telemetra.services.alerts.rules import Target
from telemetra.services.api.schemas import DeliveriesPage, DeliveryAttempts, DeliveryOut, StreamAlerts

DISCORD_TOKEN = "s3cr3t-t0ken-abcdefghijklmnopqrstuvwxyz0123"
CONFIG: dict[str, Any] = {
    "destinations": [
        {"name": "mods", "type": "discord", "urlFrom": {"name": "stream-alerts", "key": "discord-url"},
         "rateLimit": {"max": 10, "perSeconds": 3600}},
        {"name": "editors", "type": "webhook", "url": "https://editors.example.com/hooks/telemetra",
         "signingSecretFrom": {"env": "EDITORS_KEY"}},
    ],
    "rules": [{"name": "big-moments", "kinds": ["chat_spike", "raid"], "minScore": 0.5,
               "quietHours": ["03:00-09:00"], "destinations": ["mods", "editors"]}],
}  # fmt: skip
PATH = "/api/v1/admin/streams/alpha/alerts"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, make_api: Any) -> Any:
    return make_api(store=request.param)


def admin(api: Any) -> httpx.Client:
    client: httpx.Client = api.client(headers=bearer(ADMIN_TOKEN))
    return client


def outbox_of(api: Any) -> Outbox:
    box: Outbox = api.server.state.outbox
    return box


async def picked_up(url: str, stream_id: str, expected: AlertConfig | None) -> float:
    """How long an intake of another process (its own outbox on the same database) takes to see the change."""
    outbox = open_outbox(url)
    await outbox.start()
    intake = AlertIntake(outbox, refresh_s=0.1)
    started = time.monotonic()
    await intake.start()
    try:
        async with asyncio.timeout(5):
            while intake.config(stream_id) != expected:  # noqa: ASYNC110 - the refresh runs in the background
                await asyncio.sleep(0.02)
    finally:
        await intake.close()
        await outbox.close()
    return time.monotonic() - started


def test_a_streams_alert_config_is_set_read_and_removed_by_admins(api: Any) -> None:
    with api.client() as client:
        assert client.put(PATH, json=CONFIG).status_code == 401
        assert client.put(PATH, json=CONFIG, headers=bearer(WRITE_TOKEN)).status_code == 403
        assert client.get(PATH, headers=bearer(READ_TOKEN)).status_code == 403
    with admin(api) as client:
        missing = client.get(PATH)
        put = client.put(PATH, json=CONFIG)
        got = client.get(PATH)
    assert missing.status_code == 404 and missing.json()["detail"] == "no alert config for this stream"
    assert put.status_code == 200 and got.status_code == 200 and got.json() == put.json()
    body = StreamAlerts.model_validate(got.json())
    assert (body.stream_id, body.origin) == ("alpha", "api")
    assert abs(body.updated_at.timestamp() - time.time()) < 60
    assert got.json()["config"] == CONFIG  # the CR's camelCase, as sent
    assert asyncio.run(picked_up(api.settings.store_url, "alpha", AlertConfig.model_validate(CONFIG))) < 5

    with admin(api) as client:
        deleted = client.delete(PATH)
        gone = client.get(PATH)
        again = client.delete(PATH)
    assert deleted.status_code == 204 and deleted.content == b""
    assert gone.status_code == 404 and again.status_code == 404
    assert asyncio.run(picked_up(api.settings.store_url, "alpha", None)) < 5


@pytest.mark.parametrize(
    ("change", "loc", "message"),
    [
        ({"destinations": [{"name": "mods", "type": "discord", "url": f"https://discord.com/api/webhooks/1/{DISCORD_TOKEN}"}],
          "rules": []}, ["body", "destinations", 0], "never inline"),
        ({"rules": [{"name": "r", "destinations": ["nowhere"]}]}, ["body"], "unknown destination(s) nowhere"),
        ({"rules": [{"name": "r", "quietHours": ["25:00-26:00"], "destinations": ["mods"]}]},
         ["body", "rules", 0, "quietHours"], "use HH:MM-HH:MM"),
        ({"rules": [{"name": "r", "destinations": ["mods"], "colour": "red"}]}, ["body", "rules", 0, "colour"],
         "Extra inputs"),
        ({"destinations": [{"name": "mods", "type": "discord",
                            "urlFrom": {"name": "stream-alerts", "key": "url", "namespace": "kube-system"}}],
          "rules": []}, ["body", "destinations", 0, "urlFrom", "namespace"], "namespace"),
    ],
)  # fmt: skip
def test_an_invalid_config_names_the_field_never_the_value(
    make_api: Any, change: dict[str, Any], loc: list[Any], message: str
) -> None:
    api = make_api()
    with admin(api) as client:
        answer = client.put(PATH, json=CONFIG | change)
        assert client.get(PATH).status_code == 404  # nothing stored
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == loc and message in error["msg"], error
    assert DISCORD_TOKEN not in answer.text and "input" not in error


def test_configs_a_telemetrastream_manages_are_read_only_here(api: Any) -> None:
    config = AlertConfig.model_validate(CONFIG).in_namespace("team-a")
    api.server.run(outbox_of(api).set_config("alpha", config, "resource:team-a/alpha", T0))
    with admin(api) as client:
        got = client.get(PATH)
        put = client.put(PATH, json=CONFIG)
        deleted = client.delete(PATH)
        after = client.get(PATH)
    assert got.status_code == 200 and got.json()["origin"] == "resource:team-a/alpha"
    assert got.json()["config"] == CONFIG  # as spec.alerts has it: the namespace is the operator's addition
    assert got.json()["updated_at"] == "2026-09-21T14:13:20.000Z"
    reason = "managed by TelemetraStream team-a/alpha: edit spec.alerts"
    assert put.status_code == 409 and put.json()["detail"] == reason
    assert deleted.status_code == 409 and deleted.json()["detail"] == reason
    assert after.json() == got.json()  # unchanged
    stored = api.server.run(outbox_of(api).configs())["alpha"]
    assert stored.config == config and stored.config.secret_refs()[0].namespace == "team-a"


def test_the_delivery_log_pages_shows_attempts_and_requeues_dead_alerts(api: Any) -> None:
    hook = AlertConfig.model_validate(CONFIG).destinations[1]
    outbox = outbox_of(api)
    now = time.time()

    async def history() -> None:
        moments = [make_moment(n, stream="alpha" if n < 5 else "beta", at=now) for n in range(7)]
        for i, moment in enumerate(moments):
            await outbox.offer([Offer(moment, Target(hook, False))], now + i)
        [first] = await outbox.claim("test", 1, now + 10, 60)  # the oldest: m0000-alpha
        failed = Settlement(first, "retry", now + 11, 0.2, 503, "HTTP 503", retry_at=now - 1)  # due first
        await outbox.settle([failed])
        [again] = await outbox.claim("test", 1, now + 12, 60)
        await outbox.settle([Settlement(again, "dead", now + 13, 0.1, 410, "HTTP 410: gone")])

    api.server.run(history())
    base = "/api/v1/admin/alerts/deliveries"
    with admin(api) as client:
        pages, params = [], {"limit": 3}
        while True:
            page = client.get(base, params=params)
            assert page.status_code == 200, page.text
            pages.append(DeliveriesPage.model_validate(page.json()))
            if pages[-1].next_cursor is None:
                break
            params = {"limit": 3, "cursor": pages[-1].next_cursor}
        alpha = client.get(base, params={"stream_id": "alpha"}).json()["items"]
        dead = client.get(base, params={"state": "dead"}).json()["items"]
        attempts = client.get(f"{base}/m0000-alpha/editors/attempts")
        unknown = client.get(f"{base}/m0000-alpha/mods/attempts")
        requeued = client.post(f"{base}/m0000-alpha/editors/requeue")
        twice = client.post(f"{base}/m0000-alpha/editors/requeue")
        bad_cursor = client.get(base, params={"cursor": "bm90LWEtY3Vyc29y"})
        too_many = client.get(base, params={"limit": 501})
        with api.client() as anonymous:
            assert anonymous.get(base).status_code == 401
    items = [item for page in pages for item in page.items]
    assert [len(page.items) for page in pages] == [3, 3, 1]
    assert items[0].moment_id == "m0000-alpha" and items[0].state == "dead"  # the most recently updated
    assert sorted(i.moment_id for i in items) == [
        f"m{n:04d}-{'alpha' if n < 5 else 'beta'}" for n in range(7)
    ]
    assert [i["moment_id"] for i in alpha] == [i.moment_id for i in items if i.stream_id == "alpha"]
    assert [(i["moment_id"], i["reason"], i["attempts"]) for i in dead] == [
        ("m0000-alpha", "HTTP 410: gone", 2)
    ]

    assert attempts.status_code == 200
    log = DeliveryAttempts.model_validate(attempts.json())
    assert log.delivery.state == "dead"
    assert [(a.attempt, a.outcome, a.status, a.error) for a in log.attempts] == [
        (1, "retry", 503, "HTTP 503"),
        (2, "dead", 410, "HTTP 410: gone"),
    ]
    assert unknown.status_code == 404 and unknown.json()["detail"] == "no such delivery"
    assert requeued.status_code == 202
    row = DeliveryOut.model_validate(requeued.json())
    assert (row.state, row.attempts, row.reason) == ("pending", 0, None)
    assert twice.status_code == 404 and twice.json()["detail"] == "no dead alert with that key"
    assert bad_cursor.status_code == 422 and bad_cursor.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["query", "limit"]
