"""The job's stateless stage: Kafka records → validated, scored events, packed into chunks. No Spark here.

Validating an event against the contract and scoring a chat message are pure and cost most of the per-event
work (~7 µs of ~9 µs), so the job does them in the Kafka read tasks, in parallel (a large micro-batch is
split into several tasks), and hands the stateful step, which must see one stream's events one at a time,
only what is left: folding each event into its pane.

A chunk is one row per stream and run of records from one Kafka partition: the stream's shard (the stateful
step's grouping key, :func:`shard_of`), the stream, whether the records are control records, where the run
starts (partition, first offset), and the engine's items (:meth:`~telemetra.engine.core.Engine.prepare`), in
offset order, as one ``marshal`` blob (~68 bytes an item; encoding takes 0.2 µs an item against pickle's 0.5,
decoding 0.35 µs for both; it only ever travels between this job's own Python workers). A dead letter's
source is ``topic:partition:offset``; it travels in the shard of the stream it was sent to.

The stateful step groups by shard, not by stream: Spark's costs per grouping key (a call into Python, its
pandas frames, round trips to the state server) are then paid per shard and batch, a handful, instead of
once per stream: a pool of 1,000 streams spent most of its time on them.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import marshal
import os
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from telemetra.engine.core import DEAD, EVENT, Engine, Item
from telemetra.records import DeadLetter

# The rows the stateless stage emits (a Spark DDL schema: pyspark is not imported here).
CHUNK_SCHEMA = (
    "shard int, stream_id string, control boolean, partition int, first_offset long, records int, "
    "prepare_seconds double, items binary"
)
_ENGINE = Engine()  # validation and routing only: no state, no settings

# The shards' grouping keys. Spark sends a key to the stateful task pmod(murmur3(key, seed 42), partitions);
# these are the smallest ints that this sends to task i mod P for every P dividing 8 (checked against Spark
# in the tests), so the shards, and the streams they hold, are spread evenly over the stateful tasks. A
# stream's shard is fixed by this table and a CRC of its id: the checkpoint's state is keyed by it.
SHARD_KEYS = (12, 6, 5, 1, 25, 15, 2, 0)


def shard_of(stream_id: str) -> int:
    """The grouping key of the shard that holds a stream's state (the empty id: stateless dead letters)."""
    return SHARD_KEYS[zlib.crc32(stream_id.encode()) % len(SHARD_KEYS)]


def _item(
    raw: bytes | None, expected: str | None, topic: str, partition: int, offset: int
) -> tuple[str | None, Item]:
    """An events record's stream and item; another event than a chat message travels as its JSON (the
    stateful step parses it again: an Event does not marshal). Only a dead letter needs its source
    (``topic:partition:offset``), so only an invalid record, rare, pays for building it."""
    stream_id, item = _ENGINE.route(raw, "", expected)
    if item[0] == DEAD:
        return _ENGINE.route(raw, f"{topic}:{partition}:{offset}", expected)
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
        _item(raw, stream_id, topic, partition, offset)[1]
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
    """The ``mapInArrow`` function of the stateless stage: Arrow batches of Kafka records (``control``: the
    record is from ``control_topic``, decided in the JVM so that the topic's name, 29 bytes a record, does not
    cross to Python; ``key``, ``value``, ``partition``, ``offset``) → :data:`CHUNK_SCHEMA` rows, one per
    stream and run of one partition's records in a batch (a read task reads one partition: one run).

    With ``stream_id`` (a stream's own topic) every record must be that stream's event. Without it (a pool),
    a record belongs to the stream its key names (producers key by stream id) and must be that stream's
    event; a record without a key, to the stream it names. Records of ``control_topic`` are control items of
    the stream their key names. Dead letters need no state: they travel under the empty stream id."""

    events_topic: str
    control_topic: str | None = None
    stream_id: str | None = None

    def __call__(self, batches: Iterable[Any]) -> Iterator[Any]:
        import pyarrow as pa

        worker_task()
        for batch in batches:
            rows = [row for run in _runs(batch) for row in self._chunks(*run)]
            if rows:
                yield pa.RecordBatch.from_pylist(rows, schema=_arrow_schema())

    def _chunks(
        self, control: bool, partition: int, keys: list[Any], values: list[Any], offsets: list[int]
    ) -> list[dict[str, Any]]:
        started = time.perf_counter()
        with paused_gc():
            groups = self._groups(control, partition, keys, values, offsets)
            # Encoded before the collector is back, so the items are freed by their reference counts: with
            # them still alive, its first run would scan them all (~0.5 µs an item).
            encoded = {
                group: (first, len(items), encode_items(items)) for group, (first, items) in groups.items()
            }
            groups.clear()
        seconds = (time.perf_counter() - started) / max(len(values), 1)
        return [
            {
                "shard": shard_of(sent_to),
                "stream_id": stream,
                "control": control,
                "partition": partition,
                "first_offset": first,
                "records": count,
                "prepare_seconds": seconds * count,
                "items": blob,
            }
            for (stream, sent_to), (first, count, blob) in encoded.items()
        ]

    def _groups(
        self, control: bool, partition: int, keys: list[Any], values: list[Any], offsets: list[int]
    ) -> dict[tuple[str, str], tuple[int, list[Item]]]:
        """A run's items by (stream, stream it was sent to), with the offset of each group's first record;
        a dead letter's stream is the empty id."""
        topic = str(self.control_topic) if control else self.events_topic
        groups: dict[tuple[str, str], tuple[int, list[Item]]] = {}
        names: dict[bytes, str] = {}  # the run's keys, decoded once each
        for key, raw, offset in zip(keys, values, offsets, strict=True):
            named = names.get(key) if key else None
            if key and named is None:
                named = names[key] = key.decode("utf-8", "replace")
            if control:
                stream_id, item = named, self._control(raw, named, f"{topic}:{partition}:{offset}")
            else:
                stream_id, item = _item(raw, self.stream_id or named, topic, partition, offset)
            group_key = ("" if item[0] == DEAD else str(stream_id), stream_id or "")
            group = groups.get(group_key)
            if group is None:
                group = groups[group_key] = (offset, [])
            group[1].append(item)
        return groups

    @staticmethod
    def _control(raw: bytes | None, named: str | None, source: str) -> Item:
        if named:
            return Engine.control(raw, source, named)
        return (DEAD, DeadLetter.of("control record without a key", raw, source, None).to_dict())


