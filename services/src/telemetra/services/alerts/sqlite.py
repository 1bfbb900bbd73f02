"""The outbox in SQLite (the embedded demo): the store's thread-confined connection, one writer at a time, so
a claim never hands a row to two dispatchers (``BEGIN IMMEDIATE`` serialises them across processes too)."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from typing import TypeVar

import orjson

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
from telemetra.services.storage import migrations
from telemetra.services.storage.codec import to_ms
from telemetra.services.storage.sqlite import SqliteDatabase, _statements, _transaction

T = TypeVar("T")
_OFFER = sql.for_sqlite(sql.OFFER)
_CLAIM = sql.for_sqlite(sql.CLAIM)
_SETTLE = {
    "delivered": sql.for_sqlite(sql.SETTLE_DELIVERED),
    "retry": sql.for_sqlite(sql.SETTLE_RETRY),
    "dead": sql.for_sqlite(sql.SETTLE_DEAD),
}
_LOG = sql.for_sqlite(sql.LOG_ATTEMPT)
_SET_CONFIG = sql.for_sqlite(sql.SET_CONFIG)
_DELETE_CONFIG = sql.for_sqlite(sql.DELETE_CONFIG)
_CONFIGS = sql.for_sqlite(sql.CONFIGS)
_CONFIGS_OF = _CONFIGS.replace(" ORDER BY", " WHERE stream_id IN (SELECT value FROM json_each(?1)) ORDER BY")
_CONFIG_STAMPS = sql.for_sqlite(sql.CONFIG_STAMPS)


def _migrate(db: sqlite3.Connection) -> None:
    def work() -> None:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {sql.HISTORY}"
            " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)"
        )
        applied = {row[0] for row in db.execute(f"SELECT version FROM {sql.HISTORY}")}
        for migration in migrations.pending("sqlite", applied, sql.MIGRATIONS):
            for statement in _statements(migration.sql):
                db.execute(statement)
            db.execute(
                f"INSERT INTO {sql.HISTORY} VALUES (?, ?, ?)",
                (migration.version, migration.name, to_ms(time.time())),
            )

    _transaction(db, work)


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def _record(row: sqlite3.Row) -> DeliveryRecord:
    return record_from_row(
        row,
        row["next_attempt_at_ms"] / 1000,
        row["created_at_ms"] / 1000,
        row["updated_at_ms"] / 1000,
        _seconds(row["delivered_at_ms"]),
    )


def _attempt(row: sqlite3.Row) -> AttemptRecord:
    return attempt_from_row(row, row["at_ms"] / 1000)


class SqliteOutbox(SqliteDatabase):
    """The outbox in SQLite (the demo's database file): its own migration series, the store's connections."""

    what = "outbox"
    migrate = staticmethod(_migrate)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def work(db: sqlite3.Connection) -> T:
            result: list[T] = []
            _transaction(db, lambda: result.append(fn(db)))
            return result[0]

        return await self._connections()[0].run(work)

    # -- writes ------------------------------------------------------------------------------------------
    async def offer(self, offers: Sequence[Offer], now: float) -> OfferResult:
        rows = [sql.offer_params(o, now, to_ms) for o in offers]

        def work(db: sqlite3.Connection) -> OfferResult:
            queued = suppressed = existing = 0
            for row in rows:
                known = db.execute(
                    "SELECT 1 FROM alert_outbox WHERE moment_id = ? AND destination = ?", row[:2]
                ).fetchone()
                db.execute(_OFFER, row)
                if known:
                    existing += 1
                    continue
                state = db.execute(
                    "SELECT state FROM alert_outbox WHERE moment_id = ? AND destination = ?", row[:2]
                ).fetchone()[0]
                queued += state == "pending"
                suppressed += state == "suppressed"
            return OfferResult(queued, suppressed, existing)

        return await self._write(work) if rows else OfferResult()

    async def claim(self, owner: str, limit: int, now: float, lease: float) -> list[Delivery]:
        token = uuid.uuid4().hex

        def work(db: sqlite3.Connection) -> list[Delivery]:
            rows = db.execute(_CLAIM, (to_ms(now), limit, owner, to_ms(now + lease), token)).fetchall()
            return [delivery_from_row(row, token) for row in rows]

        return await self._write(work)

    async def settle(self, settlements: Sequence[Settlement]) -> int:
        updates, log = sql.settle_params(settlements, to_ms)

        def work(db: sqlite3.Connection) -> int:
            changed = sum(db.execute(_SETTLE[kind], params).rowcount for kind, params in updates)
            db.executemany(_LOG, log)
            return changed

        return await self._write(work) if settlements else 0

    async def requeue(self, moment_id: str, destination: str, now: float) -> bool:
        statement = sql.for_sqlite(sql.REQUEUE)
        return await self._write(
            lambda db: db.execute(statement, (moment_id, destination, to_ms(now))).rowcount > 0
        )

    async def set_config(self, stream_id: str, config: AlertConfig | None, origin: str, now: float) -> None:
        if config is None:
            await self._write(lambda db: db.execute(_DELETE_CONFIG, (stream_id,)))
        else:
            params = (stream_id, config_json(config), origin, to_ms(now))
            await self._write(lambda db: db.execute(_SET_CONFIG, params))

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
            else (to_ms(after.updated_at), after.moment_id, after.destination)
        )
        statement = sql.for_sqlite(sql.DELIVERIES)
        params = (state, stream_id, limit, *position)
        rows = await self._read(lambda db: db.execute(statement, params).fetchall())
        return [_record(row) for row in rows]

    async def delivery(self, moment_id: str, destination: str) -> DeliveryRecord | None:
        statement = sql.for_sqlite(sql.DELIVERY)
        row = await self._read(lambda db: db.execute(statement, (moment_id, destination)).fetchone())
        return None if row is None else _record(row)

    async def attempts(self, moment_id: str, destination: str) -> list[AttemptRecord]:
        statement = sql.for_sqlite(sql.ATTEMPTS)
        rows = await self._read(lambda db: db.execute(statement, (moment_id, destination)).fetchall())
        return [_attempt(row) for row in rows]

    async def counts(self) -> dict[State, int]:
        rows = await self._read(lambda db: db.execute(sql.COUNTS).fetchall())
        found = {row[0]: row[1] for row in rows}
        return {state: found.get(state, 0) for state in STATES}

    async def configs(self, stream_ids: Collection[str] | None = None) -> dict[str, StoredConfig]:
        if stream_ids is None:
            rows = await self._read(lambda db: db.execute(_CONFIGS).fetchall())
        else:
            wanted = (orjson.dumps(list(stream_ids)).decode(),)
            rows = await self._read(lambda db: db.execute(_CONFIGS_OF, wanted).fetchall())
        return {row["stream_id"]: config_from_row(row, row["updated_at_ms"] / 1000) for row in rows}

    async def config_stamps(self) -> dict[str, float]:
        rows = await self._read(lambda db: db.execute(_CONFIG_STAMPS).fetchall())
        return {row["stream_id"]: row["updated_at_ms"] / 1000 for row in rows}
