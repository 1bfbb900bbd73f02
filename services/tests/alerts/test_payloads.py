"""Payloads (pure): Discord and Slack bodies against their documented shapes, the webhook's signature, and how
answers are read.

The schemas below encode what the public documentation says; the recorded examples in ``examples/`` are small
bodies written from that documentation, validated by the same schemas (so the schemas accept what the services
document), and the bodies we render must pass them too. Sources:

* Discord execute webhook (body, ``wait``): https://discord.com/developers/docs/resources/webhook#execute-webhook
  and its community guide https://birdie0.github.io/discord-webhooks-guide/discord_webhook.html (the example's
  source); edit: https://discord.com/developers/docs/resources/webhook#edit-webhook-message (``PATCH
  /webhooks/{id}/{token}/messages/{message.id}``); embed limits (title 256, description 4096, 25 fields, name
  256, value 1024, footer 2048, 6000 in all): https://discord.com/developers/docs/resources/message#embed-object-embed-limits
  (as listed by https://javacord.org/wiki/basic-tutorials/embeds.html); ``content`` ≤ 2000, ≤ 10 embeds:
  https://schemas.apis.io/schemas/discord/discord-executewebhookrequest/; the 429 body (``retry_after`` in
  seconds, ``global``): https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit
* Slack incoming webhooks (``text`` + ``blocks``; the example is the documented review message):
  https://api.slack.com/messaging/webhooks ; Block Kit limits (header plain_text ≤ 150, section text ≤ 3000,
  ≤ 10 fields of ≤ 2000, context ≤ 10 elements, ≤ 50 blocks): https://api.slack.com/reference/block-kit/blocks ;
  error codes (400 invalid_payload, 403 action_prohibited, 404 channel_not_found, 410 channel_is_archived):
  https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks
* Signatures: Stripe's ``t.body`` scheme https://docs.stripe.com/webhooks#verify-manually and GitHub's
  https://docs.github.com/webhooks/securing
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from telemetra.dev.testing.alerts import T0, make_moment
from telemetra.records import Moment
from telemetra.services.alerts.payloads import (
    Alert,
    SignatureError,
    discord_message,
    interpret,
    render,
    slack_message,
    verify,
)
from telemetra.services.alerts.rules import Destination

EXAMPLES = Path(__file__).parent / "examples"
KEY = "whsec_test_0123456789abcdef"


def example(name: str) -> Any:
    return orjson.loads((EXAMPLES / name).read_bytes())


def text(limit: int, min_length: int = 0) -> dict[str, Any]:
    return {"type": "string", "minLength": min_length, "maxLength": limit}


DISCORD_EMBED = {
    "type": "object",
    "properties": {
        "title": text(256),
        "description": text(4096),
        "url": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "color": {"type": "integer", "minimum": 0, "maximum": 0xFFFFFF},
        "footer": {"type": "object", "required": ["text"], "properties": {"text": text(2048)}},
        "author": {"type": "object", "required": ["name"], "properties": {"name": text(256)}},
        "fields": {
            "type": "array",
            "maxItems": 25,
            "items": {
                "type": "object",
                "required": ["name", "value"],
                "properties": {"name": text(256, 1), "value": text(1024, 1), "inline": {"type": "boolean"}},
                "additionalProperties": False,
            },
        },
        "thumbnail": {"type": "object", "required": ["url"]},
        "image": {"type": "object", "required": ["url"]},
    },
    "additionalProperties": False,  # type, provider and video are not for webhook embeds
}
DISCORD_EXECUTE = {
    "type": "object",
    "properties": {
        "content": text(2000),
        "username": text(80, 1),
        "avatar_url": {"type": "string"},
        "tts": {"type": "boolean"},
        "embeds": {"type": "array", "maxItems": 10, "items": DISCORD_EMBED},
        "allowed_mentions": {
            "type": "object",
            "properties": {"parse": {"type": "array", "items": {"enum": ["roles", "users", "everyone"]}}},
        },
    },
    "anyOf": [{"required": ["content"]}, {"required": ["embeds"]}],
    "additionalProperties": False,
}
SLACK_TEXT = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {
        "type": {"enum": ["mrkdwn", "plain_text"]},
        "text": text(3000, 1),
        "emoji": {"type": "boolean"},
    },
}
SLACK_BLOCK = {
    "oneOf": [
        {
            "type": "object",
            "required": ["type", "text"],
            "properties": {
                "type": {"const": "header"},
                "text": {
                    "type": "object",
                    "properties": {"type": {"const": "plain_text"}, "text": text(150, 1)},
                },
            },
        },
        {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"const": "section"},
                "block_id": text(255),
                "text": SLACK_TEXT,
                "fields": {
                    "type": "array",
                    "maxItems": 10,
                    "items": {
                        **SLACK_TEXT,
                        "properties": {**SLACK_TEXT["properties"], "text": text(2000, 1)},
                    },
                },
                "accessory": {"type": "object"},
            },
            "anyOf": [{"required": ["text"]}, {"required": ["fields"]}],
        },
        {
            "type": "object",
            "required": ["type", "elements"],
            "properties": {
                "type": {"const": "context"},
                "elements": {"type": "array", "minItems": 1, "maxItems": 10},
            },
        },
    ]
}
SLACK_MESSAGE = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "minLength": 1},
        "blocks": {"type": "array", "maxItems": 50, "items": SLACK_BLOCK},
    },
}


def discord_total(body: dict[str, Any]) -> int:
    """Discord's 6,000-character budget across an embed's texts."""
    total = 0
    for embed in body["embeds"]:
        total += len(embed.get("title", "")) + len(embed.get("description", ""))
        total += len(embed.get("footer", {}).get("text", "")) + len(embed.get("author", {}).get("name", ""))
        total += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    return total


MOMENTS = [
    make_moment(),
    make_moment(2, kind="raid", metric="raid", value=800, baseline=0, description="alpha was raided by 800 viewers"),
    make_moment(3, kind="viewer_drop", value=1200, baseline=4000, ongoing=False,
                description="Viewers dropped to 1,200 from about 4,000 (70% fewer)"),
    make_moment(4, kind="sentiment_swing", value=-0.42, baseline=0.1,
                description="Chat mood turned <negative> & *loud*"),
    make_moment(5, description="x" * 10_000),  # far beyond every limit: clipped, never refused
    make_moment(6, offset_seconds=3723, vod_url="https://www.twitch.tv/videos/2223334445?t=1h2m3s"),
    make_moment(7, offset_seconds=59),  # its place in the broadcast, without a VOD
]  # fmt: skip


def test_the_recorded_examples_match_the_documented_shapes() -> None:
    jsonschema.validate(
        example("discord_execute_webhook.json"), DISCORD_EXECUTE, format_checker=jsonschema.FormatChecker()
    )
    jsonschema.validate(example("slack_incoming_webhook.json"), SLACK_MESSAGE)


@pytest.mark.parametrize("moment", MOMENTS, ids=lambda m: m.kind)
def test_discord_bodies_match_the_documented_shape(moment: Moment) -> None:
    body = discord_message(moment, revision=1)
    jsonschema.validate(body, DISCORD_EXECUTE, format_checker=jsonschema.FormatChecker())
    assert discord_total(body) <= 6000
    assert body["allowed_mentions"] == {"parse": []}  # a description never pings @everyone
    assert body["embeds"][0]["timestamp"] == moment.peak_at


@pytest.mark.parametrize("moment", MOMENTS, ids=lambda m: m.kind)
def test_slack_bodies_match_the_documented_shape(moment: Moment) -> None:
    body = slack_message(moment)
    jsonschema.validate(body, SLACK_MESSAGE)
    assert "<negative>" not in orjson.dumps(body).decode()  # Slack's control characters are escaped


def destination(kind: str) -> Destination:
    if kind == "webhook":
        return Destination(
            name="hook", type="webhook", url="https://x.example/h", signing_secret_from={"env": "K"}
        )  # type: ignore[arg-type]
    return Destination(name="d", type=kind, url_from={"env": "URL"})  # type: ignore[arg-type]


def test_discord_posts_with_wait_then_edits_the_same_message() -> None:
    url = "https://discord.com/api/webhooks/123/tok?thread_id=42"
    first = render(Alert(make_moment(), destination("discord"), 1, 0, None), url, None, T0)
    assert first.method == "POST"
    assert first.url == "https://discord.com/api/webhooks/123/tok?thread_id=42&wait=true"
    response = example("discord_message_response.json")
    answer = interpret(
        Alert(make_moment(), destination("discord"), 1, 0, None), 200, {}, orjson.dumps(response)
    )
    assert answer.ok and answer.remote_id == "1101535312457097256"
    update = render(Alert(make_moment(), destination("discord"), 2, 1, answer.remote_id), url, None, T0)
    assert update.method == "PATCH"
    assert update.url == "https://discord.com/api/webhooks/123/tok/messages/1101535312457097256?thread_id=42"
    jsonschema.validate(orjson.loads(update.body), DISCORD_EXECUTE)
    assert orjson.loads(update.body)["embeds"][0]["footer"]["text"].endswith("update 1")


def test_webhook_signature_verifies_and_rejects_tampering_and_replays() -> None:
    moment = make_moment()
    request = render(Alert(moment, destination("webhook"), 1, 0, None), "https://x.example/h", KEY, T0)
    headers = request.headers
    assert headers["Idempotency-Key"] == moment.moment_id
    assert headers["Telemetra-Event"] == "moment.detected" and headers["Telemetra-Revision"] == "1"
    # The documented recipe, by hand: HMAC-SHA256(key, "<timestamp>.<body>"), hex.
    expected = hmac.new(KEY.encode(), f"{int(T0)}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert headers["Telemetra-Signature"] == f"v1={expected}"
    assert headers["Telemetra-Timestamp"] == str(int(T0))
    body = orjson.loads(request.body)
    assert body["id"] == moment.moment_id and body["moment"] == moment.to_dict() and body["revision"] == 1

    verify(KEY, request.body, headers, now=T0 + 10)
    verify(KEY, request.body, {k.lower(): v for k, v in headers.items()}, now=T0)  # header names: any case
    rotated = headers | {"Telemetra-Signature": "v1=" + "0" * 64 + ", " + headers["Telemetra-Signature"]}
    verify(KEY, request.body, rotated, now=T0)
    with pytest.raises(SignatureError, match="mismatch"):
        verify(KEY, request.body.replace(b"12.5", b"99.9"), headers, now=T0)
    with pytest.raises(SignatureError, match="mismatch"):
        verify("another key", request.body, headers, now=T0)
    with pytest.raises(SignatureError, match="more than 300 s"):
        verify(KEY, request.body, headers, now=T0 + 301)
    with pytest.raises(SignatureError, match="Telemetra-Signature"):
        verify(KEY, request.body, headers | {"Telemetra-Signature": "sha256=abc"}, now=T0)

    update = render(Alert(moment, destination("webhook"), 3, 1, None), "https://x.example/h", KEY, T0)
    assert (
        orjson.loads(update.body)["type"] == "moment.updated" and update.headers["Telemetra-Revision"] == "3"
    )
    assert render(Alert(moment, destination("webhook"), 1, 0, None), "u", KEY, T0 + 99).body == request.body


def test_slack_never_edits() -> None:
    request = render(
        Alert(make_moment(), destination("slack"), 2, 1, None),
        "https://hooks.slack.com/services/T/B/X",
        None,
        T0,
    )
    assert request.method == "POST" and request.url == "https://hooks.slack.com/services/T/B/X"


@pytest.mark.parametrize(
    ("status", "ok", "retryable"),
    [(200, True, False), (204, True, False), (400, False, False), (403, False, False), (404, False, False),
     (410, False, False), (408, False, True), (429, False, True), (500, False, True), (503, False, True)],
)  # fmt: skip
def test_answers(status: int, ok: bool, retryable: bool) -> None:
    answer = interpret(
        Alert(make_moment(), destination("slack"), 1, 0, None), status, {}, b"channel_not_found"
    )
    assert (answer.ok, answer.retryable) == (ok, retryable)
    if not ok:
        assert answer.error is not None and answer.error.startswith(f"HTTP {status}")


def test_retry_after_from_the_header_or_discords_body() -> None:
    alert = Alert(make_moment(), destination("discord"), 1, 0, None)
    assert interpret(alert, 429, {"Retry-After": "7"}, b"").retry_after == 7.0
    limited = orjson.dumps(example("discord_rate_limited.json"))
    assert interpret(alert, 429, {}, limited).retry_after == pytest.approx(1.337)
    assert interpret(alert, 503, {}, b"<html>").retry_after is None


def test_a_moment_that_grows_keeps_its_idempotency_key() -> None:
    moment = make_moment()
    bigger = replace(moment, value=40.0)
    first = render(Alert(moment, destination("webhook"), 1, 0, None), "u", KEY, T0)
    second = render(Alert(bigger, destination("webhook"), 2, 1, None), "u", KEY, T0)
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.body != second.body


def test_discord_and_slack_link_to_the_moment_in_the_vod() -> None:
    url = "https://www.twitch.tv/videos/2223334445?t=1h2m3s"
    linked, unlinked, unplaced = (
        make_moment(offset_seconds=3723, vod_url=url),
        make_moment(offset_seconds=59),
        make_moment(),
    )
    embed = discord_message(linked, revision=1)["embeds"][0]
    assert (
        embed["url"] == url
        and {"name": "In stream", "value": f"[1:02:03]({url})", "inline": True} in embed["fields"]
    )
    slack = slack_message(linked)
    assert slack["text"].endswith(f" · watch from <{url}|1:02:03>")
    assert f"*In stream*\n<{url}|1:02:03>" in [f["text"] for f in slack["blocks"][1]["fields"]]
    assert "url" not in discord_message(unlinked, revision=1)["embeds"][0]
    assert "*In stream*\n0:00:59" in [f["text"] for f in slack_message(unlinked)["blocks"][1]["fields"]]
    assert "In stream" not in orjson.dumps([discord_message(unplaced, 1), slack_message(unplaced)]).decode()
    webhook = orjson.loads(
        render(Alert(linked, destination("webhook"), 1, 0, None), "https://x.example/h", KEY, T0).body
    )
    assert (webhook["moment"]["offset_seconds"], webhook["moment"]["vod_url"]) == (3723, url)
