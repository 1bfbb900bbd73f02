"""Alert rules: which moments reach which destinations, and when (pure: no I/O).

A stream's :class:`AlertConfig` names its destinations (a generic signed webhook, a Discord or a Slack incoming
webhook) and its rules (moment kinds, a minimum score, quiet hours in UTC). Field names are the
TelemetraStream CR's (camelCase: ``minScore``, ``quietHours``, ``urlFrom``, ``signingSecretFrom``,
``rateLimit.perSeconds``), so the CR's ``spec.alerts`` validates with ``AlertConfig.model_validate``; Python
code may use the snake_case names.

Secrets are referenced by name, never written inline: a Discord or Slack webhook URL carries its token, so it
must come from a :class:`SecretRef` (``urlFrom``); a generic webhook's URL may be inline (it should hold no
credential, and one with ``user:password@`` is refused) and its signing key always comes from a reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from telemetra.analytics.moments import KINDS
from telemetra.records import Moment

DestinationType = Literal["webhook", "discord", "slack"]
NAME_PATTERN: Final = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"  # a DNS label, like the CR's other names
DNS_SUBDOMAIN: Final = r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$"
_QUIET = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")
MINUTES_PER_DAY: Final = 24 * 60


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",  # a misspelt field is an error here (the CRD's structural schema prunes upstream)
        frozen=True,
        use_attribute_docstrings=True,
        hide_input_in_errors=True,  # an error never echoes a value (a URL may carry a token)
    )


class SecretRef(Model):
    """Where a secret value lives: a key of a Kubernetes Secret (mounted into the dispatcher's pod) or an
    environment variable (the embedded demo, ``make stack``). Exactly one of the two."""

    name: str | None = Field(default=None, pattern=DNS_SUBDOMAIN, max_length=253)
    """Name of the Secret (in the stream's namespace)."""

    key: str | None = Field(default=None, pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)
    """Key in the Secret."""

    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=253)
    """An environment variable of the dispatcher instead of a Secret."""

    namespace: SkipJsonSchema[str | None] = Field(default=None, pattern=NAME_PATTERN, max_length=63)
    """The Secret's namespace. Not part of the CR's schema (a stream may only name Secrets of its own
    namespace): the operator sets it from the stream's namespace (:meth:`AlertConfig.in_namespace`); unset,
    the dispatcher's own namespace."""

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        secret = self.name is not None or self.key is not None
        if secret and self.env is not None:
            raise ValueError(
                "a secret reference names either a Secret (name and key) or an env variable, not both"
            )
        if secret and (self.name is None or self.key is None):
            raise ValueError("a Secret reference needs both name and key")
        if not secret and self.env is None:
            raise ValueError("a secret reference needs a Secret (name and key) or an env variable")
        if self.namespace is not None and not secret:
            raise ValueError("namespace applies to a Secret reference only")
        return self

    def in_namespace(self, namespace: str) -> SecretRef:
        """This reference with ``namespace`` set when it names a Secret (an env reference is unchanged)."""
        return self if self.env is not None else self.model_copy(update={"namespace": namespace})

    def describe(self) -> str:
        """The reference (never the value), for errors and logs: ``secret alerts/discord-url``, or
        ``secret team-a/alerts/discord-url`` with a namespace."""
        if self.env is not None:
            return f"env {self.env}"
        where = f"{self.namespace}/" if self.namespace is not None else ""
        return f"secret {where}{self.name}/{self.key}"


class RateLimit(Model):
    """At most ``max`` new alerts to a destination within any ``perSeconds``; more are suppressed (and logged as
    such). Updates of an alert already sent (a moment that grows) do not count."""

    max: int = Field(ge=1, le=10_000)
    """Alerts allowed in the window."""

    per_seconds: int = Field(default=3600, ge=1, le=7 * 86_400)
    """Length of the window in seconds."""


class Destination(Model):
    """Where alerts go. ``webhook``: a JSON POST signed with HMAC-SHA256 (see ``payloads``); ``discord``: an
    embed, edited in place when the moment grows; ``slack``: Block Kit through an incoming webhook (which cannot
    edit a message: a moment that grows is not sent again)."""

    name: str = Field(pattern=NAME_PATTERN)
    """Unique within the stream; with the moment id, the idempotency key of an alert."""

    type: DestinationType
    """webhook, discord or slack."""

    url: str | None = Field(default=None, max_length=2048)
    """A generic webhook's URL, inline (http or https, no credentials in it). Not allowed for Discord and
    Slack, whose URLs carry their token: use urlFrom."""

    url_from: SecretRef | None = None
    """The URL from a Secret or an env variable."""

    signing_secret_from: SecretRef | None = None
    """A generic webhook's HMAC-SHA256 key (required for webhook, not used by Discord or Slack)."""

    rate_limit: RateLimit | None = None
    """At most so many new alerts per window; default: no limit."""

    @field_validator("url")
    @classmethod
    def _plain_url(cls, url: str | None) -> str | None:
        if url is not None:
            _check_url(url)
        return url

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        where = f"destination {self.name!r}"
        if self.type in ("discord", "slack") and self.url is not None:
            raise ValueError(
                f"{where}: a {self.type} webhook URL carries its token; reference it with urlFrom "
                "(a Secret key or an env variable), never inline"
            )
        if (self.url is None) == (self.url_from is None):
            raise ValueError(f"{where}: set exactly one of url and urlFrom")
        if self.type == "webhook" and self.signing_secret_from is None:
            raise ValueError(f"{where}: a webhook needs signingSecretFrom (the HMAC-SHA256 key's reference)")
        if self.type != "webhook" and self.signing_secret_from is not None:
            raise ValueError(f"{where}: signingSecretFrom applies to type webhook only")
        return self

    def in_namespace(self, namespace: str) -> Destination:
        """This destination with its Secret references in ``namespace``."""
        update = {
            field: ref.in_namespace(namespace)
            for field in ("url_from", "signing_secret_from")
            if (ref := getattr(self, field)) is not None
        }
        return self.model_copy(update=update) if update else self

    @property
    def editable(self) -> bool:
        """Whether an alert already sent can be updated when its moment grows (Slack's incoming webhooks
        cannot edit; a generic webhook receives ``moment.updated`` with the same idempotency key)."""
        return self.type != "slack"


def _check_url(url: str) -> None:
    """A plain webhook URL: http(s), a host, no credentials. Errors never repeat the URL."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        raise ValueError("url: not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("url: must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("url: credentials in the URL are not allowed; use urlFrom with a Secret")


@dataclass(frozen=True, slots=True)
class QuietRange:
    """``[start, end)`` in minutes of the UTC day; ``end < start`` wraps past midnight."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> QuietRange:
        match = _QUIET.match(text)
        if match is None:
            raise ValueError(f"quiet hours {text!r}: use HH:MM-HH:MM (UTC, 24-hour), e.g. 22:00-07:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end > MINUTES_PER_DAY:
            raise ValueError(f"quiet hours {text!r}: 24:00 is the latest end")
        if start == end:
            raise ValueError(
                f"quiet hours {text!r}: start and end are the same (use 00:00-24:00 for all day)"
            )
        return cls(start, end)

    def covers(self, epoch_seconds: float) -> bool:
        minute = int(epoch_seconds // 60) % MINUTES_PER_DAY
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


class Rule(Model):
    """Which moments alert which destinations."""

    name: str = Field(pattern=NAME_PATTERN)
    """Unique within the stream."""

    kinds: list[str] = Field(default_factory=list, max_length=len(KINDS))
    """Moment kinds that alert; empty: every kind."""

    min_score: float = Field(default=0.0, ge=0, le=1e9)
    """Only moments whose score is at least this (0: every moment, including those without a score)."""

    quiet_hours: list[str] = Field(default_factory=list, max_length=24)
    """UTC ranges, HH:MM-HH:MM (may wrap midnight), in which new alerts are suppressed."""

    destinations: list[str] = Field(min_length=1, max_length=20)
    """Names of the stream's destinations."""

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown moment kind(s) {', '.join(unknown)}; use {', '.join(KINDS)}")
        return kinds

    @field_validator("quiet_hours")
    @classmethod
    def _ranges(cls, ranges: list[str]) -> list[str]:
        for text in ranges:
            QuietRange.parse(text)
        return ranges

    def matches(self, moment: Moment) -> bool:
        if self.kinds and moment.kind not in self.kinds:
            return False
        if self.min_score <= 0:
            return True
        score = moment_score(moment)
        return score is not None and score >= self.min_score

    def quiet_at(self, epoch_seconds: float) -> bool:
        return any(QuietRange.parse(text).covers(epoch_seconds) for text in self.quiet_hours)


def moment_score(moment: Moment) -> float | None:
    """The score a rule's ``minScore`` applies to: the moment's ranking score (``rank``; None on records from
    before it existed). The detector's ``score`` field is a per-kind statistic on scales that differ between
    kinds, so it is not used."""
    return moment.rank


@dataclass(frozen=True, slots=True)
class Target:
    """A destination a moment should alert, and whether a rule's quiet hours hold it back right now."""

    destination: Destination
    quiet: bool


class AlertConfig(Model):
    """A stream's alerting: its destinations and the rules that route moments to them."""

    destinations: list[Destination] = Field(default_factory=list, max_length=20)
    """Where alerts may go."""

    rules: list[Rule] = Field(default_factory=list, max_length=20)
    """Which moments alert which destinations."""

    @model_validator(mode="after")
    def _references(self) -> Self:
        names = [d.name for d in self.destinations]
        if len(set(names)) != len(names):
            raise ValueError(f"destination names must be unique: {', '.join(_repeated(names))}")
        rule_names = [r.name for r in self.rules]
        if len(set(rule_names)) != len(rule_names):
            raise ValueError(f"rule names must be unique: {', '.join(_repeated(rule_names))}")
        for rule in self.rules:
            unknown = [name for name in rule.destinations if name not in names]
            if unknown:
                raise ValueError(f"rule {rule.name!r}: unknown destination(s) {', '.join(unknown)}")
        return self

    def in_namespace(self, namespace: str) -> AlertConfig:
        """A copy whose every Secret reference (name and key; env references are unchanged) is in
        ``namespace``: what the operator stores for a TelemetraStream of that namespace."""
        destinations = [d.in_namespace(namespace) for d in self.destinations]
        return self.model_copy(update={"destinations": destinations})

    def secret_refs(self) -> list[SecretRef]:
        """Every reference of the config, in the order of its destinations."""
        return [
            ref for d in self.destinations for ref in (d.url_from, d.signing_secret_from) if ref is not None
        ]

    def targets(self, moment: Moment, now: float) -> list[Target]:
        """The destinations ``moment`` alerts at ``now``, each once (in the order of ``destinations``). A
        destination named by several matching rules is quiet only if every one of them is quiet."""
        quiet: dict[str, bool] = {}
        for rule in self.rules:
            if rule.matches(moment):
                is_quiet = rule.quiet_at(now)
                for name in rule.destinations:
                    quiet[name] = quiet.get(name, True) and is_quiet
        return [Target(d, quiet[d.name]) for d in self.destinations if d.name in quiet]


def _repeated(names: list[str]) -> list[str]:
    return sorted({name for name in names if names.count(name) > 1})


STREAM_CONFIGS: Final = TypeAdapter(dict[str, AlertConfig])


def parse_stream_configs(text: str) -> dict[str, AlertConfig]:
    """``{stream_id: AlertConfig}`` from JSON (``telemetra demo --alerts FILE``); a ValueError names the first
    problem (its field path), never a value."""
    try:
        return STREAM_CONFIGS.validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise ValueError(f"alert configs: {where}: {first['msg']}") from None
