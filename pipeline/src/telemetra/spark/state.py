"""One micro-batch of one stream through the analytics core, and that core's state as bytes. No Spark here.

:func:`fold_items` is the stateful half of the embedded engine's ``process_raw`` loop for one stream: it feeds
the items of :mod:`telemetra.spark.chunks` (events already validated, chat already scored) to
:class:`~telemetra.analytics.stream.StreamAnalytics` in offset order, and returns what closed (windows), what
was detected (moments), the dead letters and the provisional live window, as output records.
:func:`process_records` is both halves, for Kafka records in one call.

The state is split so that a micro-batch rewrites only what it changed: the panes (the slide-long buckets,
which hold almost all of the state) are stored one per entry, and the rest of the analytics object, whose
references to panes are stored as the panes' start times, is one small entry. A pane is only mutated by
events inside it, so a batch rewrites the panes its events touched. Event ids (the dedup keys) are only ever
read while a pane is open: an event for a closed pane is older than the watermark and is dropped as late
before any dedup check. So closed panes are stored without them, which keeps the stored state at about two
panes' worth of ids.
"""

from __future__ import annotations

import dataclasses
import io
import math
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from telemetra.analytics.panes import Pane
from telemetra.analytics.stream import Output, StreamAnalytics
from telemetra.analytics.windows import pane_start
from telemetra.contract import parse_event
from telemetra.spark.chunks import CHAT, DEAD, Item, prepare_items

# Output record kinds, in the order a batch emits them.
DEAD_LETTER, WINDOW, MOMENT, LIVE, STATS = "dead_letter", "window", "moment", "live", "stats"


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
    items = prepare_items(values, partitions, offsets, timestamps, analytics.stream_id, topic)
    return fold_items(analytics, [items])


def fold_items(analytics: StreamAnalytics, chunks: Iterable[list[Item]]) -> BatchResult:
    """Fold the items of a batch's chunks (in Kafka order) into ``analytics``; collect the output records."""
    result = BatchResult()
    out = Output()
    stream_id, slide = analytics.stream_id, analytics.slide
    late, duplicates = analytics.late_events, analytics.duplicates
    process, process_chat, touched = analytics.process, analytics.process_chat, result.touched
    for items in chunks:
        result.rows += len(items)
        for item in items:
            tag = item[0]
            if tag == CHAT:
                ts = item[1]
                process_chat(ts, item[2], item[3], item[4], item[5], out)
            elif tag == DEAD:
                result.records.append((DEAD_LETTER, item[1], item[2]))
                result.dead_letters += 1
                continue
            else:  # validated already: parsing again cannot fail
                event = parse_event(item[1])
                ts = event.ts.timestamp()
                process(event, out)
            result.events += 1
            touched.add(pane_start(ts, slide))
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
