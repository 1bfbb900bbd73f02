"""What an alert looks like on the wire, per destination type (pure: no I/O).

Generic webhook
---------------
``POST <url>`` with ``Content-Type: application/json`` and this body (deterministic for a revision)::

    {"type": "moment.detected",            # "moment.updated" when a moment already alerted grows
     "id": "<moment id>",                  # the idempotency key: one alert per moment per destination
     "revision": 1,                        # grows with each update; keep the highest
     "stream_id": "...", "destination": "<destination name>",
     "moment": {<the moment record, as /api/v1/streams/{id}/moments serves it>}}

Headers: ``Idempotency-Key: <moment id>``, ``Telemetra-Event``, ``Telemetra-Revision``,
``Telemetra-Timestamp: <unix seconds>`` and ``Telemetra-Signature: v1=<hex>``, where ``<hex>`` is
``HMAC-SHA256(key, "<timestamp>.<raw body>")`` in lower-case hex, the scheme of Stripe's ``Stripe-Signature``
(https://docs.stripe.com/webhooks#verify-manually) and of GitHub's ``X-Hub-Signature-256``
(https://docs.github.com/webhooks/securing) with the timestamp inside the signed text, so a captured
request cannot be replayed later. To verify a delivery, a receiver:

1. reads the raw body bytes (before any JSON parsing) and the two headers;
2. computes ``HMAC-SHA256(key, timestamp + "." + body)`` and compares it with each ``v1=`` value of the
   signature header in constant time (``hmac.compare_digest``); during a key rotation the header may carry
   several ``v1=`` values, comma-separated;
3. refuses a timestamp more than 5 minutes from its own clock;
4. de-duplicates by ``Idempotency-Key`` and keeps the highest ``Telemetra-Revision`` (delivery is
   at-least-once: a retry after a lost response repeats a delivery).

:func:`verify` does exactly this and can be copied into a receiver.

Discord
-------
An execute-webhook body (``POST <url>?wait=true``, so Discord answers with the message and its id) with one
embed (its ``url`` and its "In stream" field link to the moment's point of the Twitch VOD when that is known);
when the moment grows, ``PATCH <url>/messages/<id>`` with the new embed edits the same message. Mentions are
disabled (``allowed_mentions.parse = []``). https://discord.com/developers/docs/resources/webhook

Slack
-----
An incoming-webhook body: ``text`` (the notification's fallback) and Block Kit ``blocks`` (header, a section
with fields, a context line); the VOD link, when known, is in ``text`` and in the "In stream" field. Incoming
webhooks cannot edit a message, so a moment that grows after its alert was sent is not sent again. https://api.slack.com/messaging/webhooks
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from telemetra.records import Moment, parse_ts
from telemetra.services.alerts.rules import Destination

SIGNATURE_HEADER: Final = "Telemetra-Signature"
TIMESTAMP_HEADER: Final = "Telemetra-Timestamp"
TOLERANCE_S: Final = 300
USER_AGENT: Final = "Telemetra-Alerts/1"
TITLES: Final = {
    "chat_spike": "Chat spike",
    "viewer_surge": "Viewer surge",
    "viewer_drop": "Viewer drop",
    "sentiment_swing": "Sentiment swing",
    "revenue_spike": "Revenue spike",
    "raid": "Raid",
}
COLORS: Final = {  # Discord embed colours (0xRRGGBB as an integer)
    "chat_spike": 0x9146FF,
    "viewer_surge": 0x00B37A,
    "viewer_drop": 0xE0A100,
    "sentiment_swing": 0x3B82F6,
    "revenue_spike": 0xF59E0B,
    "raid": 0xEF4444,
}
# Documented limits (Discord: embed object limits; Slack: Block Kit header/section/fields).
DISCORD_TITLE, DISCORD_DESCRIPTION, DISCORD_FIELD_VALUE, DISCORD_FOOTER = 256, 4096, 1024, 2048
SLACK_HEADER, SLACK_SECTION, SLACK_FIELD = 150, 3000, 2000


@dataclass(frozen=True, slots=True)
class Alert:
    """One delivery to render: the moment as it is now, where it goes, and what was sent before."""

    moment: Moment
    destination: Destination
    revision: int  # 1 for the first version; grows with each update
    sent_revision: int  # the last revision delivered (0: none yet)
    remote_id: str | None  # Discord's message id, once the first version was delivered

    @property
    def is_update(self) -> bool:
        return self.sent_revision > 0


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def render(alert: Alert, url: str, signing_key: str | None, now: float) -> HttpRequest:
    """The HTTP request delivering ``alert`` to ``url`` (resolved from the destination's reference) at ``now``."""
    kind = alert.destination.type
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if kind == "discord":
        body = orjson.dumps(discord_message(alert.moment, alert.revision))
        if alert.remote_id is not None:
            return HttpRequest("PATCH", discord_message_url(url, alert.remote_id), headers, body)
        return HttpRequest("POST", with_query(url, wait="true"), headers, body)
    if kind == "slack":
        return HttpRequest("POST", url, headers, orjson.dumps(slack_message(alert.moment)))
    if signing_key is None:
        raise ValueError("a webhook needs its signing key")
    body = orjson.dumps(webhook_body(alert))
    timestamp = str(int(now))
    headers |= {
        "Idempotency-Key": alert.moment.moment_id,
        "Telemetra-Event": event_type(alert),
        "Telemetra-Revision": str(alert.revision),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: f"v1={sign(signing_key, timestamp, body)}",
    }
    return HttpRequest("POST", url, headers, body)


# -- generic webhook ---------------------------------------------------------------------------------------
def event_type(alert: Alert) -> str:
    return "moment.updated" if alert.is_update else "moment.detected"


def webhook_body(alert: Alert) -> dict[str, Any]:
    return {
        "type": event_type(alert),
        "id": alert.moment.moment_id,
        "revision": alert.revision,
        "stream_id": alert.moment.stream_id,
        "destination": alert.destination.name,
        "moment": alert.moment.to_dict(),
    }


def sign(key: str, timestamp: str, body: bytes) -> str:
    return hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class SignatureError(ValueError):
    """A delivery that does not verify: the reason, never the key."""


def verify(
    key: str, body: bytes, headers: Mapping[str, str], now: float, tolerance: float = TOLERANCE_S
) -> None:
    """Check a generic-webhook delivery as a receiver should (raises :class:`SignatureError`). ``headers`` is
    looked up case-insensitively."""
    lower = {name.lower(): value for name, value in headers.items()}
    timestamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    signature = lower.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp.isdigit():
        raise SignatureError(f"missing or malformed {TIMESTAMP_HEADER}")
    if abs(now - int(timestamp)) > tolerance:
        raise SignatureError(f"{TIMESTAMP_HEADER} is more than {tolerance:g} s from now")
    expected = sign(key, timestamp, body)
    candidates = [part.strip()[3:] for part in signature.split(",") if part.strip().startswith("v1=")]
    if not candidates:
        raise SignatureError(f"missing or malformed {SIGNATURE_HEADER}")
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("signature mismatch")


# -- Discord -----------------------------------------------------------------------------------------------
def title(moment: Moment) -> str:
    return f"{TITLES.get(moment.kind, moment.kind)} on {moment.stream_id}"


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def in_stream(moment: Moment) -> str | None:
    """Where the moment is in the broadcast, ``"1:02:03"``; None when its offset is not known."""
    if moment.offset_seconds is None:
        return None
    minutes, seconds = divmod(moment.offset_seconds, 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"


def discord_message(moment: Moment, revision: int) -> dict[str, Any]:
    start, peak = int(parse_ts(moment.start)), int(parse_ts(moment.peak_at))
    fields = [
        ("Peak", _number(moment.value)),
        ("Usual", _number(moment.baseline)),
        ("Status", "ongoing" if moment.ongoing else "ended"),
        ("Started", f"<t:{start}:T> (<t:{start}:R>)"),
        ("Peak at", f"<t:{peak}:T>"),
    ]
    offset = in_stream(moment)
    if offset is not None:
        fields.append(("In stream", f"[{offset}]({moment.vod_url})" if moment.vod_url else offset))
    footer = f"moment {moment.moment_id}" + (f" · update {revision - 1}" if revision > 1 else "")
    embed = {
        "title": _clip(title(moment), DISCORD_TITLE),
        "description": _clip(moment.description, DISCORD_DESCRIPTION),
        "color": COLORS.get(moment.kind, 0x6B7280),
        "timestamp": moment.peak_at,
        "fields": [
            {"name": name, "value": _clip(value, DISCORD_FIELD_VALUE), "inline": True}
            for name, value in fields
        ],
        "footer": {"text": _clip(footer, DISCORD_FOOTER)},
    }
    if moment.vod_url:
        embed["url"] = moment.vod_url
    return {"username": "Telemetra", "allowed_mentions": {"parse": []}, "embeds": [embed]}


def discord_message_url(url: str, message_id: str) -> str:
    """``…/webhooks/{id}/{token}`` → ``…/webhooks/{id}/{token}/messages/{message_id}`` (query kept)."""
    if not message_id.isdigit():
        raise ValueError("a Discord message id is a number")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + f"/messages/{message_id}"))


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))


