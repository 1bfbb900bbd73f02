"""One micro-batch of one stream through the analytics core, and that core's state as bytes. No Spark here.

:func:`fold_items` is the engine's fold (:meth:`~telemetra.engine.core.Engine.fold`) over the items of
:mod:`telemetra.spark.chunks` (events already validated, chat already scored), in offset order; the engine's
step (dead letters, closed windows, moments, the stream's description and its provisional live window) leaves
the stateful operator as output records, which :func:`decode_step` turns back into the step on the driver.
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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from telemetra.analytics.panes import Pane
from telemetra.analytics.stream import StreamAnalytics
from telemetra.engine.core import Engine, Item, Step
from telemetra.records import DeadLetter, Moment, StreamDescription, WindowMetrics, to_json
from telemetra.spark.chunks import prepare_items

# Output record kinds, in the order a batch emits them.
DEAD_LETTER, WINDOW, MOMENT, DESCRIPTION, LIVE, STATS = (
    "dead_letter", "window", "moment", "description", "live", "stats"
)  # fmt: skip
_ENGINE = Engine()  # folding only: the analytics carry their own settings


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
    ended: bool = False  # the stream left (a tombstone) or idled out: its state is to be dropped


def process_records(
    analytics: StreamAnalytics,
    values: Sequence[bytes | None],
    partitions: Sequence[int],
    offsets: Sequence[int],
    topic: str,
) -> BatchResult:
    """Process Kafka records (already in partition, offset order) and collect the output records."""
    items = prepare_items(values, partitions, offsets, analytics.stream_id, topic)
    return fold_items(analytics, [items])


def in_order(chunks: Iterable[tuple[bool, list[Item]]]) -> Iterator[list[Item]]:
    """A stream's chunks of a batch ``(control, items)``, events in Kafka order, as they apply: the newest
    config before the events; a removal (the newest control record is a tombstone) after them."""
    controls: list[Item] = []
    events: list[list[Item]] = []
    for control, items in chunks:
        if control:
            controls += items
        else:
            events.append(items)
    configs = [item for item in controls if item[1] is not None]
    if configs:
        yield configs[-1:]
    yield from events
    if controls and controls[-1][1] is None:
        yield controls[-1:]


def fold_items(analytics: StreamAnalytics, chunks: Iterable[list[Item]]) -> BatchResult:
    """Fold the items of a batch's chunks (in Kafka order) into ``analytics`` with the engine; the step
    becomes output records (:func:`decode_step` reads them back on the driver)."""
    result = BatchResult()
    step = Step()
    for items in chunks:
        result.rows += len(items)
        _ENGINE.fold(analytics, items, step, track_panes=True)
    records = result.records
    records += [(DEAD_LETTER, d.source, to_json(d)) for d in step.dead_letters]
    records += [(WINDOW, w.window_start, to_json(w)) for w in step.windows]
    records += [(MOMENT, m.moment_id, to_json(m)) for m in step.moments]
    # the newest of each stream (a batch folds its chunks one at a time)
    records += [
        (DESCRIPTION, d.stream_id, to_json(d)) for d in {d.stream_id: d for d in step.descriptions}.values()
    ]
    records += [(LIVE, w.window_start, to_json(w)) for w in {w.stream_id: w for w in step.live}.values()]
    result.events, result.dead_letters = step.events, len(step.dead_letters)
    result.windows, result.moments, result.touched = len(step.windows), len(step.moments), step.touched
    result.ended = bool(step.ended)
    stats = {
        "rows": result.rows,
        "events": step.events,
        "dead_letters": result.dead_letters,
        "late_events": step.late_events,
        "duplicates": step.duplicates,
        "watermark": analytics.watermark if math.isfinite(analytics.watermark) else None,
        "max_event_time": analytics.max_ts if math.isfinite(analytics.max_ts) else None,
        "stream_id": analytics.stream_id,
        "open_panes": len(analytics.panes),
        "ended": result.ended,
    }
    records.append((STATS, analytics.stream_id, orjson.dumps(stats).decode()))
    return result


def decode_step(records: Iterable[tuple[str, str]]) -> tuple[Step, list[dict[str, Any]]]:
    """The engine's step and the batch statistics from output records ``(kind, payload)`` in order."""
    step, stats = Step(), []
    for kind, payload in records:
        data = orjson.loads(payload)
        if kind == DEAD_LETTER:
            step.dead_letters.append(DeadLetter.from_dict(data))
        elif kind == WINDOW:
            step.windows.append(WindowMetrics.from_dict(data))
        elif kind == MOMENT:
            step.moments.append(Moment.from_dict(data))
        elif kind == DESCRIPTION:
            step.descriptions.append(StreamDescription.from_dict(data))
        elif kind == LIVE:
            step.live.append(WindowMetrics.from_dict(data))
        elif kind == STATS:
            stats.append(data)
            step.events += data.get("events", 0)
            step.late_events += data.get("late_events", 0)
            step.duplicates += data.get("duplicates", 0)
    return step, stats


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
