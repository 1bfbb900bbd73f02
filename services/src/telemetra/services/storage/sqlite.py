"""SQLite store: the embedded default. One file in WAL mode; a writer thread and a reader thread, each with
its own connection, so a batch of upserts never stalls reads. Every operation is one hop to its thread."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

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
    WINDOW_VALUE_FIELDS,
    dead_letter_from_values,
    dead_letter_values,
    moment_from_values,
    moment_times,
    newest_per_stream,
    stream_geometry,
    to_ms,
    window_from_values,
    window_values,
    windows_page,
)

T = TypeVar("T")
DIALECT = listing.Dialect(
    param=lambda n: f"?{n}",
    last_activity="last_activity_ms",
    time=to_ms,
    epoch=lambda value: float(value) / 1000,
)

_WINDOW_COLUMNS = ("stream_id", "window_start_ms", "window_end_ms", *WINDOW_VALUE_FIELDS)
_UPSERT_WINDOW = (
    f"INSERT INTO window_metrics ({', '.join(_WINDOW_COLUMNS)}) VALUES ({', '.join('?' * len(_WINDOW_COLUMNS))})"
    " ON CONFLICT (stream_id, window_start_ms) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _WINDOW_COLUMNS[2:])
)
_MOMENT_COLUMNS = (
    "moment_id", "stream_id", "kind", "start_ms", "end_ms", "metric", "value", "baseline", "score",
    "threshold", "description", "peak_at_ms", "detected_at_ms", "ongoing", "rank",
    "offset_seconds", "vod_url",
)  # fmt: skip
# The cross-channel view's inputs (base.HypeInputs), "now" being the end of each stream's newest closed window.
_HYPE_INPUTS = """
WITH s AS (
    SELECT stream_id, title, category, viewers, chat_rate, last_activity_ms,
           latest_window_start_ms + coalesce(window_seconds, 60) * 1000 AS now_ms
    FROM streams WHERE last_activity_ms >= ?
)
SELECT stream_id, title, category, viewers, chat_rate,
    (SELECT avg(w.chat_rate) FROM window_metrics w WHERE w.stream_id = s.stream_id
        AND w.window_start_ms >= s.now_ms - ? AND w.window_start_ms < s.now_ms - ?),
    (SELECT count(*) FROM moments m WHERE m.stream_id = s.stream_id AND m.end_ms >= s.now_ms - ?),
    (SELECT max(m.rank) FROM moments m WHERE m.stream_id = s.stream_id AND m.end_ms >= s.now_ms - ?),
    last_activity_ms
