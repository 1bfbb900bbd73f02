"""The delivery outbox: one durable row per (moment, destination), claimed by dispatchers, settled after each
attempt, with an append-only delivery log beside it. Chosen by URL like the store (SQLite embedded, PostgreSQL
for the stack and the cluster).

A row's life::

    offer ──► pending ──claim──► (sending, leased) ──settle ok──► delivered ──moment grows──► pending (update)
                │                       │
                │                       └─settle failed──► pending (retry at now + backoff) … ──► dead
                └─ quiet hours / rate limit ──► suppressed

* **Idempotency**: the key is ``(moment_id, destination)``; offering the same moment again never adds a row.
  A moment re-emitted with a later ``peak_at`` (it grew) bumps the row's ``revision``: an unsent row sends the
  newest version once; a delivered one is sent again as an update where the destination can edit (Discord:
  the same message is edited; a webhook gets ``moment.updated``), and only recorded for Slack.
* **At-least-once**: a row stays ``pending`` until a dispatcher records a 2xx for it; a dispatcher that dies
  mid-send loses its lease and another one sends the row again after ``lease`` seconds.
* **Never twice at once**: :meth:`Outbox.claim` leases rows to one owner (PostgreSQL: ``FOR UPDATE SKIP
  LOCKED``; SQLite: one writer at a time), and a settle counts only with the claim's token, so a dispatcher
  whose lease expired cannot overwrite the outcome of the one that took the row over.
* **Dead letters**: after ``max_attempts`` failed attempts, or at once on a permanent error (a 4xx other than
  408/425/429), the row is ``dead`` with the reason; :meth:`Outbox.requeue` sends it again.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import orjson

from telemetra.records import Moment
from telemetra.services.alerts.payloads import Alert
from telemetra.services.alerts.rules import AlertConfig, Destination, Target

State = Literal["pending", "delivered", "dead", "suppressed"]
STATES: Final[tuple[State, ...]] = ("pending", "delivered", "dead", "suppressed")
Outcome = Literal["delivered", "retry", "dead"]
ERROR_CHARS: Final = 300  # a logged error is short (and never a URL: see dispatcher.describe)


@dataclass(frozen=True, slots=True)
class Offer:
    """A moment for one destination, as the rules decided at ``now``."""

    moment: Moment
    target: Target


@dataclass(frozen=True, slots=True)
class OfferResult:
    queued: int = 0  # new rows waiting to be sent
    suppressed: int = 0  # new rows held back (quiet hours, rate limit)
    existing: int = 0  # offers of a (moment, destination) already known: updated in place


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed row: what to send, and the token that settles it."""

    moment: Moment
    destination: Destination
    revision: int
    sent_revision: int
    remote_id: str | None
    attempts: int  # failed attempts so far (reset when an update reopens a delivered row)
    claim: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.moment.moment_id, self.destination.name)

    def alert(self) -> Alert:
        return Alert(self.moment, self.destination, self.revision, self.sent_revision, self.remote_id)


@dataclass(frozen=True, slots=True)
class Settlement:
    """The outcome of one attempt of a claimed delivery. ``retry_at`` is set for ``retry``."""

    delivery: Delivery
    outcome: Outcome
    at: float
    duration_s: float
    status: int | None = None
    error: str | None = None
    remote_id: str | None = None
    retry_at: float | None = None


@dataclass(frozen=True, slots=True)
class DeliveryPosition:
    """Where a page of the delivery log ends: the sort key of its last row."""

    updated_at: float
    moment_id: str
    destination: str


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A row as the delivery log's readers see it (the admin API, tests)."""

    moment_id: str
    destination: str
    stream_id: str
    kind: str
    state: State
    reason: str | None  # why suppressed or dead; the last error while retrying
    revision: int
    sent_revision: int
    remote_id: str | None
    attempts: int
    next_attempt_at: float
    created_at: float
    updated_at: float
    delivered_at: float | None

    @property
    def position(self) -> DeliveryPosition:
        return DeliveryPosition(self.updated_at, self.moment_id, self.destination)


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One entry of the delivery log."""

    moment_id: str
    destination: str
    revision: int
    attempt: int  # 1 for a revision's first try
    at: float
    outcome: Outcome
    status: int | None
    error: str | None
    duration_ms: float


@dataclass(frozen=True, slots=True)
class StoredConfig:
    """A stream's alerting as stored beside the outbox (table ``alert_configs``), where every process running
    an :class:`~telemetra.services.alerts.intake.AlertIntake` reads it."""

    stream_id: str
    config: AlertConfig
    origin: str  # "api", "file", or "resource:<namespace>/<name>" (written by the operator)
    updated_at: float

    @property
    def resource(self) -> str | None:
        """``<namespace>/<name>`` of the TelemetraStream that manages this config, if one does."""
        return self.origin.removeprefix(RESOURCE) if self.origin.startswith(RESOURCE) else None


RESOURCE: Final = "resource:"  # origin prefix of a config the operator manages


class Outbox(Protocol):
    """Implemented by :class:`~telemetra.services.alerts.sqlite.SqliteOutbox` and
    :class:`~telemetra.services.alerts.postgres.PostgresOutbox`. Methods may raise
    :class:`~telemetra.services.storage.StoreUnavailable`. Times are epoch seconds, passed in (tests run a
    clock of their own)."""

    name: str

    async def start(self) -> None:
        """Connect and apply the outbox's migrations (its own history table, ``alert_schema_migrations``)."""

    async def close(self) -> None: ...

    async def offer(self, offers: Sequence[Offer], now: float) -> OfferResult:
        """Record ``offers`` (one transaction): new rows pending or suppressed, known rows updated."""

    async def claim(self, owner: str, limit: int, now: float, lease: float) -> list[Delivery]:
        """Lease up to ``limit`` due rows (pending, ``next_attempt_at <= now``, no live lease) to ``owner``
        until ``now + lease``, the longest-waiting first."""

    async def settle(self, settlements: Sequence[Settlement]) -> int:
        """Record attempts (the delivery log) and their rows' new state; a settlement whose claim is no longer
        the row's is logged but does not change the row. Returns the rows changed."""

    async def requeue(self, moment_id: str, destination: str, now: float) -> bool:
        """A dead row back to pending (attempts reset); False when there is no dead row with that key."""

    async def deliveries(
        self,
        *,
        state: State | None = None,
        stream_id: str | None = None,
        limit: int = 100,
        after: DeliveryPosition | None = None,
    ) -> list[DeliveryRecord]:
        """Rows, most recently updated first (then by moment id and destination); with ``after``, those that
        come after that position (the last row of a previous page: :attr:`DeliveryRecord.position`)."""

    async def delivery(self, moment_id: str, destination: str) -> DeliveryRecord | None:
        """One row of the delivery log, if there is one with that key."""

    async def attempts(self, moment_id: str, destination: str) -> list[AttemptRecord]:
        """The delivery log of one row, oldest first."""

    async def counts(self) -> dict[State, int]: ...

    async def set_config(self, stream_id: str, config: AlertConfig | None, origin: str, now: float) -> None:
        """Store (upsert) a stream's alerting, or with None delete it."""

    async def configs(self, stream_ids: Collection[str] | None = None) -> dict[str, StoredConfig]:
        """The stored configs (of ``stream_ids``, or every one), by stream id."""

    async def config_stamps(self) -> dict[str, float]:
        """When each stored config was last set, by stream id: what a reader compares to re-read only the
        configs that changed (a few bytes a stream rather than its config)."""


