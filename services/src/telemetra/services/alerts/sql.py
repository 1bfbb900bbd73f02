"""The outbox's statements, written once for both dialects (see ``outbox.py`` for what they do).

Placeholders are PostgreSQL's (``$1``); :func:`for_sqlite` turns them into SQLite's numbered ``?1`` and the
PostgreSQL spellings below into SQLite's: times are ``TIMESTAMPTZ`` there and epoch milliseconds here
(columns ``*_ms``), JSON is ``JSONB`` there and text here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Final

import orjson

from telemetra.records import parse_ts
from telemetra.services.alerts.outbox import Offer, Settlement

MIGRATIONS: Final = "telemetra.services.alerts.migrations"
HISTORY: Final = "alert_schema_migrations"

# A known row's update when the same moment is offered again. In ON CONFLICT … DO UPDATE every expression
# reads the row as it was, so each condition below sees the old state.
_GREW = "excluded.peak_at > o.peak_at"
_REOPEN = f"({_GREW} AND o.state = 'delivered' AND o.editable)"  # a sent alert to edit
_BUMP = f"({_GREW} AND (o.state = 'pending' OR (o.state = 'delivered' AND o.editable)))"
_LIMITED = (
    "($11::int IS NOT NULL AND (SELECT count(*) FROM alert_outbox x WHERE x.stream_id = $3"
    " AND x.destination = $2 AND x.state <> 'suppressed' AND x.created_at > $12) >= $11)"
)
OFFER: Final = f"""
INSERT INTO alert_outbox AS o (moment_id, destination, stream_id, kind, target, editable, moment, peak_at,
    state, reason, next_attempt_at, created_at, updated_at)
SELECT $1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8,
    CASE WHEN $10 OR {_LIMITED} THEN 'suppressed' ELSE 'pending' END,
    CASE WHEN $10 THEN 'quiet hours' WHEN {_LIMITED} THEN 'rate limit' END,
    $9, $9, $9
WHERE true
ON CONFLICT (moment_id, destination) DO UPDATE SET
    moment = CASE WHEN excluded.peak_at >= o.peak_at THEN excluded.moment ELSE o.moment END,
    target = excluded.target,
    editable = excluded.editable,
    peak_at = GREATEST(o.peak_at, excluded.peak_at),
    revision = o.revision + CASE WHEN {_BUMP} THEN 1 ELSE 0 END,
    state = CASE WHEN {_REOPEN} THEN 'pending' ELSE o.state END,
    reason = CASE WHEN {_REOPEN} THEN NULL ELSE o.reason END,
    attempts = CASE WHEN {_REOPEN} THEN 0 ELSE o.attempts END,
    next_attempt_at = CASE WHEN {_REOPEN} THEN excluded.next_attempt_at ELSE o.next_attempt_at END,
    updated_at = excluded.updated_at
