"""The stateless stage without Spark: Arrow batches of Kafka records → chunks, which, folded in Kafka order
whatever order they arrive in, give the embedded engine's output; invalid records become dead letters."""

from __future__ import annotations

import heapq
import random
from typing import Any

import orjson
import pyarrow as pa

from telemetra.analytics.config import AnalyticsConfig
from telemetra.analytics.stream import StreamAnalytics, chat_features
from telemetra.contract import ChatEvent, parse_event
from telemetra.dev.testing.spark import engine_reference, scenario_log
from telemetra.engine.core import CHAT, DEAD, EVENT, Engine
from telemetra.records import PoolTopics
from telemetra.spark.chunks import ChunkPreparer, decode_items, prepare_items, shard_of, warm_up
from telemetra.spark.state import DEAD_LETTER, MOMENT, WINDOW, BatchResult, fold_items, in_order

STREAM = "alpha"
TOPIC = "telemetra.alpha.events"
POOL = PoolTopics.of("default")


def kafka_batch(
    values: list[bytes | None],
    partitions: list[int],
    offsets: list[int],
    topic: str = TOPIC,
    keys: list[bytes | None] | None = None,
) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "control": pa.array([topic == POOL.control] * len(values), pa.bool_()),
            "key": pa.array(keys or [None] * len(values), pa.binary()),
            "value": pa.array(values, pa.binary()),
            "partition": pa.array(partitions, pa.int32()),
            "offset": pa.array(offsets, pa.int64()),
        }
    )


def test_chunks_folded_in_kafka_order_give_the_embedded_engines_output() -> None:
    lines = scenario_log(STREAM, seconds=240, rate=40, scenarios=["hype@150"]).lines
    reference = engine_reference(lines)
    # Two Kafka partitions (the first half of the log in partition 0), read by tasks of uneven sizes; a
    # task's Arrow batch may even span both partitions.
    half = len(lines) // 2
    partitions = [0 if i < half else 1 for i in range(len(lines))]
    offsets = [i if i < half else i - half for i in range(len(lines))]
    preparer, rows, start, rng = ChunkPreparer(TOPIC, stream_id=STREAM), [], 0, random.Random(3)
    while start < len(lines):
        end = min(len(lines), start + rng.choice([1, 97, 1500, 4000]))
        batch = kafka_batch(lines[start:end], partitions[start:end], offsets[start:end])
        for out in preparer(iter([batch])):
            rows += out.to_pylist()
        start = end
    assert sum(row["records"] for row in rows) == len(lines)
    assert all(row["stream_id"] == STREAM and row["prepare_seconds"] >= 0 for row in rows)
    assert len({row["partition"] for row in rows}) == 2  # runs are split where the partition changes

    rng.shuffle(rows)  # the stateful step receives them in any order
    rows.sort(key=lambda row: (row["partition"], row["first_offset"]))
    result = fold_items(StreamAnalytics(STREAM), (decode_items(row["items"]) for row in rows))

    windows = [orjson.loads(p) for kind, _, p in result.records if kind == WINDOW]
    assert windows == [w.to_dict() for w in reference.windows]
    moments = {key: orjson.loads(p) for kind, key, p in result.records if kind == MOMENT}
    assert [moments[m.moment_id] for m in reference.moments] == [m.to_dict() for m in reference.moments]
    assert result.events == reference.events


def test_items_carry_scored_chat_other_events_and_dead_letters() -> None:
    chat = orjson.dumps({"event_id": "c1", "stream_id": STREAM, "type": "chat", "ts": "2026-11-27T16:00:01Z",
                         "user_id": "u1", "username": "u", "text": "PogChamp what a play"})  # fmt: skip
    viewers = orjson.dumps({"event_id": "v1", "stream_id": STREAM, "type": "viewers",
                            "ts": "2026-11-27T16:00:02Z", "viewers": 10})  # fmt: skip
    other_stream = chat.replace(b'"alpha"', b'"beta"')
    items = prepare_items([chat, b"{not json", viewers, None, other_stream], [4] * 5, [10, 11, 12, 13, 14],
                          STREAM, TOPIC)  # fmt: skip

    event = parse_event(chat)
    assert isinstance(event, ChatEvent)
    assert items[0] == (CHAT, *chat_features(event))
    assert items[2] == (EVENT, viewers)
    assert [item[0] for item in items] == [CHAT, DEAD, EVENT, DEAD, DEAD]
    letters = {item[1]["source"]: item[1] for item in items if item[0] == DEAD}
    assert sorted(letters) == [f"{TOPIC}:4:11", f"{TOPIC}:4:13", f"{TOPIC}:4:14"]
    assert "malformed JSON" in letters[f"{TOPIC}:4:11"]["reason"]
    assert letters[f"{TOPIC}:4:13"]["reason"] == "empty record (no value)"
    assert "is not the stream it was sent to ('alpha')" in letters[f"{TOPIC}:4:14"]["reason"]
    assert {letter["stream_id"] for letter in letters.values()} == {STREAM}  # the topic's stream

    result = fold_items(StreamAnalytics(STREAM), [items])
    assert (result.rows, result.events, result.dead_letters) == (5, 2, 3)
    assert [key for kind, key, _ in result.records if kind == DEAD_LETTER] == sorted(letters)


