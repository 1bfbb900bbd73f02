"""PostgreSQL store over an asyncpg pool.

Reconnection is the pool's: a connection the server dropped is replaced on the next acquire, so after a
restart of PostgreSQL the store recovers by itself; an operation that hit a connection dropped under it is
retried once on a fresh one (every operation is idempotent: upserts and reads). If PostgreSQL is down at
start-up, the pool is created (and migrations applied) by the first call that finds it back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
import orjson

from telemetra.records import DeadLetter, Moment, StreamDescription, WindowMetrics, parse_ts
from telemetra.services.storage import listing, migrations
from telemetra.services.storage.base import (
    META_FIELDS,
    HypeInputs,
    MomentPosition,
    StoredDeadLetter,
    StoreUnavailable,
    StreamQuery,
    StreamRecord,
    StreamsPage,
    WindowsPage,
)
from telemetra.services.storage.codec import (
    DEAD_LETTER_COLUMNS,
    JSON_FIELDS,
    WINDOW_VALUE_FIELDS,
    dead_letter_from_values,
    dead_letter_values,
    moment_from_values,
    moment_times,
    newest_per_stream,
    stream_geometry,
    window_from_values,
    window_values,
)

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn = PoolConnectionProxy[asyncpg.Record]

T = TypeVar("T")
log = logging.getLogger("telemetra.services.store")

# Errors meaning "the server cannot be used right now"; anything else (bad SQL, constraint) is a bug.
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.InterfaceError,
)
MIGRATION_LOCK = 0x7E1E_3E7A  # pg_advisory_xact_lock key: replicas starting together migrate one at a time

_WINDOW_COLUMNS = ("stream_id", "window_start", "window_end", *WINDOW_VALUE_FIELDS, "document")
_UPSERT_WINDOW = (
    f"INSERT INTO window_metrics ({', '.join(_WINDOW_COLUMNS)}) VALUES ("
    + ", ".join(f"${i}::jsonb" if c in JSON_FIELDS else f"${i}" for i, c in enumerate(_WINDOW_COLUMNS, 1))
    + ") ON CONFLICT (stream_id, window_start) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _WINDOW_COLUMNS[2:])
)
_MOMENT_COLUMNS = (
    "moment_id", "stream_id", "kind", "start_at", "end_at", "metric", "value", "baseline", "score",
    "threshold", "description", "peak_at", "detected_at", "ongoing", "rank",
    "offset_seconds", "vod_url",
)  # fmt: skip
# The cross-channel view's inputs (base.HypeInputs), "now" being the end of each stream's newest closed window.
_HYPE_INPUTS = """
WITH s AS (
    SELECT stream_id, title, category, viewers, chat_rate, last_activity,
           latest_window_start + make_interval(secs => coalesce(window_seconds, 60)) AS now_at
    FROM streams WHERE last_activity >= $1
)
SELECT stream_id, title, category, viewers, chat_rate,
    (SELECT avg(w.chat_rate) FROM window_metrics w WHERE w.stream_id = s.stream_id
        AND w.window_start >= s.now_at - make_interval(secs => $2)
        AND w.window_start < s.now_at - make_interval(secs => $3)),
    (SELECT count(*) FROM moments m WHERE m.stream_id = s.stream_id
        AND m.end_at >= s.now_at - make_interval(secs => $3)),
    (SELECT max(m.rank) FROM moments m WHERE m.stream_id = s.stream_id
        AND m.end_at >= s.now_at - make_interval(secs => $3)),
    last_activity