"""

CLAIM: Final = """
UPDATE alert_outbox SET lease_owner = $3, lease_until = $4, claim = $5
WHERE (moment_id, destination) IN (
    SELECT moment_id, destination FROM alert_outbox
    WHERE state = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
    ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED
)
RETURNING moment, target, revision, sent_revision, remote_id, attempts
"""

_RELEASE = "lease_owner = NULL, lease_until = NULL, claim = NULL, updated_at = $4"
_MINE = "WHERE moment_id = $1 AND destination = $2 AND claim = $3"
# $5 the revision sent, $6 Discord's message id. A row that grew while it was being sent stays pending (the
# newer revision goes next) where the destination can edit.
SETTLE_DELIVERED: Final = f"""
UPDATE alert_outbox SET sent_revision = $5, remote_id = coalesce($6, remote_id), attempts = 0, reason = NULL,
    state = CASE WHEN revision > $5 AND editable THEN 'pending' ELSE 'delivered' END,
    delivered_at = $4, next_attempt_at = $4, {_RELEASE}
{_MINE}
"""
SETTLE_RETRY: Final = f"""
UPDATE alert_outbox SET attempts = attempts + 1, reason = $5, next_attempt_at = $6, {_RELEASE}
{_MINE}
"""
SETTLE_DEAD: Final = f"""
UPDATE alert_outbox SET attempts = attempts + 1, reason = $5, state = 'dead', {_RELEASE}
{_MINE}
"""
LOG_ATTEMPT: Final = """
INSERT INTO alert_attempts (moment_id, destination, revision, attempt, at, outcome, status, error, duration_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""
REQUEUE: Final = """
UPDATE alert_outbox SET state = 'pending', attempts = 0, reason = NULL, next_attempt_at = $3, updated_at = $3,
    lease_owner = NULL, lease_until = NULL, claim = NULL
WHERE moment_id = $1 AND destination = $2 AND state = 'dead'
"""
# $4-$6: the keyset position after which a page starts (the last row of the previous page), or NULLs.
DELIVERIES: Final = """
SELECT * FROM alert_outbox
WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR stream_id = $2)
    AND ($4::timestamptz IS NULL OR updated_at < $4
        OR (updated_at = $4 AND (moment_id, destination) > ($5::text, $6::text)))
ORDER BY updated_at DESC, moment_id, destination LIMIT $3
"""
DELIVERY: Final = "SELECT * FROM alert_outbox WHERE moment_id = $1 AND destination = $2"
ATTEMPTS: Final = "SELECT * FROM alert_attempts WHERE moment_id = $1 AND destination = $2 ORDER BY id"
COUNTS: Final = "SELECT state, count(*) AS n FROM alert_outbox GROUP BY state"
SET_CONFIG: Final = """
INSERT INTO alert_configs (stream_id, config, origin, updated_at) VALUES ($1, $2::jsonb, $3, $4)
ON CONFLICT (stream_id) DO UPDATE SET config = excluded.config, origin = excluded.origin,
    updated_at = excluded.updated_at
"""
DELETE_CONFIG: Final = "DELETE FROM alert_configs WHERE stream_id = $1"
CONFIGS: Final = "SELECT stream_id, config, origin, updated_at FROM alert_configs ORDER BY stream_id"
CONFIGS_OF: Final = (
    "SELECT stream_id, config, origin, updated_at FROM alert_configs WHERE stream_id = ANY($1::text[])"
)
CONFIG_STAMPS: Final = "SELECT stream_id, updated_at FROM alert_configs"

_TIME_COLUMNS = (
    "peak_at", "next_attempt_at", "lease_until", "created_at", "updated_at", "delivered_at", "at",
)  # fmt: skip
_TIME = re.compile(r"\b(" + "|".join(_TIME_COLUMNS) + r")\b")


def for_sqlite(sql: str) -> str:
    """The same statement in SQLite's dialect: ``?N`` placeholders, no casts, ``max`` for ``GREATEST``, no
    row locks (SQLite has one writer at a time), and the ``*_ms`` time columns."""
    sql = re.sub(r"\$(\d+)(::\w+)?", r"?\1", sql)
    sql = sql.replace("GREATEST(", "max(").replace(" FOR UPDATE SKIP LOCKED", "")
    return _TIME.sub(r"\1_ms", sql)


def offer_params(offer: Offer, now: float, time: Callable[[float], Any]) -> tuple[Any, ...]:
    """:data:`OFFER`'s parameters; ``time`` converts epoch seconds to the dialect's time values."""
    moment, destination = offer.moment, offer.target.destination
    limit = destination.rate_limit
    return (
        moment.moment_id,
        destination.name,
        moment.stream_id,
        moment.kind,
        destination.model_dump_json(by_alias=True, exclude_none=True),
        destination.editable,
        orjson.dumps(moment.to_dict()).decode(),
        time(parse_ts(moment.peak_at)),
        time(now),
        offer.target.quiet,
        limit.max if limit else None,
        time(now - limit.per_seconds) if limit else None,
    )


def settle_params(
    settlements: Sequence[Settlement], time: Callable[[float], Any]
) -> tuple[list[tuple[str, tuple[Any, ...]]], list[tuple[Any, ...]]]:
    """Per settlement, its statement (``delivered``, ``retry``, ``dead``) with parameters; and the delivery
    log's rows."""
    updates: list[tuple[str, tuple[Any, ...]]] = []
    log: list[tuple[Any, ...]] = []
    for s in settlements:
        d = s.delivery
        key = (d.moment.moment_id, d.destination.name, d.claim, time(s.at))
        if s.outcome == "delivered":
            updates.append((s.outcome, (*key, d.revision, s.remote_id)))
        elif s.outcome == "retry":
            if s.retry_at is None:
                raise ValueError("a retry needs its time")
            updates.append((s.outcome, (*key, s.error, time(s.retry_at))))
        else:
            updates.append((s.outcome, (*key, s.error)))
        log.append((
            d.moment.moment_id, d.destination.name, d.revision, d.attempts + 1, time(s.at), s.outcome,
            s.status, s.error, round(s.duration_s * 1000, 3),
        ))  # fmt: skip
    return updates, log
