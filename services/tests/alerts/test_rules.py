"""Alert rules (pure): validation with clear errors, quiet hours, kinds, minimum score, one target per
destination."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from telemetra.dev.testing.alerts import make_moment
from telemetra.services.alerts.outbox import backoff
from telemetra.services.alerts.rules import AlertConfig, QuietRange, SecretRef

DISCORD_URL = "https://discord.com/api/webhooks/123456789012345678/s3cr3t-t0ken-abcdefghijklmnopqrstuvwxyz"


def at(hhmm: str) -> float:
    hour, minute = map(int, hhmm.split(":"))
    return datetime(2026, 9, 21, hour, minute, tzinfo=UTC).timestamp()


def config(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "destinations": [
            {"name": "mods", "type": "discord", "urlFrom": {"name": "stream-alerts", "key": "discord-url"}},
            {"name": "editors", "type": "webhook", "url": "https://editors.example.com/hook",
             "signingSecretFrom": {"env": "EDITORS_KEY"}, "rateLimit": {"max": 5, "perSeconds": 600}},
            {"name": "team", "type": "slack", "urlFrom": {"env": "SLACK_URL"}},
        ],
        "rules": [{"name": "all", "destinations": ["mods", "editors", "team"]}],
    }  # fmt: skip
    return data | overrides


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        AlertConfig.model_validate(data)
    return str(caught.value)


def test_a_cr_shaped_config_validates() -> None:
    parsed = AlertConfig.model_validate(config())
    assert [d.type for d in parsed.destinations] == ["discord", "webhook", "slack"]
    editors = parsed.destinations[1]
    assert editors.rate_limit is not None and editors.rate_limit.per_seconds == 600
    assert [d.editable for d in parsed.destinations] == [True, True, False]
    # Round trip through the CR's spelling.
    again = AlertConfig.model_validate(parsed.model_dump(by_alias=True, exclude_none=True))
    assert again == parsed


@pytest.mark.parametrize("kind", ["discord", "slack"])
def test_an_inline_discord_or_slack_url_is_refused_without_echoing_it(kind: str) -> None:
    destination = {"name": "x", "type": kind, "url": DISCORD_URL}
    message = error_of(config(destinations=[destination], rules=[]))
    assert "carries its token" in message and "urlFrom" in message
    assert "s3cr3t" not in message


def test_webhook_needs_a_signing_key_and_a_url() -> None:
    assert "signingSecretFrom" in error_of(
        config(destinations=[{"name": "h", "type": "webhook", "url": "https://x.example/h"}], rules=[])
    )
    assert "exactly one of url and urlFrom" in error_of(
        config(destinations=[{"name": "h", "type": "webhook", "signingSecretFrom": {"env": "K"}}], rules=[])
    )


def test_credentials_in_a_webhook_url_are_refused_without_echoing_them() -> None:
    destination = {"name": "h", "type": "webhook", "url": "https://user:hunter2@x.example/h",
                   "signingSecretFrom": {"env": "K"}}  # fmt: skip
    message = error_of(config(destinations=[destination], rules=[]))
    assert "credentials in the URL" in message and "hunter2" not in message
    bad_scheme = {**destination, "url": "ftp://x.example/h"}
    assert "http:// or https://" in error_of(config(destinations=[bad_scheme], rules=[]))


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ({"name": "s", "key": "k", "env": "E"}, "not both"),
        ({"name": "s"}, "needs both name and key"),
        ({}, "needs a Secret"),
        ({"env": "1BAD"}, "should match pattern"),
    ],
)
def test_secret_references(ref: dict[str, str], expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        SecretRef.model_validate(ref)
    assert SecretRef(name="alerts", key="url").describe() == "secret alerts/url"


def test_secret_references_take_the_streams_namespace_hidden_from_the_schema() -> None:
    original = AlertConfig.model_validate(config())
    scoped = original.in_namespace("team-a")
    assert [ref.namespace for ref in scoped.secret_refs()] == ["team-a", None, None]  # env refs unchanged
    assert [ref.describe() for ref in scoped.secret_refs()] == [
        "secret team-a/stream-alerts/discord-url",
        "env EDITORS_KEY",
        "env SLACK_URL",
    ]
    assert all(ref.namespace is None for ref in original.secret_refs())  # a copy
    # Stored and read back as JSON (the outbox's alert_configs), the namespace survives.
    assert AlertConfig.model_validate_json(scoped.model_dump_json(by_alias=True, exclude_none=True)) == scoped
    # A CR cannot set it: the schema (the CRD's) does not know the field.
    ref_schema = AlertConfig.model_json_schema(by_alias=True)["$defs"]["SecretRef"]
    assert set(ref_schema["properties"]) == {"name", "key", "env"}
    with pytest.raises(ValidationError, match="Secret reference only"):
        SecretRef.model_validate({"env": "E", "namespace": "team-a"})
    with pytest.raises(ValidationError, match="should match pattern"):
        SecretRef.model_validate({"name": "s", "key": "k", "namespace": "Team_A"})


def test_references_between_rules_and_destinations() -> None:
    assert "unknown destination(s) nowhere" in error_of(
        config(rules=[{"name": "r", "destinations": ["nowhere"]}])
    )
    assert "destination names must be unique: mods" in error_of(
        config(destinations=[*config()["destinations"], config()["destinations"][0]])
    )
    assert "unknown moment kind(s) hype" in error_of(
        config(rules=[{"name": "r", "kinds": ["hype"], "destinations": ["mods"]}])
    )
    misspelt = error_of(config(rules=[{"name": "r", "destinations": ["mods"], "minscore": 1}]))
    assert "minscore" in misspelt and "Extra inputs are not permitted" in misspelt


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("22:00-07:00", ["22:00", "23:59", "00:00", "06:59"], ["07:00", "12:00", "21:59"]),
        ("09:30-10:00", ["09:30", "09:59"], ["09:29", "10:00"]),
        ("00:00-24:00", ["00:00", "12:00", "23:59"], []),
    ],
)
def test_quiet_hours_are_utc_ranges_that_may_wrap(text: str, inside: list[str], outside: list[str]) -> None:
    quiet = QuietRange.parse(text)
    assert all(quiet.covers(at(t)) for t in inside)
    assert not any(quiet.covers(at(t)) for t in outside)


@pytest.mark.parametrize("text", ["7:00-8:00", "22:00", "25:00-01:00", "10:00-10:00", "10:00-24:30"])
def test_malformed_quiet_hours(text: str) -> None:
    assert "quiet hours" in error_of(
        config(rules=[{"name": "r", "quietHours": [text], "destinations": ["mods"]}])
    )


def test_targets_by_kind_and_quiet_hours() -> None:
    parsed = AlertConfig.model_validate(
        config(
            rules=[
                {"name": "raids", "kinds": ["raid"], "destinations": ["mods", "team"]},
                {"name": "night", "quietHours": ["22:00-07:00"], "destinations": ["mods", "editors"]},
            ]
        )
    )
    chat, raid = make_moment(kind="chat_spike"), make_moment(kind="raid")
    day, night = at("12:00"), at("23:00")
    assert [(t.destination.name, t.quiet) for t in parsed.targets(chat, day)] == [
        ("mods", False),
        ("editors", False),
    ]
    assert [(t.destination.name, t.quiet) for t in parsed.targets(chat, night)] == [
        ("mods", True),
        ("editors", True),
    ]
    # A raid at night: "raids" (never quiet) and "night" both name mods: one target, not quiet.
    assert [(t.destination.name, t.quiet) for t in parsed.targets(raid, night)] == [
        ("mods", False), ("editors", True), ("team", False),
    ]  # fmt: skip


def test_min_score_applies_to_the_optional_ranking_score() -> None:
    parsed = AlertConfig.model_validate(
        config(rules=[{"name": "r", "minScore": 5, "destinations": ["mods"]}])
    )
    every = AlertConfig.model_validate(config(rules=[{"name": "r", "minScore": 0, "destinations": ["mods"]}]))
    unscored = make_moment()  # today's records: no ranking score (the detector's `score` is not it)
    assert parsed.targets(unscored, at("12:00")) == []
    assert len(every.targets(unscored, at("12:00"))) == 1

    class Ranked:  # a record with issue 19's optional field
        def __init__(self, rank: float | None):
            self.kind, self.rank = "chat_spike", rank

    rule = parsed.rules[0]
    assert rule.matches(Ranked(5.0))  # type: ignore[arg-type]
    assert not rule.matches(Ranked(4.99))  # type: ignore[arg-type]
    assert not rule.matches(Ranked(None))  # type: ignore[arg-type]
    assert (
        replace(unscored, score=99).kind == "chat_spike"
        and parsed.targets(replace(unscored, score=99), 0) == []
    )


def test_backoff_is_exponential_capped_jittered_and_deterministic_when_seeded() -> None:
    delays = [backoff(n, random.Random(7), base=1, cap=30) for n in range(1, 9)]
    again = [backoff(n, random.Random(7), base=1, cap=30) for n in range(1, 9)]
    assert delays == again
    for n, delay in enumerate(delays, 1):
        step = min(30, 2 ** (n - 1))
        assert step / 2 <= delay <= step
    rng = random.Random(1)
    spread = {round(backoff(3, rng), 6) for _ in range(100)}
    assert len(spread) == 100  # rows failing together do not retry together
