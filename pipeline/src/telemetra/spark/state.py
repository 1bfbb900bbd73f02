"""One micro-batch of one stream through the analytics core, and that core's state as bytes. No Spark here.

:func:`fold_items` is the engine's fold (:meth:`~telemetra.engine.core.Engine.fold`) over the items of
:mod:`telemetra.spark.chunks` (events already validated, chat already scored), in offset order; the engine's
step (dead letters, closed windows, moments, the stream's description and its provisional live window) leaves
the stateful operator as output records, which :func:`decode_step` turns back into the step on the driver.
:func:`process_records` is both halves, for Kafka records in one call.

The state is split so that a micro-batch rewrites only what it changed: the panes (the slide-long buckets,
which hold almost all of the state) are stored one per entry, and the rest of the analytics object (which
refers to no pane: the panes are found by their start times) is one small entry. A pane is only mutated by
events inside it, so a batch rewrites the panes its events touched. Event ids (the dedup keys) are only ever
read while a pane is open: an event for a closed pane is older than the watermark and is dropped as late
before any dedup check. So closed panes are stored without them, which keeps the stored state at about two
panes' worth of ids.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import pickle
import struct
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

log = logging.getLogger("telemetra.spark.state")


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


def encode_core(analytics: StreamAnalytics) -> bytes:
    """Everything but the panes (nothing else in the analytics object refers to a pane)."""
    panes = analytics.panes
    analytics.panes = {}
    try:
        return pickle.dumps(analytics, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        analytics.panes = panes


def decode_core(blob: bytes, panes: dict[int, Pane]) -> StreamAnalytics:
    analytics = pickle.loads(blob)
    if not isinstance(analytics, StreamAnalytics):
        raise TypeError(f"the stored analytics state decoded to {type(analytics).__name__}")
    analytics.panes = panes
    if analytics.restored():
        log.warning(
            "moment detection restarts: its stored state is from another version (baselines warm up again)",
            extra={"stream_id": analytics.stream_id},
        )
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


# ------------------------------------------------------------------------------------- a shard as a log

CORE, DROP = -1, -2  # the "pane start" of a stream's core entry, and of a change that removes the stream
SNAPSHOT_FACTOR = 3.0  # the log is rewritten as a snapshot once it holds this many times the live state …
SNAPSHOT_SLACK = 1 << 20  # … plus this many bytes
# One change of a stored shard: (stream id, pane start | CORE | DROP, the entry's blob or None when it is
# removed, when the stream was last in a batch (CORE entries; 0 otherwise)).
Change = tuple[str, int, bytes | None, int]


@dataclass(slots=True)
class StoredShard:
    """What the state store holds for a shard of streams: the newest blob of every entry (each stream's core
    and panes, as :func:`state_changes` encodes them), recorded as a log.

    Spark's state server costs a round trip of ~0.2 ms per call whatever its size, and a batch of a pool
    changes thousands of entries, so a shard's changes in a batch are one log element (:meth:`flush`), stored
    at the next position of the log; the log is replayed in order (:meth:`apply`) to restore the shard. Once
    the log holds more than ``factor`` times the live entries (plus ``slack``), the next flush is a snapshot
    that replaces it (position 0): the log stays within a few times the live state while most batches write
    only what changed."""

    blobs: dict[str, dict[int, bytes]] = field(default_factory=dict)  # stream → start (or CORE) → blob
    seen_ms: dict[str, int] = field(default_factory=dict)
    log_bytes: int = 0  # in the stored log (as pickled, before compression: comparable with the blobs)
    elements: int = 0  # in the stored log: the next one's position
    pending: list[Change] = field(default_factory=list)  # changes of the current batch

    def record(self, stream_id: str, changes: StateChanges, seen_ms: int) -> None:
        """A stream's changes in this batch (its core is always rewritten)."""
        blobs = self.blobs.setdefault(stream_id, {})
        for start in changes.removed:
            blobs.pop(start, None)
            self.pending.append((stream_id, start, None, 0))
        for start, blob in changes.updated.items():
            blobs[start] = blob
            self.pending.append((stream_id, start, blob, 0))
        blobs[CORE] = changes.core
        self.seen_ms[stream_id] = seen_ms
        self.pending.append((stream_id, CORE, changes.core, seen_ms))

    def drop(self, stream_id: str) -> None:
        if self.blobs.pop(stream_id, None) is not None:
            self.pending.append((stream_id, DROP, None, 0))
        self.seen_ms.pop(stream_id, None)

    def apply(self, element: bytes) -> None:
        """Replay the next stored log element (a batch's changes, or a snapshot)."""
        self.log_bytes += _pickled_size(element)
        self.elements += 1
        for stream_id, start, blob, seen_ms in _decode_changes(element):
            if start == DROP:
                self.blobs.pop(stream_id, None)
                self.seen_ms.pop(stream_id, None)
            elif blob is None:
                self.blobs.get(stream_id, {}).pop(start, None)
            else:
                self.blobs.setdefault(stream_id, {})[start] = blob
                if start == CORE:
                    self.seen_ms[stream_id] = seen_ms

    def flush(self, factor: float = SNAPSHOT_FACTOR, slack: int = SNAPSHOT_SLACK) -> tuple[int, bytes] | None:
        """The log element that stores this batch's changes and its position in the log (0: a snapshot,
        which replaces the log); None when nothing changed."""
        if not self.pending:
            return None
        element, self.pending = _encode_changes(self.pending), []
        live = sum(len(blob) for blobs in self.blobs.values() for blob in blobs.values())
        if self.log_bytes + _pickled_size(element) <= factor * live + slack:
            self.log_bytes += _pickled_size(element)
            self.elements += 1
            return self.elements - 1, element
        element = _encode_changes(
            [
                (stream_id, start, blob, self.seen_ms[stream_id] if start == CORE else 0)
                for stream_id, blobs in self.blobs.items()
                for start, blob in blobs.items()
            ]
        )
        self.log_bytes, self.elements = _pickled_size(element), 1
        return 0, element

    def decode(self) -> dict[str, StreamAnalytics]:
        """Every stream's analytics object, from its stored entries."""
        return {
            stream_id: decode_core(
                blobs[CORE], {start: decode_pane(blob) for start, blob in blobs.items() if start != CORE}
            )
            for stream_id, blobs in self.blobs.items()
        }


def _encode_changes(changes: list[Change]) -> bytes:
    """Pickled, then compressed with zstd (level 1): ~2.8× smaller in ~2 ms a MB. The state server's path costs
    ~20 ms a MB (bench/results/pool.md), and RocksDB's changelog files get smaller too."""
    raw = pickle.dumps(changes, protocol=pickle.HIGHEST_PROTOCOL)
    compressed: bytes = _zstd().compress(raw, asbytes=True)
    return struct.pack("<Q", len(raw)) + compressed


def _pickled_size(element: bytes) -> int:
    size: int = struct.unpack_from("<Q", element)[0]
    return size


def _decode_changes(element: bytes) -> list[Change]:
    raw = _zstd().decompress(element[8:], decompressed_size=_pickled_size(element), asbytes=True)
    changes = pickle.loads(raw)
    if not isinstance(changes, list):
        raise TypeError(f"a stored log element decoded to {type(changes).__name__}")
    return changes


@functools.cache
def _zstd() -> Any:
    import pyarrow as pa

    return pa.Codec("zstd", compression_level=1)
