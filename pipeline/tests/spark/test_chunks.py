"""The stateless stage without Spark: Arrow batches of Kafka records → chunks, which, folded in Kafka order
whatever order they arrive in, give the embedded engine's output; invalid records become dead letters."""

from __future__ import annotations

import random

import orjson
import pyarrow as pa

from telemetra.analytics.stream import StreamAnalytics, chat_features
from telemetra.contract import ChatEvent, parse_event
from telemetra.dev.testing.spark import engine_reference, scenario_log
from telemetra.engine.core import CHAT, DEAD, EVENT
from telemetra.spark.chunks import ChunkPreparer, decode_items, prepare_items
from telemetra.spark.state import DEAD_LETTER, MOMENT, WINDOW, fold_items

STREAM = "alpha"
TOPIC = "telemetra.alpha.events"


def kafka_batch(values: list[bytes | None], partitions: list[int], offsets: list[int]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
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
    preparer, rows, start, rng = ChunkPreparer(STREAM, TOPIC), [], 0, random.Random(3)
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
    assert "does not belong to this topic's stream" in letters[f"{TOPIC}:4:14"]["reason"]
    assert {letter["stream_id"] for letter in letters.values()} == {STREAM}  # the topic's stream

    result = fold_items(StreamAnalytics(STREAM), [items])
    assert (result.rows, result.events, result.dead_letters) == (5, 2, 3)
    assert [key for kind, key, _ in result.records if kind == DEAD_LETTER] == sorted(letters)
