"""The stateful operator: the analytics core inside ``transformWithStateInPandas``, its state in RocksDB.

The grouping key is a shard of the job's streams (:func:`~telemetra.spark.chunks.shard_of`; a stream's own job
has one stream, so one shard): one call per shard and batch folds the batch's chunks stream by stream. Spark's
costs per grouping key (the call, its pandas frames, round trips to the state server) are paid per shard, not
per stream. Each shard keeps, in

* ``shard`` (value state): a token that changes with every batch, and when the shard's idle timer fires;
* ``log`` (map state): its streams' state (each stream's analytics object without its panes, and its panes:
  see :mod:`telemetra.spark.state`) as a log of changes, position → one batch's changes, now and then a
  snapshot (:class:`~telemetra.spark.state.StoredShard`): a batch writes what it changed, in one call; a
  snapshot clears the map and writes position 0.

A new stream starts with the job's analytics config; the pool's control records (chunks flagged ``control``)
change it while running: the newest applies before the batch's events; a tombstone ends the stream after them
(:func:`~telemetra.spark.state.in_order`). A stream absent from the pool's batches for ``idle_ms`` ends too
(checked at each of its shard's batches, and by an event-time timer on the batches' timestamps when the whole
shard is silent): its windows close, as at the end of input, and its state is dropped, so a pool's state holds
only its active streams.

Spark commits the state with the batch, so after a crash a batch is replayed from the state it started with
and emits exactly the same records. The Python worker that ran a shard's last batch often runs its next one
(``spark.python.worker.reuse``; always with one stateful task, ``--shuffle-partitions 1``), so it keeps the
live analytics objects between batches and skips replaying the shard's log when the stored token says it is
still the committed one; any other case (another worker, a failed or replayed batch, a restart) replays the
committed log.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pandas as pd  # type: ignore[import-untyped]
from pyspark.sql.streaming.stateful_processor import StatefulProcessor, StatefulProcessorHandle
from pyspark.sql.types import BinaryType, IntegerType, LongType, StringType, StructField, StructType

from telemetra.analytics.config import AnalyticsConfig, analytics_config_from_json, analytics_config_to_json
from telemetra.analytics.stream import StreamAnalytics
from telemetra.engine.core import CONTROL, Item
from telemetra.spark.chunks import SHARD_KEYS, decode_items, paused_gc, worker_task
from telemetra.spark.state import SNAPSHOT_FACTOR, STATS, StoredShard, fold_items, in_order, state_changes

OUTPUT_SCHEMA = StructType(
    [
        StructField("seq", IntegerType(), False),
        StructField("kind", StringType(), False),
        StructField("key", StringType(), False),
        StructField("payload", StringType(), False),
    ]
)
_SHARD_SCHEMA = StructType(
    [
        StructField("token", StringType(), False),
        StructField("timer_ms", LongType(), False),  # when the shard's idle timer fires (0: none)
    ]
)
_LOG_POSITION = StructType([StructField("position", IntegerType(), False)])
_LOG_ELEMENT = StructType([StructField("changes", BinaryType(), False)])
Records = list[tuple[str, str, str]]


@dataclass(slots=True)
class Shard:
    """A shard's streams as of the batch it last committed, live in the worker."""

    token: str = ""  # "": nothing committed yet
    streams: dict[str, StreamAnalytics] = field(default_factory=dict)
    # what the state store holds, and this batch's changes
    stored: StoredShard = field(default_factory=StoredShard)
    timer_ms: int = 0  # the registered idle timer (0: none)
    write_seconds: float = 0.0  # spent encoding state changes in the current batch


# This worker's shards as of the batch it last committed: grouping key → shard.
_LIVE: dict[int, Shard] = {}