# -- rows → records (both databases; each passes its own time conversions) ----------------------------------
class Row(Protocol):
    """A database row by column name (``sqlite3.Row``, ``asyncpg.Record``)."""

    def __getitem__(self, key: str) -> Any: ...


def delivery_from_row(row: Row, claim: str) -> Delivery:
    return Delivery(
        moment=Moment.from_dict(orjson.loads(row["moment"])),
        destination=Destination.model_validate_json(row["target"]),
        revision=row["revision"],
        sent_revision=row["sent_revision"],
        remote_id=row["remote_id"],
        attempts=row["attempts"],
        claim=claim,
    )


def record_from_row(
    row: Row,
    next_attempt_at: float,
    created_at: float,
    updated_at: float,
    delivered_at: float | None,
) -> DeliveryRecord:
    return DeliveryRecord(
        moment_id=row["moment_id"],
        destination=row["destination"],
        stream_id=row["stream_id"],
        kind=row["kind"],
        state=row["state"],
        reason=row["reason"],
        revision=row["revision"],
        sent_revision=row["sent_revision"],
        remote_id=row["remote_id"],
        attempts=row["attempts"],
        next_attempt_at=next_attempt_at,
        created_at=created_at,
        updated_at=updated_at,
        delivered_at=delivered_at,
    )


def attempt_from_row(row: Row, at: float) -> AttemptRecord:
    return AttemptRecord(
        moment_id=row["moment_id"],
        destination=row["destination"],
        revision=row["revision"],
        attempt=row["attempt"],
        at=at,
        outcome=row["outcome"],
        status=row["status"],
        error=row["error"],
        duration_ms=row["duration_ms"],
    )


def config_json(config: AlertConfig) -> str:
    """A config as stored: the CR's JSON (camelCase, unset fields left out)."""
    return config.model_dump_json(by_alias=True, exclude_none=True)


def config_from_row(row: Row, updated_at: float) -> StoredConfig:
    return StoredConfig(
        stream_id=row["stream_id"],
        config=AlertConfig.model_validate_json(row["config"]),
        origin=row["origin"],
        updated_at=updated_at,
    )


def backoff(attempt: int, rng: random.Random, *, base: float = 1.0, cap: float = 30.0) -> float:
    """Seconds before retry number ``attempt`` (1 after the first failure): exponential, capped, with "equal
    jitter" (half fixed, half uniform), so retries of many rows failing together spread out while each still
    waits at least half its step. Deterministic for a seeded ``rng``."""
    step = min(cap, base * 2.0 ** max(0, attempt - 1))
    return step / 2 + rng.uniform(0, step / 2)


def open_outbox(url: str, *, pool_size: int = 4, timeout: float = 2.0) -> Outbox:
    """``sqlite:///PATH`` or ``postgresql://…``, like :func:`~telemetra.services.storage.open_store` (the
    outbox may share the store's database: its tables and migration history are its own)."""
    if url.startswith("sqlite:"):
        from telemetra.services.alerts.sqlite import SqliteOutbox
        from telemetra.services.settings import sqlite_path

        return SqliteOutbox(sqlite_path(url), timeout=max(timeout, 5.0))
    if url.startswith(("postgresql://", "postgres://")):
        from telemetra.services.alerts.postgres import PostgresOutbox

        return PostgresOutbox(url, pool_size=pool_size, timeout=timeout)
    scheme = url.partition(":")[0] or url
    raise ValueError(f"unsupported outbox URL scheme {scheme!r}: use sqlite:///PATH or postgresql://…")
