"""Dead letters: invalid records mixed into a stream's topic land in its dead-letter topic and in the store
with the reason, the source offset and the raw value, the same records the embedded engine stores for the same
inputs; the valid ones are processed as if the invalid ones were not there; the job keeps running."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from telemetra.dev.testing.spark import (
    Backends,
    engine_reference,
    produce_raw,
    read_order,
    read_store,
    read_topic,
    scenario_log,
    topic_config,
    window_differences,
)
from telemetra.engine.core import Engine
from telemetra.records import DeadLetter
from telemetra.services.cache import open_cache
from telemetra.services.output import ServiceOutput
from telemetra.services.storage import open_store
from telemetra.spark.job import StreamJob


@pytest.mark.kafka
def test_invalid_records_go_to_the_dead_letter_topic_and_the_job_keeps_running(
    spark: object, kafka_bootstrap: str, backends: Backends, tmp_path: Path
) -> None:
    stream = backends.stream_id
    valid = scenario_log(stream, seconds=150, rate=30).lines
    first_event = orjson.loads(valid[0])
    invalid: list[bytes | None] = [
        b"{not json at all",
        orjson.dumps({k: v for k, v in first_event.items() if k != "ts"} | {"event_id": "no-ts"}),
        orjson.dumps({**first_event, "event_id": "bad-type", "type": "poll"}),
        b"\xff\xfe not UTF-8",
        None,  # a tombstone: no value
        orjson.dumps({**first_event, "event_id": "elsewhere", "stream_id": "another-stream"}),
    ]
    # Part one: the valid events of the first half with the invalid records spread through them.
    half = len(valid) // 2
    step = half // len(invalid)
    part_one: list[bytes | None] = []
    for i, line in enumerate(valid[:half]):
        if i % step == 0 and i // step < len(invalid):
            part_one.append(invalid[i // step])
        part_one.append(line)
    expected_offsets = [i for i, value in enumerate(part_one) if value not in valid]
    topic = f"telemetra.{stream}.events"
    asyncio.run(produce_raw(kafka_bootstrap, topic, part_one, stream.encode()))

    settings = backends.job(
        kafka_bootstrap,
        trigger_interval_ms=500,
    )
    with StreamJob(settings, backends.output(), spark=spark) as job:
        query = job.start()
        query.processAllAvailable()
        assert query.isActive
        letters = asyncio.run(read_topic(kafka_bootstrap, settings.dead_letter_topic))
        assert [record.key for record in letters] == [
            f"{topic}:0:{offset}".encode() for offset in expected_offsets
        ]
        bodies = [orjson.loads(record.value) for record in letters]
        assert [body["source"] for body in bodies] == [f"{topic}:0:{offset}" for offset in expected_offsets]
        assert all(body["stream_id"] == stream for body in bodies)
        reasons = [body["reason"] for body in bodies]
        assert reasons[0].startswith("<event>: malformed JSON")
        assert reasons[1] == "ts: Field required"
        assert reasons[2].startswith("type: unknown event type")
        assert "malformed JSON" in reasons[3]
        assert reasons[4] == "empty record (no value)"
        assert reasons[5] == f"stream_id: 'another-stream' is not the stream it was sent to ({stream!r})"
        assert bodies[0]["raw"] == "{not json at all"
        assert base64.b64decode(bodies[3]["raw"]) == b"\xff\xfe not UTF-8"
        assert orjson.loads(bodies[5]["raw"])["event_id"] == "elsewhere"

        # Part two, while the query runs: the rest of the valid events and one more invalid record.
        part_two = [
            *valid[half : half + 10],
            orjson.dumps({**first_event, "event_id": 7}),
            *valid[half + 10 :],
        ]
        asyncio.run(produce_raw(kafka_bootstrap, topic, part_two, stream.encode()))
        query.processAllAvailable()
        assert query.isActive and query.exception() is None
        counted = job.metrics.registry.get_sample_value(
            "telemetra_spark_dead_letters_total", {"pool": stream}
        )

    letters = asyncio.run(read_topic(kafka_bootstrap, settings.dead_letter_topic))
    assert len(letters) == len(invalid) + 1 == counted
    # created by the job: keyed by source offset and compacted, so replays after a crash leave one of each
    config = asyncio.run(topic_config(kafka_bootstrap, settings.dead_letter_topic))
    assert config["cleanup.policy"] == "compact,delete"
    assert letters[-1].key == f"{topic}:0:{len(part_one) + 10}".encode()
    assert "event_id: Input should be a valid string" in orjson.loads(letters[-1].value)["reason"]
    stored = asyncio.run(read_store(backends.store_url, stream))
    reference = engine_reference(valid)
    assert len(reference.windows) > 5
    assert not window_differences(stored.windows, reference.windows)
    # Stored, one per input, as on the topic; and the same records as the embedded engine's for the inputs
    # that are invalid wherever they are read (not a tombstone, not another stream's event on this topic).
    assert [letter.to_dict() for letter in stored.dead_letters] == [orjson.loads(r.value) for r in letters]
    anywhere = [*invalid[:4], part_two[10]]
    embedded = asyncio.run(embedded_dead_letters(anywhere, tmp_path / "embedded.db"))
    from_spark = [
        d for d in stored.dead_letters if d.source not in {f"{topic}:0:{expected_offsets[i]}" for i in (4, 5)}
    ]
    assert [parity(d) for d in from_spark] == [parity(d) for d in embedded]
    assert [d.stream_id for d in embedded] == [None, stream, stream, None, stream]  # as the input names it
    assert [d.source for d in embedded] == [f"bus:{i}" for i in range(1, 6)]


def parity(letter: DeadLetter) -> dict[str, Any]:
    """Everything but where it was read (a Kafka offset, a bus position) and the stream, which only Kafka
    knows for an input that does not name one."""
    return {k: v for k, v in letter.to_dict().items() if k not in ("source", "stream_id")}


async def embedded_dead_letters(inputs: list[bytes | None], database: Path) -> list[DeadLetter]:
    """The embedded engine's dead letters for ``inputs``, through the services' output into a store."""
    store = open_store(f"sqlite:///{database}")
    await store.start()
    try:
        output = ServiceOutput(store, open_cache("memory://"))
        engine = Engine()
        await engine.emit(engine.process((raw, f"bus:{i}") for i, raw in enumerate(inputs, 1)), output)
        assert await output.flush()
        stored = await store.dead_letters(None, limit=100)
    finally:
        await store.close()
    return sorted((s.letter for s in stored), key=read_order)