def test_a_pools_records_become_each_streams_chunks_and_control_items() -> None:
    """Three streams interleaved on two partitions of the pool's topic (each stream on one), control records
    for two of them, a record under another stream's key and one without a key: each stream's chunks, folded
    control first and then in Kafka order, give that stream's reference output under its own config."""
    config = AnalyticsConfig(window=30, slide=10, top_emotes=3)
    logs = {s: scenario_log(s, seconds=180, rate=20, scenarios=["hype@90"], seed=n).lines
            for n, s in enumerate(("alpha", "beta", "gamma"))}  # fmt: skip
    partition_of = {"alpha": 0, "beta": 1, "gamma": 0}
    records: dict[int, list[tuple[bytes | None, bytes | None]]] = {0: [], 1: []}
    for line in heapq.merge(*logs.values(), key=lambda line: orjson.loads(line)["ts"]):
        stream = orjson.loads(line)["stream_id"]
        records[partition_of[stream]].append((stream.encode(), line))
    forged = logs["beta"][5]
    records[0].append((b"alpha", forged))  # beta's event under alpha's key
    records[1].append((None, logs["beta"][6]))  # no key: the stream it names
    preparer = ChunkPreparer(POOL.events, POOL.control)
    rows = []
    for partition, pairs in records.items():
        keys, values = [k for k, _ in pairs], [v for _, v in pairs]
        for start in range(0, len(pairs), 700):  # tasks of 700 records
            end = start + 700
            batch = kafka_batch(values[start:end], [partition] * len(keys[start:end]),
                                list(range(start, min(end, len(pairs)))), POOL.events, keys[start:end])  # fmt: skip
            rows += [row for out in preparer(iter([batch])) for row in out.to_pylist()]
    control = kafka_batch([orjson.dumps({"window": 30, "top_emotes": 3}), None, b'{"window": 7}'], [0, 0, 0],
                          [0, 1, 2], POOL.control, [b"alpha", b"gamma", b"beta"])  # fmt: skip
    rows += [row for out in preparer(iter([control])) for row in out.to_pylist()]

    by_stream: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_stream.setdefault(row["stream_id"], []).append(row)
    assert set(by_stream) == {"alpha", "beta", "gamma", ""}
    # each stream's chunks go to its shard; dead letters to the shard of the stream they were sent to
    assert all(row["shard"] == shard_of(row["stream_id"]) for row in rows if row["stream_id"])
    assert {row["shard"] for row in by_stream[""]} == {shard_of("alpha"), shard_of("beta")}
    letters = [item[1] for row in by_stream[""] for item in decode_items(row["items"])]
    reasons = sorted(letter["reason"] for letter in letters)
    assert "stream_id: 'beta' is not the stream it was sent to ('alpha')" in reasons
    assert any(r.startswith("control record: analytics config") for r in reasons)  # a 7 s window
    assert len(letters) == 2

    def fold(stream: str) -> BatchResult:
        rows = sorted(by_stream[stream], key=lambda r: (r["partition"], r["first_offset"]))
        chunks = in_order((row["control"], decode_items(row["items"])) for row in rows)
        return fold_items(StreamAnalytics(stream), chunks)

    alpha, beta, gamma = fold("alpha"), fold("beta"), fold("gamma")
    for stream, result, reference in (
        ("alpha", alpha, engine_reference(logs["alpha"], config)),
        ("beta", beta, engine_reference([*logs["beta"], logs["beta"][6]])),
    ):
        windows = [orjson.loads(p) for kind, _, p in result.records if kind == WINDOW]
        open_windows = len(reference.windows) - len(windows)
        assert windows == [w.to_dict() for w in reference.windows][: len(windows)], stream
        assert 0 <= open_windows <= 6 and not result.ended  # the newest windows are still open
    assert (
        gamma.ended
    )  # the tombstone, after gamma's events, closes all of its windows, as at the end of input
    engine = Engine()
    closed = (
        engine.process(((line, "") for line in logs["gamma"]), live=False).windows + engine.flush().windows
    )
    gamma_windows = [orjson.loads(p) for kind, _, p in gamma.records if kind == WINDOW]
    assert len(gamma_windows) > len(engine_reference(logs["gamma"]).windows)
    assert gamma_windows == [w.to_dict() for w in closed]


def test_warm_up_prepares_a_worker_and_reports_its_rows() -> None:
    """The warm-up task (run before a local job's first batch) needs nothing but its input."""
    out = list(warm_up(iter([pa.RecordBatch.from_pydict({"id": [0, 1]})])))
    assert [batch.to_pylist() for batch in out] == [[{"rows": 2}]]
