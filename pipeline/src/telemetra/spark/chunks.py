"""The job's stateless stage: Kafka records → validated, scored events, packed into chunks. No Spark here.

Validating an event against the contract and scoring a chat message are pure and cost most of the per-event
work (~7 µs of ~9 µs), so the job does them in the Kafka read tasks, in parallel (a large micro-batch is
split into several tasks), and hands the stateful step, which must see one stream's events one at a time,
only what is left: folding each event into its pane.

A chunk is one row per stream and run of records from one Kafka partition: the stream, whether the records
are control records, where the run starts (partition, first offset), and the engine's items
(:meth:`~telemetra.engine.core.Engine.prepare`), in offset order, as one ``marshal`` blob (~68 bytes an
item; encoding takes 0.2 µs an item against pickle's 0.5, decoding 0.35 µs for both; it only ever travels
between this job's own Python workers). A dead letter's source is ``topic:partition:offset``.
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from telemetra.engine.core import DEAD, EVENT, Engine, Item
from telemetra.records import DeadLetter

# The rows the stateless stage emits (a Spark DDL schema: pyspark is not imported here).
CHUNK_SCHEMA = (
    "stream_id string, control boolean, partition int, first_offset long, records int, "
    "prepare_seconds double, items binary"
)
_ENGINE = Engine()  # validation and routing only: no state, no settings


def _item(raw: bytes | None, source: str, expected: str | None) -> tuple[str | None, Item]:
    """An events record's stream and item; another event than a chat message travels as its JSON (the
    stateful step parses it again: an Event does not marshal)."""
    stream_id, item = _ENGINE.route(raw, source, expected)
    return stream_id, ((EVENT, bytes(raw)) if item[0] == EVENT and raw is not None else item)


def prepare_items(
    values: Sequence[bytes | None],
    partitions: Sequence[int],
    offsets: Sequence[int],
    stream_id: str,
    topic: str,
) -> list[Item]:
    """The items of one stream's Kafka records (in offset order), as the engine prepares them."""
    return [
        _item(raw, f"{topic}:{partition}:{offset}", stream_id)[1]
        for raw, partition, offset in zip(values, partitions, offsets, strict=True)
    ]


def encode_items(items: list[Item]) -> bytes:
    return marshal.dumps(items)


def decode_items(blob: bytes) -> list[Item]:
    items = marshal.loads(blob)
    if not isinstance(items, list):
        raise TypeError(f"a chunk decoded to {type(items).__name__}")
    return items


@dataclass(frozen=True)
class ChunkPreparer:
    """The ``mapInArrow`` function of the stateless stage: Arrow batches of Kafka records (``topic``, ``key``,
    ``value``, ``partition``, ``offset``) → :data:`CHUNK_SCHEMA` rows, one per stream and run of one
    partition's records in a batch.

    With ``stream_id`` (a stream's own topic) every record must be that stream's event. Without it (a pool),
    a record belongs to the stream its key names (producers key by stream id) and must be that stream's
    event; a record without a key, to the stream it names. Records of ``control_topic`` are control items of
    the stream their key names. Dead letters need no state: they travel under the empty stream id."""

    events_topic: str
    control_topic: str | None = None
    stream_id: str | None = None

    def __call__(self, batches: Iterable[Any]) -> Iterator[Any]:
        import pyarrow as pa

        for batch in batches:
            columns = [
                batch.column(name).to_pylist() for name in ("topic", "key", "value", "partition", "offset")
            ]
            rows = [row for run in _runs(*columns) for row in self._chunks(*run)]
            if rows:
                yield pa.RecordBatch.from_pylist(rows, schema=_arrow_schema())

    def _chunks(
        self, topic: str, partition: int, keys: list[Any], values: list[Any], offsets: list[int]
    ) -> list[dict[str, Any]]:
        started = time.perf_counter()
        control = topic == self.control_topic
        groups: dict[str, tuple[int, list[Item]]] = {}
        with paused_gc():
            for key, raw, offset in zip(keys, values, offsets, strict=True):
                source = f"{topic}:{partition}:{offset}"
                named = key.decode("utf-8", "replace") if key else None
                if control:
                    stream_id: str | None = named
                    item = (
                        Engine.control(raw, source, named)
                        if named
                        else (
                            DEAD,
                            DeadLetter.of("control record without a key", raw, source, None).to_dict(),
                        )
                    )
                else:
                    stream_id, item = _item(raw, source, self.stream_id or named)
                stream = "" if item[0] == DEAD else str(stream_id)
                group = groups.get(stream)
                if group is None:
                    group = groups[stream] = (offset, [])
                group[1].append(item)
        seconds = (time.perf_counter() - started) / max(len(values), 1)
        return [
            {
                "stream_id": stream,
                "control": control,
                "partition": partition,
                "first_offset": first,
                "records": len(items),
                "prepare_seconds": seconds * len(items),
                "items": encode_items(items),
            }
            for stream, (first, items) in groups.items()
        ]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a batch builds its ~100,000 long-lived tuples: the collector would
    rescan them over and over (decoding a chunk takes 1.8 µs an item with it, 0.4 µs without). The objects
    form no cycles; whatever does is collected after the batch."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _runs(
    topics: list[str], keys: list[Any], values: list[Any], partitions: list[int], offsets: list[int]
) -> Iterator[tuple[str, int, list[Any], list[Any], list[int]]]:
    """Split a batch where the topic or partition changes (a read task reads one partition, but be sure)."""
    start = 0
    for i in range(1, len(partitions) + 1):
        if i == len(partitions) or partitions[i] != partitions[start] or topics[i] != topics[start]:
            yield topics[start], partitions[start], keys[start:i], values[start:i], offsets[start:i]
            start = i


def _arrow_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("stream_id", pa.string()),
            pa.field("control", pa.bool_()),
            pa.field("partition", pa.int32()),
            pa.field("first_offset", pa.int64()),
            pa.field("records", pa.int32()),
            pa.field("prepare_seconds", pa.float64()),
            pa.field("items", pa.binary()),
        ]
    )
