"""One micro-batch of one stream through the analytics core, and that core's state as bytes. No Spark here.

:func:`process_records` is the embedded engine's ``process_raw`` loop for one stream: validate each Kafka record
against the contract (an invalid one becomes a dead letter with the reason, never an exception), feed the
valid ones to :class:`~telemetra.analytics.stream.StreamAnalytics` in offset order, and return what closed
(windows), what was detected (moments), the dead letters and the provisional live window, as output records.

The state is split so that a micro-batch rewrites only what it changed: the panes (the slide-long buckets,
which hold almost all of the state) are stored one per entry, and the rest of the analytics object, whose
references to panes are stored as the panes' start times, is one small entry. A pane is only mutated by
events inside it, so a batch rewrites the panes its events touched. Event ids (the dedup keys) are only ever
read while a pane is open: an event for a closed pane is older than the watermark and is dropped as late
before any dedup check. So closed panes are stored without them, which keeps the stored state at about two
panes' worth of ids.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from telemetra.analytics.panes import Pane
from telemetra.analytics.stream import Output, StreamAnalytics
from telemetra.analytics.windows import pane_start
from telemetra.contract import MAX_EVENT_BYTES, InvalidEvent, format_ts, parse_event

# Output record kinds, in the order a batch emits them.
DEAD_LETTER, WINDOW, MOMENT, LIVE, STATS = "dead_letter", "window", "moment", "live", "stats"
RAW_LIMIT = 2 * MAX_EVENT_BYTES  # bytes of an invalid record kept in its dead letter


@dataclass(slots=True)
class BatchResult:
    """Output records ``(kind, key, payload JSON)`` in emission order, and the batch's counts."""

    records: list[tuple[str, str, str]] = field(default_factory=list)
    rows: int = 0
    events: int = 0  # valid events handed to the analytics core
    dead_letters: int = 0
    windows: int = 0
    moments: int = 0
    touched: set[int] = field(default_factory=set)  # starts of the panes the batch's events went to


def process_records(
    analytics: StreamAnalytics,
    values: Sequence[bytes | None],
    partitions: Sequence[int],
    offsets: Sequence[int],
    timestamps: Sequence[Any],
    topic: str,
) -> BatchResult:
    """Process Kafka records (already in partition, offset order) and collect the output records."""
    result = BatchResult(rows=len(values))
    out = Output()
    stream_id, slide = analytics.stream_id, analytics.slide
    late, duplicates = analytics.late_events, analytics.duplicates
    for raw, partition, offset, timestamp in zip(values, partitions, offsets, timestamps, strict=True):
        try:
            if raw is None:
                raise _Rejected("empty record (no value)")
            event = parse_event(raw)
            if event.stream_id != stream_id:
                raise _Rejected(f"stream_id: {event.stream_id!r} does not belong to this topic's stream")
        except (InvalidEvent, _Rejected) as error:
            reason = error.reason if isinstance(error, InvalidEvent) else str(error)
            letter = dead_letter(reason, raw, stream_id, topic, partition, offset, timestamp)
            result.records.append((DEAD_LETTER, f"{topic}:{partition}:{offset}", letter))
            result.dead_letters += 1
            continue
        result.events += 1
        result.touched.add(pane_start(event.ts.timestamp(), slide))
        out.extend(analytics.process(event))
    for window in out.windows:
        result.records.append((WINDOW, window.window_start, _json(window.to_dict())))
    for moment in out.moments:
        result.records.append((MOMENT, moment.moment_id, _json(moment.to_dict())))
    result.windows, result.moments = len(out.windows), len(out.moments)
    live = analytics.live_window()
    if live is not None:
        result.records.append((LIVE, live.window_start, _json(live.to_dict())))
    stats = {
        "rows": result.rows,
        "events": result.events,
        "dead_letters": result.dead_letters,
        "late_events": analytics.late_events - late,
        "duplicates": analytics.duplicates - duplicates,
        "watermark": analytics.watermark if math.isfinite(analytics.watermark) else None,
        "max_event_time": analytics.max_ts if math.isfinite(analytics.max_ts) else None,
        "open_panes": len(analytics.panes),
        "title": analytics.title,  # the broadcast's latest title and category (stream_meta events)
        "category": analytics.category,
    }
    result.records.append((STATS, stream_id, _json(stats)))
    return result