class AnalyticsProcessor(StatefulProcessor):
    """Input rows: the chunks of :mod:`telemetra.spark.chunks` (:data:`~telemetra.spark.chunks.CHUNK_SCHEMA`);
    output rows: :data:`OUTPUT_SCHEMA` (records of :func:`~telemetra.spark.state.fold_items`, then one
    statistics record of the shard's batch)."""

    def __init__(self, config: AnalyticsConfig, idle_ms: int):
        self.config_json = analytics_config_to_json(config)
        self.idle_ms = idle_ms

    def init(self, handle: StatefulProcessorHandle) -> None:
        self._handle = handle
        self._config = analytics_config_from_json(self.config_json)
        self._shard = handle.getValueState("shard", _SHARD_SCHEMA)
        self._log = handle.getMapState("log", _LOG_POSITION, _LOG_ELEMENT)

    def handleInputRows(
        self, key: Any, rows: Iterator[pd.DataFrame], timerValues: Any
    ) -> Iterator[pd.DataFrame]:
        worker_task()
        started = time.perf_counter()
        frames = list(rows)
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        now = int(frame["batch_ts"].max().value // 1_000_000) if "batch_ts" in frame else 0  # ms
        read = time.perf_counter()
        shard, restored = self._restore(int(key[0]))
        restored_at = time.perf_counter()
        shard.write_seconds = 0.0
        records: Records = []
        with paused_gc():
            for stream_id, chunks in _by_stream(frame):
                records += self._fold(shard, stream_id, chunks, now)
            records += self._expire(shard, now)
        processed = time.perf_counter()
        self._commit(int(key[0]), shard)
        saved = time.perf_counter()
        stats = {
            "shard": int(key[0]),
            "chunks": len(frame),
            "streams": len(shard.streams),
            "log_bytes": shard.stored.log_bytes,
            "restored": restored,
            "seconds": {
                "prepare": round(float(frame["prepare_seconds"].sum()), 4),  # the read tasks', summed
                "input": round(read - started, 4),
                "restore": round(restored_at - read, 4),
                "analytics": round(processed - restored_at - shard.write_seconds, 4),
                "encode": round(shard.write_seconds, 4),  # the changed entries, as bytes
                "save": round(saved - processed, 4),  # to the state store (and the timer, the token)
            },
        }
        records.append((STATS, "", orjson.dumps(stats).decode()))
        yield _frame(records)

    def handleExpiredTimer(self, key: Any, timerValues: Any, expiredTimerInfo: Any) -> Iterator[pd.DataFrame]:
        """The pool's batches went on without some of the shard's streams for ``idle_ms``: their windows
        close and their state goes; the timer moves to the next stream due."""
        worker_task()
        shard, _ = self._restore(int(key[0]))
        if not shard.token:
            return
        shard.timer_ms = 0  # it fired: Spark deletes it
        with paused_gc():
            records = self._expire(shard, timerValues.getCurrentWatermarkInMs())
        self._commit(int(key[0]), shard)
        if records:
            yield _frame(records)

    def close(self) -> None:
        pass

    # -- one stream --------------------------------------------------------------------------------------
    def _fold(self, shard: Shard, stream_id: str, chunks: Iterable[list[Item]], now: int) -> Records:
        """Fold a stream's chunks into its analytics and write what changed; its output records."""
        if not stream_id:  # dead letters: no stream, no state
            return fold_items(StreamAnalytics(""), chunks).records
        analytics = shard.streams.get(stream_id)
        if analytics is None:
            analytics = StreamAnalytics(stream_id, self._config)
        stored = set(analytics.panes)  # what the state store holds (a new stream: nothing)
        result = fold_items(analytics, chunks)
        encoding = time.perf_counter()
        if result.ended:
            self._drop(shard, stream_id)
        else:
            shard.stored.record(stream_id, state_changes(analytics, stored, result.touched), now)
            shard.streams[stream_id] = analytics
        shard.write_seconds += time.perf_counter() - encoding
        return result.records

    def _expire(self, shard: Shard, now: int) -> Records:
        """End the streams not seen for ``idle_ms`` (as at the end of their input); their output records."""
        if not self.idle_ms:
            return []
        records: Records = []
        for stream_id in [s for s, seen in shard.stored.seen_ms.items() if now - seen >= self.idle_ms]:
            records += fold_items(shard.streams[stream_id], [[(CONTROL, None)]]).records
            self._drop(shard, stream_id)
        return records

    @staticmethod
    def _drop(shard: Shard, stream_id: str) -> None:
        shard.streams.pop(stream_id, None)
        shard.stored.drop(stream_id)

    # -- the shard ---------------------------------------------------------------------------------------
    def _restore(self, key: int) -> tuple[Shard, str]:
        """The shard as of the last committed batch, and how it was found."""
        # Its objects are mutated from here on: the shard goes back to _LIVE only once its state is saved.
        cached = _LIVE.pop(key, None)
        stored = self._shard.get()
        if stored is None:
            return Shard(), "new"
        if cached is not None and cached.token == stored[0]:
            return cached, "cache"
        log = StoredShard()
        for _, (element,) in sorted(self._log.iterator(), key=lambda entry: int(entry[0][0])):
            log.apply(bytes(element))
        return Shard(stored[0], log.decode(), log, int(stored[1])), "state"

    def _commit(self, key: int, shard: Shard) -> None:
        """Store the batch's changes, move the idle timer to the next stream due, store a new token and keep
        the shard live."""
        # Shards snapshot at different log sizes (3, 3.25, 3.5 or 3.75 times their live state), so that their
        # snapshots (a whole shard each) spread over batches instead of landing in the same one.
        element = shard.stored.flush(SNAPSHOT_FACTOR + SHARD_KEYS.index(key) % 4 / 4)
        if element is not None:
            position, changes = element
            if not position:  # a snapshot
                self._log.clear()
            self._log.updateValue((position,), (changes,))
        seen = shard.stored.seen_ms
        if self.idle_ms:
            due = min(seen.values()) + self.idle_ms if seen else 0
            if due != shard.timer_ms:
                if shard.timer_ms:
                    self._handle.deleteTimer(shard.timer_ms)
                if due:
                    self._handle.registerTimer(due)
                shard.timer_ms = due
        shard.token = uuid.uuid4().hex
        self._shard.update((shard.token, shard.timer_ms))
        _LIVE[key] = shard


def _by_stream(frame: pd.DataFrame) -> Iterator[tuple[str, Iterator[list[Item]]]]:
    """Each stream's chunks in the order they apply (:func:`~telemetra.spark.state.in_order`; a stream's events
    are on one Kafka partition, in arrival order, its control records too), decoded as they are folded."""
    rows = sorted(
        zip(
            frame["stream_id"].tolist(),
            frame["partition"].tolist(),
            frame["first_offset"].tolist(),
            frame["control"].tolist(),
            frame["items"].tolist(),
            strict=True,
        ),
        key=lambda row: row[:3],
    )
    for stream_id, chunks in itertools.groupby(rows, key=lambda row: row[0]):
        yield stream_id, in_order((control, decode_items(items)) for _, _, _, control, items in chunks)


def _frame(records: Records) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "seq": pd.Series(range(len(records)), dtype="int32"),
            "kind": [r[0] for r in records],
            "key": [r[1] for r in records],
            "payload": [r[2] for r in records],
        }
    )
