"""Record ⇄ row conversions shared by the stores. The API's wire format is exactly the engine's ``to_dict``:
window bounds without fractional seconds (they are aligned), moment times with milliseconds."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from telemetra.analytics.moments import Moment
from telemetra.analytics.windows import WindowMetrics
from telemetra.contract import format_ts, parse_ts

# The columns of ``window_metrics`` after the key, in the order of the WindowMetrics fields.
WINDOW_VALUE_FIELDS = (
    "messages", "chat_rate", "unique_chatters", "top_emotes", "sentiment", "positive", "neutral", "negative",
    "viewers", "viewers_max", "revenue_usd", "transactions", "late_events", "bits", "emote_total", "final",
)  # fmt: skip
JSON_FIELDS = frozenset({"top_emotes", "transactions"})


def record(item: WindowMetrics | Moment) -> dict[str, Any]:
    """The record as a dict, like ``to_dict()`` but shallow: ``dataclasses.asdict`` deep-copies every nested
    list and dict, which made it most of the cost of a metrics answer. The records are frozen and nothing
    here mutates their nested values, so sharing them is safe."""
    return {name: getattr(item, name) for name in item.__dataclass_fields__}


@functools.lru_cache(maxsize=65_536)
def window_time(epoch: float) -> str:
    """Same spelling as ``merge_panes``: ``2026-11-27T16:00:00Z``. Cached: window bounds repeat across
    queries (aligned to the slide), and formatting them was a tenth of an uncached metrics answer."""
    return format_ts(epoch).replace(".000Z", "Z")


def moment_time(epoch: float) -> str:
    return format_ts(epoch)


def window_values(window: WindowMetrics) -> list[Any]:
    """The non-key columns of a window, JSON fields encoded as text."""
    values = []
    for name in WINDOW_VALUE_FIELDS:
        value = getattr(window, name)
        values.append(orjson.dumps(value).decode() if name in JSON_FIELDS else value)
    return values


class Row(Protocol):
    """A database row by column name (``sqlite3.Row``, ``asyncpg.Record``, a dict)."""

    def __getitem__(self, key: str, /) -> Any: ...


def window_from_values(stream_id: str, start: float, end: float, values: Row) -> WindowMetrics:
    """Rebuild a window from its key, bounds (epoch seconds) and non-key columns (JSON as text or data)."""
    top, transactions = values["top_emotes"], values["transactions"]
    return WindowMetrics(
        stream_id=stream_id,
        window_start=window_time(start),
        window_end=window_time(end),
        messages=values["messages"],
        chat_rate=values["chat_rate"],
        unique_chatters=values["unique_chatters"],
        top_emotes=orjson.loads(top) if isinstance(top, str | bytes) else top,
        sentiment=values["sentiment"],
        positive=values["positive"],
        neutral=values["neutral"],
        negative=values["negative"],
        viewers=values["viewers"],
        viewers_max=values["viewers_max"],
        revenue_usd=values["revenue_usd"],
        transactions=orjson.loads(transactions) if isinstance(transactions, str | bytes) else transactions,
        late_events=values["late_events"],
        bits=values["bits"],
        emote_total=values["emote_total"],
        final=bool(values["final"]),
    )


def moment_times(moment: Moment) -> tuple[float, float, float, float]:
    """start, end, peak_at and detected_at as epoch seconds."""
    return (
        parse_ts(moment.start),
        parse_ts(moment.end),
        parse_ts(moment.peak_at),
        parse_ts(moment.detected_at),
    )


def moment_from_values(values: Mapping[str, Any], times: tuple[float, float, float, float]) -> Moment:
    start, end, peak_at, detected_at = times
    return Moment(
        moment_id=values["moment_id"],
        stream_id=values["stream_id"],
        kind=values["kind"],
        start=moment_time(start),
        end=moment_time(end),
        metric=values["metric"],
        value=float(values["value"]),
        baseline=float(values["baseline"]),
        score=float(values["score"]),
        threshold=float(values["threshold"]),
        description=values["description"],
        peak_at=moment_time(peak_at),
        detected_at=moment_time(detected_at),
        ongoing=bool(values["ongoing"]),
    )


def to_ms(epoch: float) -> int:
    return round(epoch * 1000)