# -- Slack -------------------------------------------------------------------------------------------------
def slack_escape(text: str) -> str:
    """Slack's three control characters in mrkdwn and plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(moment: Moment) -> dict[str, Any]:
    start = int(parse_ts(moment.start))
    heading = title(moment)
    description = slack_escape(moment.description)
    fields = [
        f"*Peak*\n{_number(moment.value)}",
        f"*Usual*\n{_number(moment.baseline)}",
        f"*Started*\n<!date^{start}^{{time_secs}}|{moment.start}>",
        f"*Status*\n{'ongoing' if moment.ongoing else 'ended'}",
    ]
    offset = in_stream(moment)
    link = f"<{moment.vod_url}|{offset}>" if offset and moment.vod_url else offset
    if link:
        fields.append(f"*In stream*\n{link}")
    watch = f" · watch from {link}" if link and moment.vod_url else ""
    return {
        "text": _clip(f"{heading}: {description}{watch}", SLACK_SECTION),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _clip(heading, SLACK_HEADER)}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _clip(description, SLACK_SECTION)},
                "fields": [{"type": "mrkdwn", "text": _clip(f, SLACK_FIELD)} for f in fields],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"moment `{moment.moment_id}`"}]},
        ],
    }


# -- answers -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Answer:
    """How a destination answered: ``ok``; else whether a retry can help, and when the destination asked to
    be retried (``Retry-After``, or Discord's ``retry_after``)."""

    ok: bool
    retryable: bool
    error: str | None = None
    remote_id: str | None = None
    retry_after: float | None = None


PERMANENT_HINTS: Final = {  # what a permanent failure usually means, for the delivery log
    400: "the destination refused the payload",
    401: "the destination refused the credentials",
    403: "the destination refused the request",
    404: "no such webhook (or message)",
    410: "the webhook or channel is gone",
}


def interpret(alert: Alert, status: int, headers: Mapping[str, str], body: bytes) -> Answer:
    """Turn an HTTP answer into an outcome. 2xx: delivered (Discord's message id kept); 408, 425, 429 and 5xx:
    retried; other codes: permanent (no retry will change them)."""
    if 200 <= status < 300:
        remote_id = alert.remote_id
        if alert.destination.type == "discord" and remote_id is None:
            remote_id = _discord_message_id(body)
        return Answer(True, False, remote_id=remote_id)
    error = f"HTTP {status}"
    if status in (408, 425, 429) or status >= 500:
        return Answer(False, True, error, retry_after=_retry_after(headers, body))
    hint = PERMANENT_HINTS.get(status)
    return Answer(False, False, f"{error}: {hint}" if hint else error)


def _discord_message_id(body: bytes) -> str | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    message_id = data.get("id") if isinstance(data, dict) else None
    return message_id if isinstance(message_id, str) and message_id.isdigit() else None


def _retry_after(headers: Mapping[str, str], body: bytes) -> float | None:
    lower = {name.lower(): value for name, value in headers.items()}
    try:
        return max(0.0, float(lower["retry-after"]))
    except (KeyError, ValueError):
        pass
    try:
        data = orjson.loads(body)
        value = data.get("retry_after") if isinstance(data, dict) else None
        return max(0.0, float(value)) if isinstance(value, int | float) else None
    except orjson.JSONDecodeError:
        return None
