"""The stateful operator: the analytics core inside ``transformWithStateInPandas``, its state in RocksDB.

One job serves one stream, so the grouping key is the stream id and there is one state per job:

* ``analytics`` (value state): a token that changes with every batch, the analytics config in effect, and
  the analytics object without its panes (see :mod:`telemetra.spark.state`);
* ``panes`` (map state): pane start → pane; a batch rewrites only the panes it touched and removes those
  the core dropped.

Spark commits the state with the batch, so after a crash a batch is replayed from the state it started with
and emits exactly the same records. The Python worker that ran the last batch usually runs the next one
(``spark.python.worker.reuse``, one shuffle partition), so it keeps the live analytics object between
batches and skips decoding the state when the stored token says it is still the committed one; any other
case (another worker, a failed or replayed batch, a restart) decodes the committed state.
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

from telemetra.analytics.config import AnalyticsConfig
from telemetra.analytics.panes import Pane
from telemetra.analytics.stream import StreamAnalytics
from telemetra.spark.chunks import decode_items, paused_gc
from telemetra.spark.settings import analytics_config_from_json, analytics_config_to_json
from telemetra.spark.state import decode_core, decode_pane, fold_items, state_changes

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
    ]
)
_PANE_KEY = StructType([StructField("start", LongType(), False)])
_PANE_VALUE = StructType([StructField("blob", BinaryType(), False)])


# This worker's analytics objects as of the batch it last committed: stream id → (state token, object).
_LIVE: dict[str, tuple[str, StreamAnalytics]] = {}


class AnalyticsProcessor(StatefulProcessor):
    """Input rows: the chunks of :mod:`telemetra.spark.chunks` (:data:`~telemetra.spark.chunks.CHUNK_SCHEMA`);
    output rows: :data:`OUTPUT_SCHEMA` (records of :func:`~telemetra.spark.state.fold_items`)."""

    def __init__(self, stream_id: str, config: AnalyticsConfig):
        self.stream_id = stream_id
        self.config_json = analytics_config_to_json(config)

    def init(self, handle: StatefulProcessorHandle) -> None:
        self._core = handle.getValueState("analytics", _CORE_SCHEMA)
        self._panes = handle.getMapState("panes", _PANE_KEY, _PANE_VALUE)

    def handleInputRows(
        self, key: Any, rows: Iterator[pd.DataFrame], timerValues: Any
    ) -> Iterator[pd.DataFrame]:
        started = time.perf_counter()
        chunks = list(rows)
        frame = chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)
        # Kafka order: the embedded engine processes in arrival order, and a partition is the arrival order.
        frame = frame.sort_values(["partition", "first_offset"], kind="stable")
        prepare_seconds = float(frame["prepare_seconds"].sum())
        read = time.perf_counter()
        analytics, restored, config_json = self._restore()
        restored_at = time.perf_counter()
        before = set(analytics.panes)
        with paused_gc():
            result = fold_items(analytics, (decode_items(blob) for blob in frame["items"]))
        processed = time.perf_counter()
        self._save(analytics, before, result.touched, config_json)
        saved = time.perf_counter()
        records = result.records
        # How the state was found, whether the checkpoint's config is not the one asked for (the checkpoint's
        # stays in effect: windows and baselines were built with it), and where the time went.
        kind, key_text, payload = records[-1]
        stats = orjson.loads(payload) | {
            "restored": restored,
            "config_mismatch": config_json != self.config_json,
            "seconds": {
                "prepare": round(prepare_seconds, 4),  # the stateless stage's, summed over its tasks
                "input": round(read - started, 4),
                "restore": round(restored_at - read, 4),
                "analytics": round(processed - restored_at, 4),
                "save": round(saved - processed, 4),
            },
        }
        records[-1] = (kind, key_text, orjson.dumps(stats).decode())
        yield pd.DataFrame(
            {
                "seq": pd.Series(range(len(records)), dtype="int32"),
                "kind": [r[0] for r in records],
                "key": [r[1] for r in records],
                "payload": [r[2] for r in records],
            }
        )

    def close(self) -> None:
        pass

    # -- state -------------------------------------------------------------------------------------------
    def _restore(self) -> tuple[StreamAnalytics, str, str]:
        """The analytics object as of the last committed batch, how it was found, and its config (JSON)."""
        # The object is mutated from here on: it goes back to _LIVE only once its new state is saved.
        cached = _LIVE.pop(self.stream_id, None)
        stored = self._core.get()
        if stored is None:
            config = analytics_config_from_json(self.config_json)
            return StreamAnalytics(self.stream_id, config), "new", self.config_json
        token, config_json, blob = stored
        if cached is not None and cached[0] == token:
            return cached[1], "cache", config_json
        panes: dict[int, Pane] = {int(k[0]): decode_pane(v[0]) for k, v in self._panes.iterator()}
        return decode_core(bytes(blob), panes), "state", config_json

    def _save(
        self, analytics: StreamAnalytics, before: set[int], touched: set[int], config_json: str
    ) -> None:
        changes = state_changes(analytics, before, touched)
        for start in changes.removed:
            self._panes.removeKey((start,))
        for start, blob in changes.updated.items():
            self._panes.updateValue((start,), (blob,))
        token = uuid.uuid4().hex
        self._core.update((token, config_json, changes.core))
        _LIVE[self.stream_id] = (token, analytics)
