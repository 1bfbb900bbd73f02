"""The outbox in PostgreSQL (``make stack``, the cluster), over an asyncpg pool.

Several dispatcher replicas share it: a claim takes due rows with ``FOR UPDATE SKIP LOCKED`` (replicas
claiming at once get disjoint rows, without waiting for each other) and leases them; a settle counts only
with its claim's token. An offer is one upsert per (moment, destination); offers to the same destination take
a transaction-scoped advisory lock first, so a rate limit counts exactly even when several writers offer at
once. Reconnection follows the store's: a dropped pooled connection is retried once on a fresh one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import asyncpg
import orjson

from telemetra.records import Moment
from telemetra.services.alerts import sql
from telemetra.services.alerts.outbox import (
    STATES,
    AttemptRecord,
    Delivery,
    DeliveryRecord,
    Offer,
    OfferResult,
    Settlement,
    State,
)
from telemetra.services.alerts.rules import Destination
from telemetra.services.storage import StoreUnavailable, migrations
from telemetra.services.storage.postgres import UNAVAILABLE, _describe, _dropped

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


def _delivery(row: asyncpg.Record, claim: str) -> Delivery:
    return Delivery(
        moment=Moment.from_dict(orjson.loads(row["moment"])),
        destination=Destination.model_validate_json(row["target"]),
        revision=row["revision"],
        sent_revision=row["sent_revision"],
        remote_id=row["remote_id"],
        attempts=row["attempts"],
        claim=claim,
    )


def _record(row: asyncpg.Record) -> DeliveryRecord:
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
        next_attempt_at=row["next_attempt_at"].timestamp(),
        created_at=row["created_at"].timestamp(),
        updated_at=row["updated_at"].timestamp(),
        delivered_at=_epoch(row["delivered_at"]),
    )


def _attempt(row: asyncpg.Record) -> AttemptRecord:
    return AttemptRecord(
        moment_id=row["moment_id"],
        destination=row["destination"],
        revision=row["revision"],
        attempt=row["attempt"],
        at=row["at"].timestamp(),
        outcome=row["outcome"],
        status=row["status"],
        error=row["error"],
        duration_ms=row["duration_ms"],
    )


class PostgresOutbox:
    name = "postgres"

    def __init__(self, dsn: str, *, pool_size: int = 4, timeout: float = 2.0, retry_after: float = 1.0):
        self.dsn = dsn
        self._pool_size = pool_size
        self._timeout = timeout
        self._retry_after = retry_after
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._next_attempt = 0.0
        self._last_error = "not connected yet"

    # -- lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self._ensure_pool()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self._timeout)
            except (TimeoutError, *UNAVAILABLE):
                pool.terminate()

    async def _ensure_pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            existing = self._existing()  # another task may have connected while this one waited
            if existing is not None:
                return existing
            if time.monotonic() < self._next_attempt:
                raise StoreUnavailable(f"postgres: {self._last_error}")
            try:
                pool = await asyncpg.create_pool(
                    self.dsn, min_size=1, max_size=self._pool_size, timeout=self._timeout,
                    command_timeout=max(self._timeout, 5.0),
                )  # fmt: skip
            except UNAVAILABLE as error:
                raise self._unreachable(error) from error
            try:
                async with pool.acquire() as connection:
                    await self._migrate(connection)
            except BaseException as error:
                pool.terminate()
                if isinstance(error, UNAVAILABLE):
                    raise self._unreachable(error) from error
                raise
            self._pool = pool
            return pool

    def _existing(self) -> asyncpg.Pool | None:
        return self._pool

    def _unreachable(self, error: BaseException) -> StoreUnavailable:
        self._next_attempt = time.monotonic() + self._retry_after
        self._last_error = _describe(error)
        return StoreUnavailable(f"postgres: {self._last_error}")

    async def _migrate(self, connection: Conn) -> None:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {sql.HISTORY} (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            applied = {row[0] for row in await connection.fetch(f"SELECT version FROM {sql.HISTORY}")}
            for migration in migrations.pending("postgres", applied, sql.MIGRATIONS):
                await connection.execute(migration.sql)
                await connection.execute(
                    f"INSERT INTO {sql.HISTORY} (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )

    async def _run(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        for attempt in range(2):
            pool = await self._ensure_pool()
            try:
                async with pool.acquire(timeout=self._timeout) as connection:
                    return await work(connection)
            except UNAVAILABLE as error:
                self._last_error = _describe(error)
                if attempt == 0 and _dropped(error):
                    continue
                raise StoreUnavailable(f"postgres: {self._last_error}") from error
        raise AssertionError("unreachable")

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
        return [_delivery(row, token) for row in rows]

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

    # -- reads -------------------------------------------------------------------------------------------
    async def deliveries(
        self, *, state: State | None = None, stream_id: str | None = None, limit: int = 100
    ) -> list[DeliveryRecord]:
        rows = await self._run(lambda c: c.fetch(sql.DELIVERIES, state, stream_id, limit))
        return [_record(row) for row in rows]

    async def attempts(self, moment_id: str, destination: str) -> list[AttemptRecord]:
        rows = await self._run(lambda c: c.fetch(sql.ATTEMPTS, moment_id, destination))
        return [_attempt(row) for row in rows]

    async def counts(self) -> dict[State, int]:
        rows = await self._run(lambda c: c.fetch(sql.COUNTS))
        found = {row["state"]: row["n"] for row in rows}
        return {state: found.get(state, 0) for state in STATES}
