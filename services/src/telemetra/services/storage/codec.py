"""Record ⇄ row conversions shared by the stores. The API's wire format is exactly the engine's ``to_dict``:
window bounds without fractional seconds (they are aligned), moment times with milliseconds. Dead letters are
stored so they read back exactly (same ``letter_id``), even when their text holds NUL characters, which a
PostgreSQL ``text`` column cannot."""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

import orjson

from telemetra.records import DeadLetter, Moment, WindowMetrics, format_ts, parse_ts
from telemetra.services.storage.base import DEFAULT_SLIDE_SECONDS, DEFAULT_WINDOW_SECONDS, WindowsPage

# The columns of ``window_metrics`` after the key, in the order of the WindowMetrics fields.
WINDOW_VALUE_FIELDS = (
    "messages", "chat_rate", "unique_chatters", "top_emotes", "sentiment", "positive", "neutral", "negative",
    "viewers", "viewers_max", "revenue_usd", "transactions", "late_events", "bits", "emote_total", "final",
)  # fmt: skip
JSON_FIELDS = frozenset({"top_emotes", "transactions"})


def newest_per_stream(windows: Iterable[WindowMetrics]) -> dict[str, WindowMetrics]:
    newest: dict[str, WindowMetrics] = {}
    for window in windows:
        current = newest.get(window.stream_id)
        if current is None or window.window_start >= current.window_start:
            newest[window.stream_id] = window
    return newest


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
        rank=None if values.get("rank") is None else float(values["rank"]),
        offset_seconds=None if values.get("offset_seconds") is None else int(values["offset_seconds"]),
        vod_url=values.get("vod_url"),
    )


def to_ms(epoch: float) -> int:
    return round(epoch * 1000)


def stream_geometry(values: Row) -> tuple[int, int]:
    """A ``streams`` row's window and slide seconds; the engine's defaults while NULL (not described yet)."""
    window, slide = values["window_seconds"], values["slide_seconds"]
    return (
        DEFAULT_WINDOW_SECONDS if window is None else window,
        DEFAULT_SLIDE_SECONDS if slide is None else slide,
    )


# ------------------------------------------------------------------------------------------- dead letters

# The columns of ``dead_letters`` before the time of storage, in the order of ``dead_letter_values``.
DEAD_LETTER_COLUMNS = (
    "letter_id", "stream_id", "reason", "source", "raw", "raw_encoding", "raw_bytes", "raw_truncated",
)  # fmt: skip
# The stored ``raw_encoding`` of UTF-8 text that holds NUL: kept as base64 of its UTF-8, decoded on reading.
NUL_SAFE_ENCODING: Final = "utf-8+base64"


def _nul_free(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def dead_letter_values(letter: DeadLetter) -> tuple[Any, ...]:
    """The row of a dead letter without its time: ``stream_id`` "" when unknown; ``raw`` text with NUL stored
    as base64 (exact on reading); NUL in ``reason``/``source`` (not part of the key) replaced by U+FFFD."""
    raw, encoding = letter.raw, letter.raw_encoding
    if raw is not None and "\x00" in raw:
        raw, encoding = base64.b64encode(raw.encode(errors="surrogateescape")).decode(), NUL_SAFE_ENCODING
    return (
        letter.letter_id,
        _nul_free(letter.stream_id or ""),
        _nul_free(letter.reason),
        _nul_free(letter.source),
        raw,
        encoding,
        letter.raw_bytes,
        letter.raw_truncated,
    )


def dead_letter_from_values(values: Row) -> DeadLetter:
    raw, encoding = values["raw"], values["raw_encoding"]
    if encoding == NUL_SAFE_ENCODING and raw is not None:
        raw, encoding = base64.b64decode(raw).decode(errors="surrogateescape"), "utf-8"
    return DeadLetter(
        stream_id=values["stream_id"] or None,
        reason=values["reason"],
        source=values["source"],
        raw=raw,
        raw_encoding=encoding,
        raw_bytes=values["raw_bytes"],
        raw_truncated=bool(values["raw_truncated"]),
    )


def windows_page(rows: Sequence[WindowMetrics], limit: int) -> WindowsPage:
    """A page from up to ``limit + 1`` windows, encoded in Python (the stores without JSON in SQL)."""
    page = rows[:limit]
    return WindowsPage(
        orjson.dumps(page), len(page), len(rows) > limit, parse_ts(page[-1].window_start) if page else None
    )
