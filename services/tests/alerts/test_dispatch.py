"""The dispatcher against a real HTTP receiver on 127.0.0.1: signed deliveries arrive once each, also when the
receiver was down; Discord messages are edited in place; failures end as dead letters; secrets stay out of
logs and of the delivery log; replicas sharing a PostgreSQL outbox never send a row twice."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from telemetra.dev.testing.alerts import configure, grown, make_moment, webhook_config
from telemetra.dev.testing.receiver import Receiver
from telemetra.records import Moment, format_ts
from telemetra.services.alerts import AlertConfig, AlertIntake, AlertSettings, Dispatcher, SecretResolver
from telemetra.services.alerts.outbox import Outbox, open_outbox
from telemetra.services.alerts.payloads import verify

KEY = "whsec_dispatch_0123456789abcdef"
TOKEN = "SuPeRsEcReT-webhook-token-0123456789abcdefABCDEF"
FAST = AlertSettings(
    outbox_url="sqlite:///unused", poll_s=0.05, backoff_base_s=0.1, backoff_cap_s=0.4, request_timeout_s=2,
    lease_s=10, max_attempts=50,
)  # fmt: skip


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()  # not started: a test starts it when it wants it up
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    box = open_outbox(f"sqlite:///{tmp_path / 'alerts.db'}")
    await box.start()
    try:
        yield box
    finally:
        await box.close()


def fresh(n: int, **fields: object) -> Moment:
    """A moment detected just now (intake ignores old news)."""
    return make_moment(n, at=time.time(), **fields)  # type: ignore[arg-type]


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(20):
        while not condition():  # noqa: ASYNC110 - polling the receiver (another thread) is the point
            await asyncio.sleep(0.02)


async def test_receiver_down_then_up_each_alert_arrives_once_signed(
    receiver: Receiver, outbox: Outbox
) -> None:
    secrets = SecretResolver(environ={"HOOK_KEY": KEY})
    dispatcher = Dispatcher(outbox, secrets, FAST, rng=random.Random(3))
    intake = AlertIntake(outbox, on_queued=dispatcher.wake)
    await configure(intake, "alpha", webhook_config(receiver.url + "/hook"))
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    try:
        moments = [fresh(n) for n in range(5)]
        assert (await intake.moments(moments)).queued == 5
        await asyncio.sleep(1.5)  # the receiver is down: every attempt fails and is retried
        assert dispatcher.stats.retried >= 5 and dispatcher.stats.delivered == 0
        receiver.start()
        await until(lambda: len(receiver.received("/hook")) >= 5)
        await asyncio.sleep(1.0)  # room for any duplicate to show up
    finally:
        stop.set()
        await running
        await dispatcher.close()
    arrived = receiver.received("/hook")
    keys = Counter(r.headers["Idempotency-Key"] for r in arrived)
    assert keys == Counter({m.moment_id: 1 for m in moments})
    for request in arrived:
        verify(KEY, request.body, request.headers, now=time.time())
        assert request.json()["type"] == "moment.detected"
    rows = await outbox.deliveries()
    assert {r.state for r in rows} == {"delivered"}
    log = await outbox.attempts(moments[0].moment_id, "hook")
    assert log[-1].outcome == "delivered" and all(a.outcome == "retry" for a in log[:-1]) and len(log) >= 2
    assert all(a.error and a.error.startswith("ConnectError") for a in log[:-1])


async def test_discord_message_is_edited_when_the_moment_grows(receiver: Receiver, outbox: Outbox) -> None:
    receiver.start()
    url = f"{receiver.url}/api/webhooks/123456789/{TOKEN}"
    config = AlertConfig.model_validate(
        {
            "destinations": [{"name": "mods", "type": "discord", "urlFrom": {"env": "DISCORD_URL"}}],
            "rules": [{"name": "all", "destinations": ["mods"]}],
        }
    )
    dispatcher = Dispatcher(outbox, SecretResolver(environ={"DISCORD_URL": url}), FAST)
    intake = AlertIntake(outbox)
    await configure(intake, "alpha", config)
    moment = fresh(1)
    await intake.moments([moment])
    await dispatcher.drain()
    await intake.moments([moment])  # the same version again: nothing to send
    await intake.moments([grown(moment)])
    await dispatcher.drain()
    await dispatcher.close()
    first, edit = receiver.received("/api/webhooks/")
    assert first.method == "POST" and first.path.endswith("?wait=true")
    assert edit.method == "PATCH" and edit.path.startswith(
        f"/api/webhooks/123456789/{TOKEN}/messages/1234567890"
    )
    assert edit.json()["embeds"][0]["fields"][0]["value"] == "20.00"
    [row] = await outbox.deliveries()
    assert (row.state, row.revision, row.sent_revision, row.remote_id) == (
        "delivered",
        2,
        2,
        "1234567890000000001",
    )


async def test_failures_end_as_dead_letters(receiver: Receiver, outbox: Outbox) -> None:
    receiver.start()
    settings = AlertSettings(
        **(FAST.model_dump() | {"max_attempts": 3, "backoff_base_s": 0.01, "backoff_cap_s": 0.02})
    )
    dispatcher = Dispatcher(outbox, SecretResolver(environ={"HOOK_KEY": KEY}), settings)
    intake = AlertIntake(outbox)
    await configure(intake, "alpha", webhook_config(receiver.url + "/hook"))
    receiver.status = 503
    await intake.moments([fresh(1)])
    async with asyncio.timeout(10):
        while (await outbox.counts())["dead"] == 0:
            await dispatcher.drain()
            await asyncio.sleep(0.02)
    receiver.status = 404  # permanent: dead at the first attempt
    await intake.moments([fresh(2)])
    await dispatcher.drain()
    await dispatcher.close()
    dead = {r.moment_id: r for r in await outbox.deliveries(state="dead")}
    assert dead[fresh(1).moment_id].reason == "HTTP 503 (gave up after 3 attempts)"
    assert dead[fresh(1).moment_id].attempts == 3
    assert dead[fresh(2).moment_id].reason == "HTTP 404: no such webhook (or message)"
    assert dead[fresh(2).moment_id].attempts == 1
    assert len(receiver.received("/hook")) == 4


async def test_secrets_never_reach_logs_or_the_delivery_log(
    receiver: Receiver, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"{receiver.url}/api/webhooks/1/{TOKEN}"  # the receiver is down
    config = AlertConfig.model_validate(
        {
            "destinations": [
                {"name": "mods", "type": "discord", "urlFrom": {"env": "DISCORD_URL"}},
                {"name": "gone", "type": "slack", "urlFrom": {"name": "alerts", "key": "slack-url"}},
            ],
            "rules": [{"name": "all", "destinations": ["mods", "gone"]}],
        }
    )
    dispatcher = Dispatcher(outbox, SecretResolver(environ={"DISCORD_URL": url}), FAST)
    intake = AlertIntake(outbox)
    await configure(intake, "alpha", config)
    await intake.moments([fresh(1)])
    await dispatcher.drain()
    await dispatcher.close()
    rows = {r.destination: r for r in await outbox.deliveries()}
    assert rows["gone"].reason == "secret alerts/slack-url: no secrets directory is configured"
    assert rows["mods"].reason is not None and rows["mods"].reason.startswith("ConnectError")
    errors = [a.error or "" for r in rows.values() for a in await outbox.attempts(r.moment_id, r.destination)]
    assert errors and not any(TOKEN in e for e in errors)
    assert TOKEN not in caplog.text and KEY not in caplog.text
    assert "will retry" in caplog.text


async def test_secrets_from_mounted_files(receiver: Receiver, outbox: Outbox, tmp_path: Path) -> None:
    receiver.start()
    (tmp_path / "secrets" / "alerts").mkdir(parents=True)
    (tmp_path / "secrets" / "alerts" / "hook-key").write_text(KEY + "\n")
    config = AlertConfig.model_validate({
        "destinations": [{"name": "hook", "type": "webhook", "url": receiver.url + "/hook",
                          "signingSecretFrom": {"name": "alerts", "key": "hook-key"}}],
        "rules": [{"name": "all", "destinations": ["hook"]}],
    })  # fmt: skip
    dispatcher = Dispatcher(outbox, SecretResolver(tmp_path / "secrets", environ={}), FAST)
    intake = AlertIntake(outbox)
    await configure(intake, "alpha", config)
    await intake.moments([fresh(1)])
    await dispatcher.drain()
    await dispatcher.close()
    [request] = receiver.received("/hook")
    verify(KEY, request.body, request.headers, now=time.time())


async def test_old_moments_and_unconfigured_streams_do_not_alert(outbox: Outbox) -> None:
    intake = AlertIntake(outbox, max_age_s=900)
    await configure(intake, "alpha", webhook_config("http://127.0.0.1:9/hook"))
    now = time.time()
    old = make_moment(1, at=now - 901)
    other_stream = make_moment(2, stream="beta", at=now)
    assert intake.offers([old, other_stream], now) == []
    assert len(intake.offers([make_moment(3, at=now - 10)], now)) == 1
    await configure(intake, "alpha", None)
    assert intake.offers([make_moment(3, at=now)], now) == []
    assert format_ts(now)  # (the builder's time format)


async def test_replicas_on_postgres_send_each_alert_once(
    receiver: Receiver, request: pytest.FixtureRequest
) -> None:
    receiver.delay_s = 0.02  # each replica (4 sends in flight) needs ≥ 1 s for all 200: the others claim some
    receiver.start()
    url = request.getfixturevalue("postgres_server").create_database(f"alerts_{uuid.uuid4().hex[:8]}")
    outboxes = [open_outbox(url) for _ in range(3)]
    for box in outboxes:
        await box.start()
    secrets = SecretResolver(environ={"HOOK_KEY": KEY})
    settings = FAST.model_copy(update={"concurrency": 4})
    dispatchers = [Dispatcher(box, secrets, settings, owner=f"replica-{i}") for i, box in enumerate(outboxes)]
    intake = AlertIntake(outboxes[0])
    for s in range(10):
        await configure(intake, f"s{s}", webhook_config(receiver.url + f"/hook/{s}"))
    stop = asyncio.Event()
    runs = [asyncio.create_task(d.run(stop)) for d in dispatchers]
    try:
        moments = [fresh(n, stream=f"s{n % 10}") for n in range(200)]
        for i in range(0, 200, 20):
            await intake.moments(moments[i : i + 20])
            await asyncio.sleep(0.01)
        await until(lambda: len(receiver.received("/hook")) >= 200)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(*runs)
        for d in dispatchers:
            await d.close()
    keys = Counter(r.headers["Idempotency-Key"] for r in receiver.received("/hook"))
    assert len(keys) == 200 and set(keys.values()) == {1}
    assert sum(d.stats.delivered for d in dispatchers) == 200
    assert sum(1 for d in dispatchers if d.stats.delivered) >= 2  # the work was shared
    assert (await outboxes[0].counts())["delivered"] == 200
    for box in outboxes:
        await box.close()
