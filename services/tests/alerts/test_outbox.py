"""The outbox on real SQLite and PostgreSQL: idempotent offers, claims with leases, settling, growth, rate
limits and quiet hours, dead letters and the delivery log. Time is passed in, so every schedule is exact."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from telemetra.dev.testing.alerts import T0, grown, make_moment, webhook_config
from telemetra.records import Moment
from telemetra.services.alerts.outbox import Delivery, Offer, Outbox, Settlement, StoredConfig, open_outbox
from telemetra.services.alerts.rules import AlertConfig, Destination, Target

HOOK = Destination.model_validate(
    {"name": "hook", "type": "webhook", "url": "https://x.example/h", "signingSecretFrom": {"env": "K"}}
)
SLACK = Destination.model_validate({"name": "team", "type": "slack", "urlFrom": {"env": "SLACK_URL"}})
LEASE = 60.0


@pytest.fixture(params=["sqlite", "postgres"])
async def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Outbox]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'alerts.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database(f"alerts_{uuid.uuid4().hex[:8]}")
    box = open_outbox(url)
    await box.start()
    await box.start()  # starting twice is harmless
    try:
        yield box
    finally:
        await box.close()


def offer(moment: Moment, destination: Destination = HOOK, quiet: bool = False) -> Offer:
    return Offer(moment, Target(destination, quiet))


def settled(d: Delivery, outcome: str, at: float, **fields: Any) -> Settlement:
    return Settlement(d, outcome, at, 0.01, **fields)  # type: ignore[arg-type]


async def test_offers_are_idempotent_and_claims_lease_each_row_once(outbox: Outbox) -> None:
    m = make_moment()
    first = await outbox.offer([offer(m), offer(m, SLACK)], T0)
    again = await outbox.offer([offer(m), offer(m, SLACK)], T0 + 1)
    assert (first.queued, first.existing, again.queued, again.existing) == (2, 0, 0, 2)

    claimed = await outbox.claim("a", 10, T0 + 1, LEASE)
    assert sorted(d.key for d in claimed) == [(m.moment_id, "hook"), (m.moment_id, "team")]
    assert all(d.revision == 1 and d.sent_revision == 0 and d.attempts == 0 for d in claimed)
    assert claimed[0].moment == m and {d.destination for d in claimed} == {HOOK, SLACK}
    assert await outbox.claim("b", 10, T0 + 2, LEASE) == []  # leased

    assert await outbox.settle([settled(d, "delivered", T0 + 2, status=200) for d in claimed]) == 2
    assert await outbox.claim("b", 10, T0 + 3, LEASE) == []
    assert (await outbox.counts())["delivered"] == 2
    log = await outbox.attempts(m.moment_id, "hook")
    assert [(a.attempt, a.outcome, a.status, a.revision) for a in log] == [(1, "delivered", 200, 1)]


async def test_a_moment_that_grows_updates_editable_destinations_only(outbox: Outbox) -> None:
    m = make_moment()
    await outbox.offer([offer(m), offer(m, SLACK)], T0)
    claimed = await outbox.claim("a", 10, T0, LEASE)
    await outbox.settle([settled(d, "delivered", T0, remote_id="9001") for d in claimed])

    same_peak = await outbox.offer([offer(m), offer(m, SLACK)], T0 + 5)  # re-emitted, not grown
    assert same_peak.existing == 2 and await outbox.claim("a", 10, T0 + 5, LEASE) == []

    bigger = grown(m)
    await outbox.offer([offer(bigger), offer(bigger, SLACK)], T0 + 10)
    [update] = await outbox.claim("a", 10, T0 + 10, LEASE)  # Slack cannot edit: not sent again
    assert update.key == (m.moment_id, "hook")
    assert (update.revision, update.sent_revision, update.remote_id) == (2, 1, "9001")
    assert update.moment == bigger
    await outbox.settle([settled(update, "delivered", T0 + 11)])
    rows = {r.destination: r for r in await outbox.deliveries()}
    assert (rows["hook"].state, rows["hook"].sent_revision, rows["hook"].remote_id) == (
        "delivered",
        2,
        "9001",
    )
    assert (rows["team"].state, rows["team"].revision) == ("delivered", 1)

    # An older version arriving late (a replay) changes nothing.
    await outbox.offer([offer(m)], T0 + 20)
    assert await outbox.claim("a", 10, T0 + 20, LEASE) == []


async def test_growth_while_sending_sends_the_newer_revision_next(outbox: Outbox) -> None:
    m = make_moment()
    await outbox.offer([offer(m), offer(m, SLACK)], T0)
    in_flight = await outbox.claim("a", 10, T0, LEASE)
    await outbox.offer([offer(grown(m)), offer(grown(m), SLACK)], T0 + 1)  # grows during the send
    await outbox.settle([settled(d, "delivered", T0 + 2) for d in in_flight])
    [next_one] = await outbox.claim("a", 10, T0 + 2, LEASE)
    assert next_one.key == (m.moment_id, "hook") and (next_one.revision, next_one.sent_revision) == (2, 1)
    # An unsent row that grows sends only its newest version.
    other = make_moment(2)
    await outbox.offer([offer(other)], T0)
    await outbox.offer([offer(grown(other, 10)), offer(grown(other, 20, 30.0))], T0 + 1)
    [latest] = [
        d for d in await outbox.claim("a", 10, T0 + 2, LEASE) if d.moment.moment_id == other.moment_id
    ]
    assert latest.moment.value == 30.0 and latest.sent_revision == 0


async def test_retries_wait_for_their_time_dead_letters_wait_for_a_requeue(outbox: Outbox) -> None:
    m = make_moment()
    await outbox.offer([offer(m)], T0)
    [d] = await outbox.claim("a", 1, T0, LEASE)
    await outbox.settle([settled(d, "retry", T0, error="ConnectError", retry_at=T0 + 5)])
    assert await outbox.claim("a", 1, T0 + 4.9, LEASE) == []
    [d] = await outbox.claim("a", 1, T0 + 5, LEASE)
    assert d.attempts == 1
    await outbox.settle([settled(d, "dead", T0 + 5, status=404, error="HTTP 404: no such webhook")])
    assert await outbox.claim("a", 1, T0 + 100, LEASE) == []
    [row] = await outbox.deliveries(state="dead")
    assert (row.reason, row.attempts) == ("HTTP 404: no such webhook", 2)
    assert [(a.attempt, a.outcome) for a in await outbox.attempts(m.moment_id, "hook")] == [
        (1, "retry"),
        (2, "dead"),
    ]
    await outbox.offer([offer(grown(m))], T0 + 101)  # growth does not revive a dead letter
    assert await outbox.claim("a", 1, T0 + 101, LEASE) == []
    assert await outbox.requeue(m.moment_id, "hook", T0 + 102)
    assert not await outbox.requeue(m.moment_id, "hook", T0 + 102)
    [d] = await outbox.claim("a", 1, T0 + 102, LEASE)
    assert d.attempts == 0 and d.moment.value == 20.0


async def test_an_expired_lease_passes_the_row_on_and_the_old_claim_no_longer_counts(outbox: Outbox) -> None:
    await outbox.offer([offer(make_moment())], T0)
    [stale] = await outbox.claim("a", 1, T0, LEASE)
    assert await outbox.claim("b", 1, T0 + LEASE - 1, LEASE) == []
    [fresh] = await outbox.claim("b", 1, T0 + LEASE, LEASE)
    assert await outbox.settle([settled(stale, "delivered", T0 + LEASE + 1)]) == 0  # logged, not applied
    [row] = await outbox.deliveries()
    assert row.state == "pending"
    assert await outbox.settle([settled(fresh, "delivered", T0 + LEASE + 1)]) == 1
    assert len(await outbox.attempts(fresh.moment.moment_id, "hook")) == 2


async def test_rate_limits_and_quiet_hours_suppress_new_alerts(outbox: Outbox) -> None:
    limited = Destination.model_validate(HOOK.model_dump() | {"rate_limit": {"max": 2, "per_seconds": 600}})
    moments = [make_moment(n, at=T0 + n) for n in range(4)]
    result = await outbox.offer([offer(m, limited) for m in moments[:3]], T0)
    assert (result.queued, result.suppressed) == (2, 1)
    quiet = await outbox.offer([offer(make_moment(9), SLACK, quiet=True)], T0)
    assert quiet.suppressed == 1
    reasons = sorted((r.reason or "") for r in await outbox.deliveries(state="suppressed"))
    assert reasons == ["quiet hours", "rate limit"]
    # Growth of a suppressed alert is not an alert; a new window is.
    await outbox.offer([offer(grown(moments[2]), limited)], T0 + 10)
    assert len(await outbox.claim("a", 10, T0 + 10, LEASE)) == 2
    later = await outbox.offer([offer(moments[3], limited)], T0 + 601)
    assert later.queued == 1
    # Two leased and one new: pending until settled.
    assert await outbox.counts() == {"pending": 3, "delivered": 0, "dead": 0, "suppressed": 2}


async def test_replicas_claiming_at_once_never_share_a_row(outbox: Outbox) -> None:
    moments = [make_moment(n, stream=f"s{n % 7}") for n in range(300)]
    await outbox.offer([offer(m) for m in moments], T0)

    async def replica(name: str) -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        while batch := await outbox.claim(name, 7, T0 + 1, LEASE):
            keys += [d.key for d in batch]
            await asyncio.sleep(0)
        return keys

    claimed = await asyncio.gather(*(replica(f"r{i}") for i in range(4)))
    every = [key for keys in claimed for key in keys]
    assert len(every) == len(set(every)) == 300


async def test_stream_configs_are_stored_upserted_and_deleted(outbox: Outbox) -> None:
    assert await outbox.configs() == {}
    hook = webhook_config("https://x.example/h")
    discord = AlertConfig.model_validate({
        "destinations": [{"name": "mods", "type": "discord", "urlFrom": {"name": "alerts", "key": "url"}}],
        "rules": [{"name": "raids", "kinds": ["raid"], "quietHours": ["22:00-07:00"], "destinations": ["mods"]}],
    }).in_namespace("team-a")  # fmt: skip
    await outbox.set_config("alpha", hook, "file", T0)
    await outbox.set_config("beta", discord, "resource:team-a/beta", T0 + 1.5)
    assert await outbox.configs() == {
        "alpha": StoredConfig("alpha", hook, "file", T0),
        "beta": StoredConfig("beta", discord, "resource:team-a/beta", T0 + 1.5),
    }
    stored = (await outbox.configs())["beta"]
    assert stored.resource == "team-a/beta" and stored.config.secret_refs()[0].namespace == "team-a"
    assert (await outbox.configs())["alpha"].resource is None
    assert await outbox.config_stamps() == {"alpha": T0, "beta": T0 + 1.5}
    assert set(await outbox.configs(["beta", "unknown"])) == {"beta"} and await outbox.configs([]) == {}

    await outbox.set_config("alpha", discord, "api", T0 + 2)  # upsert: config, origin and time replaced
    await outbox.set_config("beta", None, "api", T0 + 3)  # None deletes
    await outbox.set_config("gamma", None, "api", T0 + 3)  # deleting nothing is fine
    assert await outbox.configs() == {"alpha": StoredConfig("alpha", discord, "api", T0 + 2)}


async def test_the_delivery_log_pages_by_keyset(outbox: Outbox) -> None:
    # Seven rows over three update times (ties included), two streams.
    for n in range(7):
        m = make_moment(n, stream="alpha" if n % 2 else "beta")
        await outbox.offer([offer(m)], T0 + n // 3 + 0.123)
    everything = await outbox.deliveries(limit=100)
    assert len(everything) == 7
    assert [r.updated_at for r in everything] == sorted((r.updated_at for r in everything), reverse=True)
    pages, after = [], None
    while page := await outbox.deliveries(limit=3, after=after):
        pages.append(page)
        after = page[-1].position
    assert [len(p) for p in pages] == [3, 3, 1] and [r for p in pages for r in p] == everything
    alpha = await outbox.deliveries(stream_id="alpha", limit=2)
    rest = await outbox.deliveries(stream_id="alpha", limit=10, after=alpha[-1].position)
    assert [r.moment_id for r in alpha + rest] == [r.moment_id for r in everything if r.stream_id == "alpha"]
    assert await outbox.deliveries(state="dead") == []
    assert await outbox.delivery(everything[0].moment_id, "hook") == everything[0]
    assert await outbox.delivery(everything[0].moment_id, "team") is None