FROM s
"""
_UPSERT_MOMENT = (
    f"INSERT INTO moments ({', '.join(_MOMENT_COLUMNS)}) VALUES ("
    + ", ".join(f"${i}" for i in range(1, len(_MOMENT_COLUMNS) + 1))
    + ") ON CONFLICT (moment_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _MOMENT_COLUMNS[1:])
)
_TOUCH_STREAM = (
    "INSERT INTO streams (stream_id, first_seen, last_activity) VALUES ($1, $2, $2)"
    " ON CONFLICT (stream_id) DO UPDATE SET last_activity = GREATEST(streams.last_activity, excluded.last_activity)"
)
_REGISTER_STREAM = (
    "INSERT INTO streams (stream_id, first_seen, last_activity) VALUES ($1, $2, $2) ON CONFLICT DO NOTHING"
)
# With a stream's newest window in a batch, what the listing sorts by: unless the stream has a newer one.
_OLDER = "streams.latest_window_start > excluded.latest_window_start"
_TOUCH_STREAM_WINDOW = (
    "INSERT INTO streams (stream_id, first_seen, last_activity, latest_window_start, viewers, chat_rate)"
    " VALUES ($1, $2, $2, $3, $4, $5) ON CONFLICT (stream_id) DO UPDATE SET"
    " last_activity = GREATEST(streams.last_activity, excluded.last_activity),"
    " latest_window_start = GREATEST(streams.latest_window_start, excluded.latest_window_start),"
    f" viewers = CASE WHEN {_OLDER} THEN streams.viewers ELSE excluded.viewers END,"
    f" chat_rate = CASE WHEN {_OLDER} THEN streams.chat_rate ELSE excluded.chat_rate END"
)
_DEAD_LETTER_COLUMNS = (*DEAD_LETTER_COLUMNS, "stored_at")
_UPSERT_DEAD_LETTER = (
    f"INSERT INTO dead_letters ({', '.join(_DEAD_LETTER_COLUMNS)}) VALUES ("
    + ", ".join(f"${i}" for i in range(1, len(_DEAD_LETTER_COLUMNS) + 1))
    + ") ON CONFLICT (letter_id) DO UPDATE SET "  # a replay: same row, first stored_at kept
    + ", ".join(f"{c} = excluded.{c}" for c in DEAD_LETTER_COLUMNS[1:])
)
_COUNT_DEAD_LETTERS = "SELECT stream_id, count(*) AS n FROM dead_letters GROUP BY stream_id"
_COUNT_DEAD_LETTERS_OF = (
    "SELECT stream_id, count(*) AS n FROM dead_letters WHERE stream_id = ANY($1::text[]) GROUP BY stream_id"
)
_LATEST_WINDOWS = (
    "SELECT w.* FROM unnest($1::text[]) AS s(stream_id) CROSS JOIN LATERAL (SELECT * FROM window_metrics x"
    " WHERE x.stream_id = s.stream_id ORDER BY x.window_start DESC LIMIT 1) w"
)
_LATEST_MOMENTS = (
    "SELECT m.* FROM unnest($1::text[]) AS s(stream_id) CROSS JOIN LATERAL (SELECT * FROM moments x"
    " WHERE x.stream_id = s.stream_id ORDER BY x.start_at DESC, x.moment_id DESC LIMIT 1) m"
)


# A page of windows as the API's JSON: each row's stored document (or, for rows written before documents were,
# the same record built from the columns, bounds as in ``codec.window_time``), the rows selected (one more than
# the page, to tell whether another follows) and the page's last start.
_WINDOW_JSON = ", ".join(
    f"'{name}', "
    + (
        f"to_char({name} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        if name in ("window_start", "window_end")
        else name
    )
    for name in ("stream_id", "window_start", "window_end", *WINDOW_VALUE_FIELDS)
)
_WINDOWS_PAGE = f"""
WITH page AS (
    SELECT *, row_number() OVER (ORDER BY window_start) AS n FROM (
        SELECT * FROM window_metrics
        WHERE stream_id = $1 AND window_start >= $2 AND window_start < $3
            AND ($4 = 0 OR extract(epoch FROM window_start)::bigint % $4 = 0)
        ORDER BY window_start LIMIT $5 + 1
    ) selected
)
SELECT '[' || coalesce(string_agg(coalesce(document, json_build_object({_WINDOW_JSON})::text), ','
                        ORDER BY window_start) FILTER (WHERE n <= $5), '') || ']' AS items,
       count(*) AS count,
       extract(epoch FROM max(window_start) FILTER (WHERE n <= $5)) AS last_start