FROM s
"""
_UPSERT_MOMENT = (
    f"INSERT INTO moments ({', '.join(_MOMENT_COLUMNS)}) VALUES ({', '.join('?' * len(_MOMENT_COLUMNS))})"
    " ON CONFLICT (moment_id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _MOMENT_COLUMNS[1:])
)
_TOUCH_STREAM = (
    "INSERT INTO streams (stream_id, first_seen_ms, last_activity_ms) VALUES (?, ?, ?)"
    " ON CONFLICT (stream_id) DO UPDATE SET last_activity_ms = max(last_activity_ms, excluded.last_activity_ms)"
)
_REGISTER_STREAM = (
    "INSERT INTO streams (stream_id, first_seen_ms, last_activity_ms) VALUES (?1, ?2, ?2)"
    " ON CONFLICT DO NOTHING"
)
# With a stream's newest window in a batch, what the listing sorts by: unless the stream has a newer one.
_OLDER = "streams.latest_window_start_ms > excluded.latest_window_start_ms"
_TOUCH_STREAM_WINDOW = (
    "INSERT INTO streams (stream_id, first_seen_ms, last_activity_ms, latest_window_start_ms, viewers, chat_rate)"
    " VALUES (?1, ?2, ?2, ?3, ?4, ?5) ON CONFLICT (stream_id) DO UPDATE SET"
    " last_activity_ms = max(streams.last_activity_ms, excluded.last_activity_ms),"
    f" latest_window_start_ms = CASE WHEN {_OLDER} THEN streams.latest_window_start_ms"
    " ELSE excluded.latest_window_start_ms END,"
    f" viewers = CASE WHEN {_OLDER} THEN streams.viewers ELSE excluded.viewers END,"
    f" chat_rate = CASE WHEN {_OLDER} THEN streams.chat_rate ELSE excluded.chat_rate END"
)
_DEAD_LETTER_COLUMNS = (*DEAD_LETTER_COLUMNS, "stored_at_ms")
_UPSERT_DEAD_LETTER = (
    f"INSERT INTO dead_letters ({', '.join(_DEAD_LETTER_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(_DEAD_LETTER_COLUMNS))})"
    " ON CONFLICT (letter_id) DO UPDATE SET "  # a replay: same row, first stored_at kept
    + ", ".join(f"{c} = excluded.{c}" for c in DEAD_LETTER_COLUMNS[1:])
)
# Errors that mean "cannot use the database right now" rather than "this statement is wrong".
_PROGRAMMING_HINTS = ("no such", "syntax error", "has no column", "already exists")


class _Connection:
    """A sqlite3 connection confined to its own thread."""

    def __init__(self, path: Path, timeout: float):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="telemetra-sqlite")
        self._path, self._timeout = path, timeout
        self._db: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(
                self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across crashes of the process
            db.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
            self._db = db
        return self._db

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            return fn(self._open())

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except sqlite3.OperationalError as error:
            if any(hint in str(error) for hint in _PROGRAMMING_HINTS):
                raise
            raise StoreUnavailable(f"sqlite: {error}") from error

    async def close(self) -> None:
        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, close)
        self._executor.shutdown(wait=True)


def _transaction(db: sqlite3.Connection, work: Callable[[], None]) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        work()
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit the surrounding transaction)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buffer.strip()[:80]}")
    return statements


def _migrate(db: sqlite3.Connection) -> list[int]:
    def work() -> None:
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)"
        )
        applied = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
        for migration in migrations.pending("sqlite", applied):
            for statement in _statements(migration.sql):
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                (migration.version, migration.name, to_ms(time.time())),
            )
            done.append(migration.version)

    done: list[int] = []
    _transaction(db, work)
    return done


def _window(row: sqlite3.Row) -> WindowMetrics:
    return window_from_values(
        row["stream_id"], row["window_start_ms"] / 1000, row["window_end_ms"] / 1000, dict(row)
    )


def _moment(row: sqlite3.Row) -> Moment:
    times = (
        row["start_ms"] / 1000,
        row["end_ms"] / 1000,
        row["peak_at_ms"] / 1000,
        row["detected_at_ms"] / 1000,
    )
    return moment_from_values(dict(row), times)


def _dead_letter(row: sqlite3.Row) -> StoredDeadLetter:
    return StoredDeadLetter(dead_letter_from_values(row), row["stored_at_ms"] / 1000)


def _dead_letter_counts(db: sqlite3.Connection, stream_ids: Sequence[str] | None) -> dict[str, int]:
    """Per stream id, of ``stream_ids`` (None: of all)."""
    sql = "SELECT stream_id, count(*) FROM dead_letters"
    if stream_ids is not None:
        sql += f" WHERE stream_id IN ({', '.join('?' * len(stream_ids))})"
    return {row[0]: row[1] for row in db.execute(sql + " GROUP BY stream_id", stream_ids or ())}


def _stream(db: sqlite3.Connection, row: sqlite3.Row, dead_letters: dict[str, int]) -> StreamRecord:
    stream_id = row["stream_id"]
    window_seconds, slide_seconds = stream_geometry(row)
    window = db.execute(
        "SELECT * FROM window_metrics WHERE stream_id = ? ORDER BY window_start_ms DESC LIMIT 1", (stream_id,)
    ).fetchone()
    moment = db.execute(
        "SELECT * FROM moments WHERE stream_id = ? ORDER BY start_ms DESC, moment_id DESC LIMIT 1",
        (stream_id,),
    ).fetchone()
    return StreamRecord(
        stream_id=stream_id,
        title=row["title"],
        category=row["category"],
        first_seen=row["first_seen_ms"] / 1000,
        last_activity=row["last_activity_ms"] / 1000,
        latest_window=_window(window) if window else None,
        latest_moment=_moment(moment) if moment else None,
        window_seconds=window_seconds,
        slide_seconds=slide_seconds,
        dead_letters=dead_letters.get(stream_id, 0),
    )


class SqliteDatabase:
    """One SQLite file through a writer and a reader connection, migrated on start: shared by the store and the
    alert outbox (each with its own migration series). ``migrate`` applies the series on the writer."""

    name = "sqlite"
    what = "store"  # for errors: "sqlite: store not started"
    migrate: Callable[[sqlite3.Connection], object] = staticmethod(_migrate)

    def __init__(self, path: Path, *, timeout: float = 5.0):
        self.path = path
        self._timeout = timeout
        self._writer: _Connection | None = None
        self._reader: _Connection | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._writer is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailable(f"sqlite: cannot create {self.path.parent}: {error}") from error
        writer = _Connection(self.path, self._timeout)
        try:
            await writer.run(self.migrate)
        except BaseException:
            await writer.close()
            raise
        self._writer, self._reader = writer, _Connection(self.path, self._timeout)

    async def close(self) -> None:
        for connection in (self._writer, self._reader):
            if connection is not None:
                await connection.close()
        self._writer = self._reader = None

    def _connections(self) -> tuple[_Connection, _Connection]:
        if self._writer is None or self._reader is None:
            raise StoreUnavailable(f"sqlite: {self.what} not started")
        return self._writer, self._reader

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._connections()[1].run(fn)


class SqliteStore(SqliteDatabase):
    """The store: windows, moments, dead letters and the stream listing (``Store``)."""

    async def _write(self, fn: Callable[[sqlite3.Connection], None]) -> None:
        await self._connections()[0].run(lambda db: _transaction(db, lambda: fn(db)))

    async def ping(self) -> None:
        await self._read(lambda db: db.execute("SELECT 1").fetchone())

    # -- writes ------------------------------------------------------------------------------------------
    async def upsert_windows(self, windows: Sequence[WindowMetrics], seen_at: float) -> None:
        rows = [
            (w.stream_id, to_ms(parse_ts(w.window_start)), to_ms(parse_ts(w.window_end)), *window_values(w))
            for w in windows
        ]
        at = to_ms(seen_at)
        streams = [
            (w.stream_id, at, to_ms(parse_ts(w.window_start)), w.viewers, w.chat_rate)
            for w in sorted(newest_per_stream(windows).values(), key=lambda w: w.stream_id)
        ]

        def work(db: sqlite3.Connection) -> None:
            db.executemany(_UPSERT_WINDOW, rows)
            db.executemany(_TOUCH_STREAM_WINDOW, streams)

        if rows:
            await self._write(work)

    async def upsert_moments(self, moments: Sequence[Moment], seen_at: float) -> None:
        rows = []
        for m in moments:
            start, end, peak_at, detected_at = (to_ms(t) for t in moment_times(m))
            rows.append((
                m.moment_id, m.stream_id, m.kind, start, end, m.metric, m.value, m.baseline, m.score,
                m.threshold, m.description, peak_at, detected_at, m.ongoing, m.rank,
                m.offset_seconds, m.vod_url,
            ))  # fmt: skip
        streams = [(s, to_ms(seen_at), to_ms(seen_at)) for s in sorted({m.stream_id for m in moments})]

        def work(db: sqlite3.Connection) -> None:
            db.executemany(_UPSERT_MOMENT, rows)
            db.executemany(_TOUCH_STREAM, streams)

        if rows:
            await self._write(work)

    async def register_streams(self, stream_ids: Sequence[str], seen_at: float) -> None:
        rows = [(s, to_ms(seen_at)) for s in sorted(set(stream_ids))]

        def work(db: sqlite3.Connection) -> None:
            db.executemany(_REGISTER_STREAM, rows)

        if rows:
            await self._write(work)

    async def set_stream_meta(
        self,
        stream_id: str,
        title: str | None,
        category: str | None,
        *,
        fields: Collection[str] = META_FIELDS,
    ) -> bool:
        changed: list[int] = []
        values = ("title" in fields, title, "category" in fields, category, stream_id)

        def work(db: sqlite3.Connection) -> None:
            cursor = db.execute(
                "UPDATE streams SET title = CASE WHEN ? THEN ? ELSE title END,"
                " category = CASE WHEN ? THEN ? ELSE category END WHERE stream_id = ?",
                values,
            )
            changed.append(cursor.rowcount)

        await self._write(work)
        return changed[0] > 0

    async def describe_stream(self, description: StreamDescription) -> bool:
        d = description
        changed: list[int] = []

        def work(db: sqlite3.Connection) -> None:
            cursor = db.execute(
                "UPDATE streams SET window_seconds = ?, slide_seconds = ?, title = coalesce(?, title),"
                " category = coalesce(?, category) WHERE stream_id = ?",
                (d.window_seconds, d.slide_seconds, d.title, d.category, d.stream_id),
            )
            changed.append(cursor.rowcount)

        await self._write(work)
        return changed[0] > 0

    async def upsert_dead_letters(self, letters: Sequence[DeadLetter], seen_at: float) -> None:
        rows = [(*dead_letter_values(letter), to_ms(seen_at)) for letter in letters]

        def work(db: sqlite3.Connection) -> None:
            db.executemany(_UPSERT_DEAD_LETTER, rows)

        if rows:
            await self._write(work)

    async def delete_stream(self, stream_id: str) -> bool:
        deleted: list[int] = []

        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM window_metrics WHERE stream_id = ?", (stream_id,))
            db.execute("DELETE FROM moments WHERE stream_id = ?", (stream_id,))
            deleted.append(db.execute("DELETE FROM dead_letters WHERE stream_id = ?", (stream_id,)).rowcount)
            deleted.append(db.execute("DELETE FROM streams WHERE stream_id = ?", (stream_id,)).rowcount)

        await self._write(work)
        return sum(deleted) > 0

    # -- reads -------------------------------------------------------------------------------------------
    async def list_streams(self, query: StreamQuery) -> StreamsPage:
        def read(db: sqlite3.Connection) -> StreamsPage:
            rows = db.execute(*listing.page_sql(DIALECT, query)).fetchall()
            listed = rows[: query.limit]
            counts = _dead_letter_counts(db, [row["stream_id"] for row in listed])
            page = StreamsPage(
                [_stream(db, row, counts) for row in listed],
                listing.next_position(DIALECT, query, rows),
            )
            if not query.count:
                return page
            total, live = db.execute(*listing.count_sql(DIALECT, query)).fetchone()
            return dataclasses.replace(page, total=total, live_total=live)

        return await self._read(read)

    async def get_stream(self, stream_id: str) -> StreamRecord | None:
        def read(db: sqlite3.Connection) -> StreamRecord | None:
            row = db.execute("SELECT * FROM streams WHERE stream_id = ?", (stream_id,)).fetchone()
            return _stream(db, row, _dead_letter_counts(db, [stream_id])) if row else None

        return await self._read(read)

    async def windows(
        self, stream_id: str, *, start: float, end: float, align: int, limit: int
    ) -> list[WindowMetrics]:
        sql = (
            "SELECT * FROM window_metrics WHERE stream_id = ? AND window_start_ms >= ? AND window_start_ms < ?"
            + (" AND window_start_ms % ? = 0" if align else " AND ? = 0")
            + " ORDER BY window_start_ms LIMIT ?"
        )
        args = (stream_id, to_ms(start), to_ms(end), align * 1000, limit)
        return await self._read(lambda db: [_window(row) for row in db.execute(sql, args)])

    async def windows_page(
        self, stream_id: str, *, start: float, end: float, align: int, limit: int
    ) -> WindowsPage:
        rows = await self.windows(stream_id, start=start, end=end, align=align, limit=limit + 1)
        return windows_page(rows, limit)

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
        sql = "SELECT * FROM moments WHERE stream_id = ? AND start_ms < ? AND end_ms >= ?"
        args: list[Any] = [stream_id, to_ms(end), to_ms(start)]
        if kinds:
            sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
            args += kinds
        if before is not None:
            at = to_ms(before.start)
            sql += " AND (start_ms < ? OR (start_ms = ? AND moment_id < ?))"
            args += [at, at, before.moment_id]
        sql += " ORDER BY start_ms DESC, moment_id DESC LIMIT ?"
        args.append(limit)
        return await self._read(lambda db: [_moment(row) for row in db.execute(sql, args)])

    async def hype_inputs(
        self, live_since: float, recent_seconds: float, baseline_seconds: float
    ) -> list[HypeInputs]:
        recent, baseline = round(recent_seconds * 1000), round((recent_seconds + baseline_seconds) * 1000)
        args = (to_ms(live_since), baseline, recent, recent, recent)
        return await self._read(lambda db: [_hype_inputs(row) for row in db.execute(_HYPE_INPUTS, args)])

    async def recent_moments(self, stream_id: str, limit: int) -> list[Moment]:
        sql = "SELECT * FROM moments WHERE stream_id = ? ORDER BY start_ms DESC, moment_id DESC LIMIT ?"
        return await self._read(lambda db: [_moment(row) for row in db.execute(sql, (stream_id, limit))])

    async def dead_letters(self, stream_id: str | None, *, limit: int) -> list[StoredDeadLetter]:
        where, args = ("WHERE stream_id = ? ", [stream_id, limit]) if stream_id is not None else ("", [limit])
        sql = f"SELECT * FROM dead_letters {where}ORDER BY stored_at_ms DESC, letter_id DESC LIMIT ?"
        return await self._read(lambda db: [_dead_letter(row) for row in db.execute(sql, args)])

    async def count_dead_letters(self) -> dict[str, int]:
        return await self._read(lambda db: _dead_letter_counts(db, None))


def _hype_inputs(row: Any) -> HypeInputs:
    stream_id, title, category, viewers, chat_rate, baseline, moments, best_rank, last_activity = row
    return HypeInputs(
        stream_id, title, category, viewers, chat_rate, baseline, moments, best_rank, last_activity / 1000
    )
