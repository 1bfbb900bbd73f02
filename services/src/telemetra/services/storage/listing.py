"""The stream listing, shared by the stores: its SQL for both dialects (filters, keyset pagination, counts) and
the same order for streams held in memory (the API's listing from the live cache while the store is down).

Keyset pagination: a page starts strictly after the last stream of the previous one, found through an index
on the sort key and the id (migrations ``*_stream_listing.sql``), so a deep page costs what the first does (no
OFFSET). A key sorts greatest first and the id breaks ties in ascending order; directions differ, so a page
after ``(k, id)`` is the union of two index ranges: the rest of the tie (``key = k AND stream_id > id``) and
what follows it (``key < k``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from telemetra.services.storage.base import StreamPosition, StreamQuery, StreamSort

T = TypeVar("T")
NO_KEY: Final = -1  # the key of a stream without viewers or chat rate (both >= 0): listed after the others
SEARCHED: Final = ("stream_id", "title", "category")


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the stores' SQL."""

    param: Callable[[int], str]  # the n-th parameter: "$n" (PostgreSQL) or "?n" (SQLite)
    last_activity: str  # the column
    time: Callable[[float], Any]  # epoch seconds → a value to compare with that column
    epoch: Callable[[Any], float]  # that column's value → epoch seconds

    def key(self, sort: StreamSort) -> str:
        """The SQL expression of the sort key ("" for ``stream_id``); the indexes are on these expressions."""
        return {
            "stream_id": "",
            "-viewers": f"coalesce(viewers, {NO_KEY})",
            "-chat_rate": f"coalesce(chat_rate, {NO_KEY})",
            "-last_activity": self.last_activity,
        }[sort]

    def key_value(self, sort: StreamSort, key: float | None) -> Any:
        """A position's key as a parameter of the type of the key's column (so the index is usable)."""
        if sort == "-viewers":
            return int(key or 0)
        if sort == "-chat_rate":
            return float(key or 0)
        return self.time(key or 0)


class _Params:
    def __init__(self, dialect: Dialect):
        self.dialect, self.values = dialect, list[Any]()

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return self.dialect.param(len(self.values))


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its wildcards (and the escape character) taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filters(dialect: Dialect, query: StreamQuery, param: _Params) -> list[str]:
    where = []
    if query.search:  # the column is the searched fields in lower case, apart (a match never spans two)
        where.append(f"search_text LIKE lower({param(like_pattern(query.search))}) ESCAPE '\\'")
    if query.live is not None:
        operator = ">=" if query.live else "<"
        where.append(f"{dialect.last_activity} {operator} {param(dialect.time(query.live_since))}")
    return where


def _where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def page_sql(dialect: Dialect, query: StreamQuery) -> tuple[str, list[Any]]:
    """Up to ``limit + 1`` rows of ``streams`` (one more tells whether another page follows), each with its
    ``sort_key``."""
    param = _Params(dialect)
    where = _filters(dialect, query, param)
    key = dialect.key(query.sort)
    select = f"SELECT *, {key or 'NULL'} AS sort_key FROM streams"
    limit = param(query.limit + 1)
    after = query.after
    if not key:
        if after is not None:
            where.append(f"stream_id > {param(after.stream_id)}")
        return f"{select}{_where(where)} ORDER BY stream_id LIMIT {limit}", param.values
    order = f" ORDER BY {key} DESC, stream_id LIMIT {limit}"
    if after is None:
        return select + _where(where) + order, param.values
    at, last = param(dialect.key_value(query.sort, after.key)), param(after.stream_id)
    ties = _where([*where, f"{key} = {at}", f"stream_id > {last}"])
    tie = f"{select}{ties} ORDER BY stream_id LIMIT {limit}"
    rest = f"{select}{_where([*where, f'{key} < {at}'])}{order}"
    union = f"SELECT * FROM ({tie}) AS tie UNION ALL SELECT * FROM ({rest}) AS rest"
    return f"SELECT * FROM ({union}) AS page ORDER BY sort_key DESC, stream_id LIMIT {limit}", param.values


def count_sql(dialect: Dialect, query: StreamQuery) -> tuple[str, list[Any]]:
    """How many streams match (``total``), and how many of those are live (``live``)."""
    param = _Params(dialect)
    where = _filters(dialect, query, param)
    since = param(dialect.time(query.live_since))
    live = f"count(*) FILTER (WHERE {dialect.last_activity} >= {since})"
    return f"SELECT count(*) AS total, {live} AS live FROM streams{_where(where)}", param.values


def next_position(dialect: Dialect, query: StreamQuery, rows: list[Any]) -> StreamPosition | None:
    """Where the page after ``rows`` (as :func:`page_sql` selected them) starts; None when none follows."""
    if len(rows) <= query.limit:
        return None
    last = rows[query.limit - 1]
    key = last["sort_key"]
    if query.sort == "-last_activity":
        key = dialect.epoch(key)
    return StreamPosition(key, last["stream_id"])


# -- in memory ---------------------------------------------------------------------------------------------
def memory_key(sort: StreamSort, values: Mapping[str, Any], last_activity: float | None) -> float | None:
    """The sort key of a stream summary (``viewers``, ``chat_rate``), as the SQL computes it from a row."""
    if sort == "stream_id":
        return None
    if sort == "-last_activity":
        return last_activity if last_activity is not None else NO_KEY
    value = values[sort[1:]]
    return NO_KEY if value is None else value


def memory_page(
    entries: Iterable[tuple[float | None, str, T]], after: StreamPosition | None, limit: int
) -> tuple[list[T], StreamPosition | None]:
    """Of ``(key, stream id, value)`` entries, the values of the page after ``after`` in the listing's order,
    and where the next page starts (None on the last)."""
    ordered = sorted(entries, key=lambda entry: _order(entry[0], entry[1]))
    if after is not None:
        start = _order(after.key, after.stream_id)
        ordered = [entry for entry in ordered if _order(entry[0], entry[1]) > start]
    last = ordered[limit - 1] if len(ordered) > limit else None
    return [entry[2] for entry in ordered[:limit]], StreamPosition(last[0], last[1]) if last else None


def _order(key: float | None, stream_id: str) -> tuple[float, str]:
    return (-(key or 0), stream_id)


def memory_matches(search: str, values: Mapping[str, Any]) -> bool:
    """:func:`page_sql`'s search, in memory."""
    needle = search.lower()
    return not needle or any(needle in (values.get(field) or "").lower() for field in SEARCHED)