class _Rejected(Exception):
    """A record that parsed, or could not be read at all, but cannot be processed by this stream's job."""


def dead_letter(
    reason: str,
    raw: bytes | None,
    stream_id: str,
    topic: str,
    partition: int,
    offset: int,
    timestamp: Any,
) -> str:
    """The dead-letter record (JSON): why, where from, and the raw value (UTF-8 text, else base64)."""
    letter: dict[str, Any] = {
        "reason": reason,
        "source": f"{topic}:{partition}:{offset}",
        "stream_id": stream_id,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        # Kafka's record time (epoch ms); NaN when a batch of pandas rows had a missing one
        "timestamp": format_ts(int(timestamp) / 1000)
        if timestamp is not None and timestamp == timestamp
        else None,
    }
    if raw is not None:
        kept = raw[:RAW_LIMIT]
        try:
            letter["raw"], letter["raw_encoding"] = kept.decode(), "utf-8"
        except UnicodeDecodeError:
            letter["raw"], letter["raw_encoding"] = base64.b64encode(kept).decode(), "base64"
        letter["raw_bytes"] = len(raw)
        letter["raw_truncated"] = len(raw) > RAW_LIMIT
    return _json(letter)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


# ---------------------------------------------------------------------------------------- state as bytes


def encode_pane(pane: Pane, slide: int, watermark: float) -> bytes:
    """A pane; without its event ids once it is closed (they can never be read again)."""
    if pane.event_ids and pane.start + slide <= watermark:
        pane = dataclasses.replace(pane, event_ids=set())
    return pickle.dumps(pane, protocol=pickle.HIGHEST_PROTOCOL)


def decode_pane(blob: bytes) -> Pane:
    pane = pickle.loads(blob)
    if not isinstance(pane, Pane):
        raise TypeError(f"a stored pane decoded to {type(pane).__name__}")
    return pane


class _CorePickler(pickle.Pickler):
    """Pickles the analytics object with the panes it holds replaced by their start times."""

    def __init__(self, file: io.BytesIO, panes: dict[int, Pane]):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._panes = {id(pane): start for start, pane in panes.items()}

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is Pane:
            return self._panes.get(id(obj))
        return None


class _CoreUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, panes: dict[int, Pane]):
        super().__init__(file)
        self._panes = panes

    def persistent_load(self, pid: Any) -> Any:
        try:
            return self._panes[pid]
        except KeyError:
            raise pickle.UnpicklingError(
                f"the analytics state refers to pane {pid}, which is not stored"
            ) from None


def encode_core(analytics: StreamAnalytics) -> bytes:
    """Everything but the panes (the detector's references to panes become pane starts)."""
    panes = analytics.panes
    buffer = io.BytesIO()
    analytics.panes = {}
    try:
        _CorePickler(buffer, panes).dump(analytics)
    finally:
        analytics.panes = panes
    return buffer.getvalue()


def decode_core(blob: bytes, panes: dict[int, Pane]) -> StreamAnalytics:
    analytics = _CoreUnpickler(io.BytesIO(blob), panes).load()
    if not isinstance(analytics, StreamAnalytics):
        raise TypeError(f"the stored analytics state decoded to {type(analytics).__name__}")
    analytics.panes = panes
    return analytics


@dataclass(slots=True)
class StateChanges:
    """What a batch changed: panes to remove, panes to (re)write, and the new core."""

    removed: list[int]
    updated: dict[int, bytes]
    core: bytes


def state_changes(analytics: StreamAnalytics, before: set[int], touched: set[int]) -> StateChanges:
    """The writes that bring the stored state from ``before`` (the pane starts it held when the batch began)
    to ``analytics``, given the panes the batch's events ``touched``."""
    after = set(analytics.panes)
    watermark, slide = analytics.watermark, analytics.slide
    updated = {
        start: encode_pane(analytics.panes[start], slide, watermark)
        for start in sorted((after - before) | (touched & after))
    }
    return StateChanges(sorted(before - after), updated, encode_core(analytics))
