"""The stateful operator: the analytics core inside ``transformWithStateInPandas``, its state in RocksDB.

The grouping key is the stream id: a pool's job keeps one state per stream (a stream's own job, one), in

* ``analytics`` (value state): a token that changes with every batch, the analytics config in effect, the
  analytics object without its panes (see :mod:`telemetra.spark.state`), when the stream was last seen and
  when its idle timer fires;
* ``panes`` (map state): pane start → pane; a batch rewrites only the panes it touched and removes those
  the core dropped.

A new stream starts with the job's analytics config; the pool's control records (chunks flagged
``control``) change it while running: the newest applies before the batch's events; a tombstone ends the
stream after them (:func:`~telemetra.spark.state.in_order`). A stream absent from the pool's batches for
``idle_ms`` (an event-time timer on the batches' timestamps) ends too: its windows close, as at the end of
input, and its state is dropped, so a pool's state holds only its active streams.

Spark commits the state with the batch, so after a crash a batch is replayed from the state it started with
and emits exactly the same records. The Python worker that ran the last batch usually runs the next one
(``spark.python.worker.reuse``), so it keeps the live analytics objects between batches and skips decoding
the state when the stored token says it is still the committed one; any other case (another worker, a
failed or replayed batch, a restart) decodes the committed state.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pandas as pd  # type: ignore[import-untyped]
from pyspark.sql.streaming.stateful_processor import StatefulProcessor, StatefulProcessorHandle
from pyspark.sql.types import BinaryType, IntegerType, LongType, StringType, StructField, StructType

from telemetra.analytics.config import AnalyticsConfig, analytics_config_from_json, analytics_config_to_json
from telemetra.analytics.panes import Pane
from telemetra.analytics.stream import StreamAnalytics
from telemetra.engine.core import CONTROL
from telemetra.spark.chunks import decode_items, paused_gc
from telemetra.spark.state import decode_core, decode_pane, fold_items, in_order, state_changes

OUTPUT_SCHEMA = StructType(
    [
        StructField("seq", IntegerType(), False),
        StructField("kind", StringType(), False),
        StructField("key", StringType(), False),
        StructField("payload", StringType(), False),
    ]
)
_CORE_SCHEMA = StructType(
    [
        StructField("token", StringType(), False),
        StructField("config", StringType(), False),
        StructField("blob", BinaryType(), False),
        StructField("seen_ms", LongType(), False),  # when the stream was last in a batch (batch time)
        StructField("timer_ms", LongType(), False),  # when its idle timer fires (0: none)
    ]
)
_PANE_KEY = StructType([StructField("start", LongType(), False)])
_PANE_VALUE = StructType([StructField("blob", BinaryType(), False)])


# This worker's analytics objects as of the batch it last committed: stream id → (state token, object).
_LIVE: dict[str, tuple[str, StreamAnalytics]] = {}


class AnalyticsProcessor(StatefulProcessor):
    """Input rows: the chunks of :mod:`telemetra.spark.chunks` (:data:`~telemetra.spark.chunks.CHUNK_SCHEMA`);
    output rows: :data:`OUTPUT_SCHEMA` (records of :func:`~telemetra.spark.state.fold_items`)."""

    def __init__(self, config: AnalyticsConfig, idle_ms: int):
        self.config_json = analytics_config_to_json(config)
        self.idle_ms = idle_ms

    def init(self, handle: StatefulProcessorHandle) -> None:
        self._handle = handle
        self._core = handle.getValueState("analytics", _CORE_SCHEMA)
        self._panes = handle.getMapState("panes", _PANE_KEY, _PANE_VALUE)

    def handleInputRows(
        self, key: Any, rows: Iterator[pd.DataFrame], timerValues: Any
    ) -> Iterator[pd.DataFrame]:
        started = time.perf_counter()
        stream_id = str(key[0])
        chunks = list(rows)
        frame = chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)
        # Kafka order: a stream's events are on one partition, in arrival order (its control records too).
        frame = frame.sort_values(["partition", "first_offset"], kind="stable")
        prepare_seconds = float(frame["prepare_seconds"].sum())
        blobs = in_order(zip(frame["control"], map(decode_items, frame["items"]), strict=True))
        if not stream_id:  # dead letters: no stream, no state
            yield _frame(fold_items(StreamAnalytics(""), blobs).records)
            return
        read = time.perf_counter()
        analytics, restored, stored = self._restore(stream_id)
        restored_at = time.perf_counter()
        before = set(analytics.panes)
        with paused_gc():
            result = fold_items(analytics, blobs)
        processed = time.perf_counter()
        now = int(frame["batch_ts"].max().value // 1_000_000) if "batch_ts" in frame else 0  # ms
        if result.ended:
            self._drop(stream_id, stored)
        else:
            self._save(stream_id, analytics, before, result.touched, stored, now)
        saved = time.perf_counter()
        records = result.records
        # How the state was found, and where the time went.
        kind, key_text, payload = records[-1]
        stats = orjson.loads(payload) | {
            "restored": restored,
            "seconds": {
                "prepare": round(prepare_seconds, 4),  # the stateless stage's, summed over its tasks
                "input": round(read - started, 4),
                "restore": round(restored_at - read, 4),
                "analytics": round(processed - restored_at, 4),
                "save": round(saved - processed, 4),
            },
        }
        records[-1] = (kind, key_text, orjson.dumps(stats).decode())
        yield _frame(records)

    def handleExpiredTimer(self, key: Any, timerValues: Any, expiredTimerInfo: Any) -> Iterator[pd.DataFrame]:
        """The pool's batches went on for ``idle_ms`` without the stream: its windows close and its state goes,
        unless it was seen again since the timer was set (then the timer moves)."""
        stream_id = str(key[0])
        now = timerValues.getCurrentWatermarkInMs()
        analytics, _, stored = self._restore(stream_id)
        if stored is None:
            return
        if now - stored[3] < self.idle_ms:
            self._handle.registerTimer(stored[3] + self.idle_ms)
            self._core.update((*stored[:4], stored[3] + self.idle_ms))
            _LIVE[stream_id] = (stored[0], analytics)
            return
        result = fold_items(analytics, [[(CONTROL, None)]])
        self._drop(stream_id, None)
        yield _frame(result.records)

    def close(self) -> None:
        pass

    # -- state -------------------------------------------------------------------------------------------
    def _restore(self, stream_id: str) -> tuple[StreamAnalytics, str, tuple[Any, ...] | None]:
        """The analytics object as of the last committed batch, how it was found, and the stored core."""
        # The object is mutated from here on: it goes back to _LIVE only once its new state is saved.
        cached = _LIVE.pop(stream_id, None)
        stored = self._core.get()
        if stored is None:
            return StreamAnalytics(stream_id, analytics_config_from_json(self.config_json)), "new", None
        if cached is not None and cached[0] == stored[0]:
            return cached[1], "cache", stored
        panes: dict[int, Pane] = {int(k[0]): decode_pane(v[0]) for k, v in self._panes.iterator()}
        return decode_core(bytes(stored[2]), panes), "state", stored

    def _save(
        self,
        stream_id: str,
        analytics: StreamAnalytics,
        before: set[int],
        touched: set[int],
        stored: tuple[Any, ...] | None,
        now: int,
    ) -> None:
        changes = state_changes(analytics, before, touched)
        for start in changes.removed:
            self._panes.removeKey((start,))
        for start, blob in changes.updated.items():
            self._panes.updateValue((start,), (blob,))
        timer = stored[4] if stored is not None else 0
        if self.idle_ms and not timer:  # one timer per stream; it moves when it fires on an active one
            timer = now + self.idle_ms
            self._handle.registerTimer(timer)
        token = uuid.uuid4().hex
        self._core.update((token, analytics_config_to_json(analytics.config), changes.core, now, timer))
        _LIVE[stream_id] = (token, analytics)

    def _drop(self, stream_id: str, stored: tuple[Any, ...] | None) -> None:
        _LIVE.pop(stream_id, None)
        if stored is not None and stored[4]:
            self._handle.deleteTimer(stored[4])
        self._core.clear()
        self._panes.clear()


def _frame(records: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "seq": pd.Series(range(len(records)), dtype="int32"),
            "kind": [r[0] for r in records],
            "key": [r[1] for r in records],
            "payload": [r[2] for r in records],
        }
    )
