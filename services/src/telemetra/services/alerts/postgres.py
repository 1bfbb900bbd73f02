"""The outbox in PostgreSQL (``make stack``, the cluster), over an asyncpg pool.

Several dispatcher replicas share it: a claim takes due rows with ``FOR UPDATE SKIP LOCKED`` (replicas
claiming at once get disjoint rows, without waiting for each other) and leases them; a settle counts only
with its claim's token. An offer is one upsert per (moment, destination); offers to the same destination take
a transaction-scoped advisory lock first, so a rate limit counts exactly even when several writers offer at
once. Reconnection follows the store's: a dropped pooled connection is retried once on a fresh one.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import asyncpg

from telemetra.services.alerts import sql
from telemetra.services.alerts.outbox import (
    STATES,
    AttemptRecord,
    Delivery,
    DeliveryPosition,
    DeliveryRecord,
    Offer,
    OfferResult,
    Settlement,
    State,
    StoredConfig,
    attempt_from_row,
    config_from_row,
    config_json,
    delivery_from_row,
    record_from_row,
)
from telemetra.services.alerts.rules import AlertConfig
from telemetra.services.storage.postgres import PostgresDatabase

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn = PoolConnectionProxy[asyncpg.Record]

T = TypeVar("T")
MIGRATION_LOCK = 0x7E1E_A1E7  # pg_advisory_xact_lock key of the outbox's migrations
_OFFER = sql.OFFER + " RETURNING (xmax = 0) AS inserted, state"
_SETTLE = {"delivered": sql.SETTLE_DELIVERED, "retry": sql.SETTLE_RETRY, "dead": sql.SETTLE_DEAD}


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _lock_key(stream_id: str, destination: str) -> int:
    """A stable 32-bit key per (stream, destination) for ``pg_advisory_xact_lock``."""
    return zlib.crc32(f"telemetra-alerts|{stream_id}|{destination}".encode()) - 2**31


def _record(row: asyncpg.Record) -> DeliveryRecord:
    return record_from_row(
        row,
        row["next_attempt_at"].timestamp(),
        row["created_at"].timestamp(),
        row["updated_at"].timestamp(),
        _epoch(row["delivered_at"]),
    )


def _attempt(row: asyncpg.Record) -> AttemptRecord:
    return attempt_from_row(row, row["at"].timestamp())


class PostgresOutbox(PostgresDatabase):
    """The outbox in PostgreSQL: its own migration series and history table, the store's connection handling."""

    history = sql.HISTORY
    migrations_package = sql.MIGRATIONS
    migration_lock = MIGRATION_LOCK

    def __init__(self, dsn: str, *, pool_size: int = 4, timeout: float = 2.0, retry_after: float = 1.0):
        super().__init__(dsn, pool_size=pool_size, timeout=timeout, retry_after=retry_after)

    # -- writes ------------------------------------------------------------------------------------------
    async def offer(self, offers: Sequence[Offer], now: float) -> OfferResult:
        # Sorted by lock key, so two writers offering the same destinations lock them in the same order.
        rows = sorted(
            (sql.offer_params(o, now, _dt) for o in offers),
            key=lambda row: (_lock_key(row[2], row[1]), row[:2]),
        )
        if not rows:
            return OfferResult()

        async def work(connection: Conn) -> OfferResult:
            queued = suppressed = existing = 0
            async with connection.transaction():
                locked: set[int] = set()
                for row in rows:
                    key = _lock_key(row[2], row[1])
                    if key not in locked:
                        await connection.execute("SELECT pg_advisory_xact_lock($1)", key)
                        locked.add(key)
                    result = await connection.fetchrow(_OFFER, *row)
                    assert result is not None
                    if not result["inserted"]:
                        existing += 1
                    elif result["state"] == "pending":
                        queued += 1
                    else:
                        suppressed += 1
            return OfferResult(queued, suppressed, existing)

        return await self._run(work)

    async def claim(self, owner: str, limit: int, now: float, lease: float) -> list[Delivery]:
        token = uuid.uuid4().hex
        args = (_dt(now), limit, owner, _dt(now + lease), token)
        rows = await self._run(lambda c: c.fetch(sql.CLAIM, *args))
        return [delivery_from_row(row, token) for row in rows]

    async def settle(self, settlements: Sequence[Settlement]) -> int:
        if not settlements:
            return 0
        updates, log = sql.settle_params(settlements, _dt)

        async def work(connection: Conn) -> int:
            changed = 0
            async with connection.transaction():
                for kind, params in updates:
                    status = await connection.execute(_SETTLE[kind], *params)
                    changed += int(status.rsplit(" ", 1)[-1])
                await connection.executemany(sql.LOG_ATTEMPT, log)
            return changed

        return await self._run(work)

    async def requeue(self, moment_id: str, destination: str, now: float) -> bool:
        status = await self._run(lambda c: c.execute(sql.REQUEUE, moment_id, destination, _dt(now)))
        return status != "UPDATE 0"

    async def set_config(self, stream_id: str, config: AlertConfig | None, origin: str, now: float) -> None:
        if config is None:
            await self._run(lambda c: c.execute(sql.DELETE_CONFIG, stream_id))
        else:
            params = (stream_id, config_json(config), origin, _dt(now))
            await self._run(lambda c: c.execute(sql.SET_CONFIG, *params))

    # -- reads -------------------------------------------------------------------------------------------
    async def deliveries(
        self,
        *,
        state: State | None = None,
        stream_id: str | None = None,
        limit: int = 100,
        after: DeliveryPosition | None = None,
    ) -> list[DeliveryRecord]:
        position = (
            (None, None, None)
            if after is None
            else (_dt(after.updated_at), after.moment_id, after.destination)
        )
        rows = await self._run(lambda c: c.fetch(sql.DELIVERIES, state, stream_id, limit, *position))
        return [_record(row) for row in rows]

    async def delivery(self, moment_id: str, destination: str) -> DeliveryRecord | None:
        row = await self._run(lambda c: c.fetchrow(sql.DELIVERY, moment_id, destination))
        return None if row is None else _record(row)

    async def attempts(self, moment_id: str, destination: str) -> list[AttemptRecord]:
        rows = await self._run(lambda c: c.fetch(sql.ATTEMPTS, moment_id, destination))
        return [_attempt(row) for row in rows]

    async def counts(self) -> dict[State, int]:
        rows = await self._run(lambda c: c.fetch(sql.COUNTS))
        found = {row["state"]: row["n"] for row in rows}
        return {state: found.get(state, 0) for state in STATES}

    async def configs(self, stream_ids: Collection[str] | None = None) -> dict[str, StoredConfig]:
        if stream_ids is None:
            rows = await self._run(lambda c: c.fetch(sql.CONFIGS))
        else:
            rows = await self._run(lambda c: c.fetch(sql.CONFIGS_OF, list(stream_ids)))
        return {row["stream_id"]: config_from_row(row, row["updated_at"].timestamp()) for row in rows}

    async def config_stamps(self) -> dict[str, float]:
        rows = await self._run(lambda c: c.fetch(sql.CONFIG_STAMPS))
        return {row["stream_id"]: row["updated_at"].timestamp() for row in rows}