# A chat message like the common ones, for warm_up: it takes the contract's fast path and is scored.
_SAMPLE = (
    b'{"event_id":"warm-up","stream_id":"warm-up","type":"chat","ts":"2026-01-01T00:00:00.000Z",'
    b'"user_id":"1","username":"warm","text":"what a play PogChamp","emotes":["PogChamp"]}'
)


def warm_up(batches: Iterable[Any]) -> Iterator[Any]:
    """A ``mapInArrow`` function for a Python worker's first task, run while the query plans its first batch
    (:meth:`~telemetra.spark.job.StreamJob.start`): the worker starts and imports what the job's tasks need
    (this module, the contract's models and the scorer's lexicons, pandas and the stateful processor), and Spark
    keeps it for the query's tasks (``spark.python.worker.reuse``), so its first batch does not wait for it."""
    import pyarrow as pa

    import telemetra.spark.processor  # noqa: F401 (imported for its imports)

    _ENGINE.route(_SAMPLE, "", None)
    for batch in batches:
        yield pa.RecordBatch.from_pylist([{"rows": batch.num_rows}], schema=pa.schema([("rows", pa.int64())]))


# Calls between two full sweeps of a worker's heap (see worker_task).
TASKS_PER_SWEEP = 50
_tasks = itertools.count(1)


def worker_task() -> None:
    """Call whenever Spark calls into the job's code in a Python worker (a read task, a shard's stateful
    step): what is alive then (modules, the scorer's caches, the shards' live state) is moved to the
    collector's permanent generation.

    A reused worker (``spark.python.worker.reuse``) runs a full garbage collection after every task (pyspark's
    daemon), which scans every live object: with a pool's shards live in the worker, 0.1–0.25 s a task, 14–22
    tasks a micro-batch, ~10 % of the job's CPU (bench/results/pool.md). Frozen, they are not scanned.
    Objects frozen this way are still freed by their reference counts, but a reference cycle among them would
    not be collected: every ``TASKS_PER_SWEEP`` calls nothing is frozen, so the collection after that task
    scans everything once. Only in a reused worker (the sweep after each task is pyspark's); elsewhere (tests,
    the driver) nothing changes."""
    if not os.environ.get("SPARK_REUSE_WORKER"):
        return
    if next(_tasks) % TASKS_PER_SWEEP:
        gc.freeze()
    else:
        gc.unfreeze()


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


def _runs(batch: Any) -> Iterator[tuple[bool, int, list[Any], list[Any], list[int]]]:
    """Split a batch where the topic or partition changes (a read task reads one partition, but be sure):
    ``(control, partition, keys, values, offsets)``. The split is found with Arrow's vectorised compute, so
    only the keys, values and offsets become Python objects."""
    import pyarrow.compute as pc

    size = batch.num_rows
    if not size:
        return
    controls, partitions = batch.column("control"), batch.column("partition")
    changes = pc.or_(
        pc.not_equal(controls.slice(1), controls.slice(0, size - 1)),
        pc.not_equal(partitions.slice(1), partitions.slice(0, size - 1)),
    )
    cuts = [0, *(i + 1 for i in pc.indices_nonzero(changes).to_pylist()), size]
    for start, end in itertools.pairwise(cuts):
        run = batch.slice(start, end - start)
        keys, values, offsets = (run.column(name).to_pylist() for name in ("key", "value", "offset"))
        yield controls[start].as_py(), partitions[start].as_py(), keys, values, offsets


def _arrow_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("shard", pa.int32()),
            pa.field("stream_id", pa.string()),
            pa.field("control", pa.bool_()),
            pa.field("partition", pa.int32()),
            pa.field("first_offset", pa.int64()),
            pa.field("records", pa.int32()),
            pa.field("prepare_seconds", pa.float64()),
            pa.field("items", pa.binary()),
        ]
    )