FROM page
"""


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


DIALECT = listing.Dialect(
    param=lambda n: f"${n}",
    last_activity="last_activity",
    time=_dt,
    epoch=lambda value: float(value.timestamp()),
)


def _window(row: asyncpg.Record) -> WindowMetrics:
    return window_from_values(
        row["stream_id"], row["window_start"].timestamp(), row["window_end"].timestamp(), row
    )


def _dead_letter(row: asyncpg.Record) -> StoredDeadLetter:
    return StoredDeadLetter(dead_letter_from_values(row), row["stored_at"].timestamp())


def _moment(row: asyncpg.Record) -> Moment:
    times = (
        row["start_at"].timestamp(),
        row["end_at"].timestamp(),
        row["peak_at"].timestamp(),
        row["detected_at"].timestamp(),
    )
    return moment_from_values(dict(row), times)


class PostgresDatabase:
    """A lazily connected asyncpg pool that applies its migrations on connect, shared by the store and the alert
    outbox (each with its own series and history table). Unreachable: :class:`StoreUnavailable`, failing fast
    for ``retry_after`` seconds between attempts (no connect storm); a dropped pooled connection is retried once."""

    name = "postgres"
    history = "schema_migrations"  # the history table of this database's migration series
    migrations_package: str | None = None  # the series (None: the store's)
    migration_lock = MIGRATION_LOCK  # pg_advisory_xact_lock key: replicas starting together migrate in turn

    def __init__(self, dsn: str, *, pool_size: int = 8, timeout: float = 2.0, retry_after: float = 1.0):
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
            if time.monotonic() < self._next_attempt:  # fail fast between attempts: no connect storm
                raise StoreUnavailable(f"postgres: {self._last_error}")
            self._pool = await self._create_pool()
            return self._pool

    def _existing(self) -> asyncpg.Pool | None:
        return self._pool

    async def _create_pool(self) -> asyncpg.Pool:
        try:
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self._pool_size,
                timeout=self._timeout,
                command_timeout=max(self._timeout, 5.0),
            )
        except UNAVAILABLE as error:
            raise self._unreachable(error) from error
        try:
            async with pool.acquire() as connection:
                await self._migrate(connection)
        except UNAVAILABLE as error:
            pool.terminate()
            raise self._unreachable(error) from error
        except BaseException:
            pool.terminate()
            raise
        return pool

    def _unreachable(self, error: BaseException) -> StoreUnavailable:
        self._next_attempt = time.monotonic() + self._retry_after
        self._last_error = _describe(error)
        return StoreUnavailable(f"postgres: {self._last_error}")

    async def _migrate(self, connection: Conn) -> None:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", self.migration_lock)
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {self.history}"
                " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            applied = {row[0] for row in await connection.fetch(f"SELECT version FROM {self.history}")}
            for migration in migrations.pending("postgres", applied, self.migrations_package):
                await connection.execute(migration.sql)
                await connection.execute(
                    f"INSERT INTO {self.history} (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
                log.info(
                    "migration applied",
                    extra={"store": "postgres", "series": self.history, "version": migration.version},
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
                    continue  # a pooled connection the server closed (e.g. after a restart): try a fresh one
                raise StoreUnavailable(f"postgres: {self._last_error}") from error
        raise AssertionError("unreachable")


class PostgresStore(PostgresDatabase):
    """The store: windows, moments, dead letters and the stream listing (``Store``)."""

    async def ping(self) -> None:
        await self._run(lambda c: c.fetchval("SELECT 1"))

    # -- writes ------------------------------------------------------------------------------------------
    async def upsert_windows(self, windows: Sequence[WindowMetrics], seen_at: float) -> None:
        rows = [
            (
                w.stream_id,
                _dt(parse_ts(w.window_start)),
                _dt(parse_ts(w.window_end)),
                *window_values(w),
                orjson.dumps(w).decode(),
            )
            for w in windows
        ]
        at = _dt(seen_at)
        touches = [
            (w.stream_id, at, _dt(parse_ts(w.window_start)), w.viewers, w.chat_rate)
            for w in sorted(newest_per_stream(windows).values(), key=lambda w: w.stream_id)
        ]
        await self._upsert(_UPSERT_WINDOW, rows, _TOUCH_STREAM_WINDOW, touches)

    async def upsert_moments(self, moments: Sequence[Moment], seen_at: float) -> None:
        rows = []
        for m in moments:
            start, end, peak_at, detected_at = (_dt(t) for t in moment_times(m))
            rows.append((
                m.moment_id, m.stream_id, m.kind, start, end, m.metric, m.value, m.baseline, m.score,
                m.threshold, m.description, peak_at, detected_at, m.ongoing, m.rank,
                m.offset_seconds, m.vod_url,
            ))  # fmt: skip
        touches = [(s, _dt(seen_at)) for s in sorted({m.stream_id for m in moments})]
        await self._upsert(_UPSERT_MOMENT, rows, _TOUCH_STREAM, touches)

    async def _upsert(
        self, sql: str, rows: list[tuple[Any, ...]], touch: str, touches: list[tuple[Any, ...]]
    ) -> None:
        """Upsert ``rows`` and touch their streams (in one transaction)."""
        if not rows:
            return

        async def work(connection: Conn) -> None:
            async with connection.transaction():
                await connection.executemany(sql, rows)
                await connection.executemany(touch, touches)

        await self._run(work)

    async def register_streams(self, stream_ids: Sequence[str], seen_at: float) -> None:
        rows = [(s, _dt(seen_at)) for s in sorted(set(stream_ids))]
        if rows:
            await self._run(lambda c: c.executemany(_REGISTER_STREAM, rows))

    async def set_stream_meta(
        self,
        stream_id: str,
        title: str | None,
        category: str | None,
        *,
        fields: Collection[str] = META_FIELDS,
    ) -> bool:
        values = (stream_id, "title" in fields, title, "category" in fields, category)
        status = await self._run(
            lambda c: c.execute(
                "UPDATE streams SET title = CASE WHEN $2::boolean THEN $3::text ELSE title END,"
                " category = CASE WHEN $4::boolean THEN $5::text ELSE category END WHERE stream_id = $1",
                *values,
            )
        )
        return bool(status != "UPDATE 0")

    async def describe_stream(self, description: StreamDescription) -> bool:
        d = description
        status = await self._run(
            lambda c: c.execute(
                "UPDATE streams SET window_seconds = $2, slide_seconds = $3, title = coalesce($4, title),"
                " category = coalesce($5, category) WHERE stream_id = $1",
                d.stream_id,
                d.window_seconds,
                d.slide_seconds,
                d.title,
                d.category,
            )
        )
        return bool(status != "UPDATE 0")

    async def upsert_dead_letters(self, letters: Sequence[DeadLetter], seen_at: float) -> None:
        rows = [(*dead_letter_values(letter), _dt(seen_at)) for letter in letters]
        if not rows:
            return

        async def work(connection: Conn) -> None:
            async with connection.transaction():
                await connection.executemany(_UPSERT_DEAD_LETTER, rows)

        await self._run(work)

    async def delete_stream(self, stream_id: str) -> bool:
        async def work(connection: Conn) -> bool:
            async with connection.transaction():
                await connection.execute("DELETE FROM window_metrics WHERE stream_id = $1", stream_id)
                await connection.execute("DELETE FROM moments WHERE stream_id = $1", stream_id)
                letters = await connection.execute("DELETE FROM dead_letters WHERE stream_id = $1", stream_id)
                status = await connection.execute("DELETE FROM streams WHERE stream_id = $1", stream_id)
            return status != "DELETE 0" or letters != "DELETE 0"

        return await self._run(work)

    # -- reads -------------------------------------------------------------------------------------------
    async def list_streams(self, query: StreamQuery) -> StreamsPage:
        async def work(connection: Conn) -> StreamsPage:
            sql, args = listing.page_sql(DIALECT, query)
            rows = await connection.fetch(sql, *args)
            streams = await self._streams(connection, rows[: query.limit])
            page = StreamsPage(streams, listing.next_position(DIALECT, query, rows))
            if not query.count:
                return page
            sql, args = listing.count_sql(DIALECT, query)
            counts = await connection.fetchrow(sql, *args)
            assert counts is not None  # an aggregate: one row
            return dataclasses.replace(page, total=counts["total"], live_total=counts["live"])

        return await self._run(work)

    async def get_stream(self, stream_id: str) -> StreamRecord | None:
        async def work(connection: Conn) -> list[StreamRecord]:
            rows = await connection.fetch("SELECT * FROM streams WHERE stream_id = $1", stream_id)
            return await self._streams(connection, rows)

        found = await self._run(work)
        return found[0] if found else None

    async def _streams(self, connection: Conn, rows: list[asyncpg.Record]) -> list[StreamRecord]:
        """The records of these ``streams`` rows, with their newest window and moment."""
        if not rows:
            return []
        ids = [row["stream_id"] for row in rows]
        windows = {r["stream_id"]: _window(r) for r in await connection.fetch(_LATEST_WINDOWS, ids)}
        moments = {r["stream_id"]: _moment(r) for r in await connection.fetch(_LATEST_MOMENTS, ids)}
        counts = await self._dead_letter_counts(connection, ids)
        return [
            self._record(row, windows.get(row["stream_id"]), moments.get(row["stream_id"]), counts)
            for row in rows
        ]

    @staticmethod
    def _record(
        row: asyncpg.Record, window: WindowMetrics | None, moment: Moment | None, counts: dict[str, int]
    ) -> StreamRecord:
        window_seconds, slide_seconds = stream_geometry(row)
        return StreamRecord(
            stream_id=row["stream_id"],
            title=row["title"],
            category=row["category"],
            first_seen=row["first_seen"].timestamp(),
            last_activity=row["last_activity"].timestamp(),
            latest_window=window,
            latest_moment=moment,
            window_seconds=window_seconds,
            slide_seconds=slide_seconds,
            dead_letters=counts.get(row["stream_id"], 0),
        )

    @staticmethod
    async def _dead_letter_counts(connection: Conn, ids: list[str] | None) -> dict[str, int]:
        """Per stream id, of ``ids`` (None: of all)."""
        if ids is None:
            rows = await connection.fetch(_COUNT_DEAD_LETTERS)
        else:
            rows = await connection.fetch(_COUNT_DEAD_LETTERS_OF, ids)
        return {row["stream_id"]: row["n"] for row in rows}

    async def windows(
        self, stream_id: str, *, start: float, end: float, align: int, limit: int
    ) -> list[WindowMetrics]:
        sql = (
            "SELECT * FROM window_metrics WHERE stream_id = $1 AND window_start >= $2 AND window_start < $3"
            " AND ($4 = 0 OR extract(epoch FROM window_start)::bigint % $4 = 0)"
            " ORDER BY window_start LIMIT $5"
        )
        rows = await self._run(lambda c: c.fetch(sql, stream_id, _dt(start), _dt(end), align, limit))
        return [_window(row) for row in rows]

    async def windows_page(
        self, stream_id: str, *, start: float, end: float, align: int, limit: int
    ) -> WindowsPage:
        """The JSON is built by PostgreSQL: the rows never become Python objects (bench/results/api.md)."""
        args = (stream_id, _dt(start), _dt(end), align, limit)
        row = await self._run(lambda c: c.fetchrow(_WINDOWS_PAGE, *args))
        assert row is not None  # an aggregate: one row, even for no windows
        items, count, last_start = row["items"], row["count"], row["last_start"]
        return WindowsPage(
            items.encode(),
            min(count, limit),
            count > limit,
            float(last_start) if last_start is not None else None,
        )

    async def moments(
        self,
        stream_id: str,
        *,
        kinds: Sequence[str],
        start: float,
        end: float,
        before: MomentPosition | None,
        limit: int,
    ) -> list[Moment]:
        sql = (
            "SELECT * FROM moments WHERE stream_id = $1 AND start_at < $2 AND end_at >= $3"
            " AND (cardinality($4::text[]) = 0 OR kind = ANY($4::text[]))"
            " AND ($5::timestamptz IS NULL OR start_at < $5 OR (start_at = $5 AND moment_id < $6))"
            " ORDER BY start_at DESC, moment_id DESC LIMIT $7"
        )
        at, last_id = (_dt(before.start), before.moment_id) if before else (None, "")
        args = (stream_id, _dt(end), _dt(start), list(kinds), at, last_id, limit)
        rows = await self._run(lambda c: c.fetch(sql, *args))
        return [_moment(row) for row in rows]

    async def hype_inputs(
        self, live_since: float, recent_seconds: float, baseline_seconds: float
    ) -> list[HypeInputs]:
        args = (_dt(live_since), float(recent_seconds + baseline_seconds), float(recent_seconds))
        rows = await self._run(lambda c: c.fetch(_HYPE_INPUTS, *args))
        return [_hype_inputs(row) for row in rows]

    async def recent_moments(self, stream_id: str, limit: int) -> list[Moment]:
        sql = "SELECT * FROM moments WHERE stream_id = $1 ORDER BY start_at DESC, moment_id DESC LIMIT $2"
        return [_moment(row) for row in await self._run(lambda c: c.fetch(sql, stream_id, limit))]

    async def dead_letters(self, stream_id: str | None, *, limit: int) -> list[StoredDeadLetter]:
        order = " ORDER BY stored_at DESC, letter_id DESC LIMIT $1"
        if stream_id is None:
            rows = await self._run(lambda c: c.fetch("SELECT * FROM dead_letters" + order, limit))
        else:
            sql = "SELECT * FROM dead_letters WHERE stream_id = $2" + order
            rows = await self._run(lambda c: c.fetch(sql, limit, stream_id))
        return [_dead_letter(row) for row in rows]

    async def count_dead_letters(self) -> dict[str, int]:
        return await self._run(lambda c: self._dead_letter_counts(c, None))


def _dropped(error: BaseException) -> bool:
    return isinstance(
        error, asyncpg.ConnectionDoesNotExistError | asyncpg.InterfaceError | asyncpg.AdminShutdownError
    )


def _describe(error: BaseException) -> str:
    """Short, safe reason for logs and /ready (no DSN, no credentials)."""
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:200] if text else type(error).__name__


def _hype_inputs(row: Any) -> HypeInputs:
    stream_id, title, category, viewers, chat_rate, baseline, moments, best_rank, last_activity = row
    return HypeInputs(
        stream_id,
        title,
        category,
        viewers,
        chat_rate,
        baseline,
        moments,
        best_rank,
        last_activity.timestamp(),
    )
