"""KafkaSink against a real broker: every event exactly once, also through a restart; failures counted. Over
SASL_SSL (SCRAM-SHA-512): the right password delivers, a wrong one or an untrusted certificate is refused at
once, saying why, never with the password."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner

from telemetra.contract import format_ts, validate_event
from telemetra.dev.localstack.kafka import KafkaBroker, free_port
from telemetra.records import EVENTS_TOPIC
from telemetra.sinks import open_sink
from telemetra.sinks.base import DeliveryError, RawEvent
from telemetra.sinks.kafka import KafkaSink
from telemetra.sinks.kafka_security import PASSWORD_ENV, PLAINTEXT, KafkaRefusedError, KafkaSecurity

STREAMS = ("alpha", "bravo_2", "charlie-3")
EPOCH = 1_795_795_200.0  # 2026-11-27T16:00:00Z


def chat_events(count: int, streams: Sequence[str] = STREAMS) -> list[RawEvent]:
    run = uuid.uuid4().hex[:8]
    return [
        {
            "event_id": f"{run}-{i}",
            "stream_id": streams[i % len(streams)],
            "type": "chat",
            "ts": format_ts(EPOCH + i / 1000),
            "user_id": f"u{i % 97}",
            "username": f"viewer{i % 97}",
            "text": f"message {i} PogChamp",
        }
        for i in range(count)
    ]


def fresh_template() -> str:
    return f"test-{uuid.uuid4().hex[:8]}.{{stream_id}}.events"


def chunks(events: list[RawEvent], size: int) -> list[list[RawEvent]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


async def consume_all(
    bootstrap: str, topics: list[str], expected: int, security: KafkaSecurity = PLAINTEXT
) -> list[ConsumerRecord]:
    """Every record on the topics: read until ``expected`` arrived (or a minute passed), and not one more."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **security.aiokafka_options(),
    )
    await consumer.start()
    try:
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + 60
        while len(records) < expected and time.monotonic() < deadline:
            for partition_records in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(partition_records)
        end_offsets = await consumer.end_offsets(list(consumer.assignment()))
        assert sum(end_offsets.values()) == len(records), "the topics hold records that were not read"
        return records
    finally:
        await consumer.stop()


async def eventually(condition: Callable[[], bool], seconds: float = 30) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {seconds:g} s")


def assert_exactly_once(records: list[ConsumerRecord], events: list[RawEvent], sink: KafkaSink) -> None:
    by_id = {event["event_id"]: event for event in events}
    seen = Counter(orjson.loads(record.value)["event_id"] for record in records)
    assert [event_id for event_id, times in seen.items() if times > 1] == []
    assert set(seen) == set(by_id)
    for record in records:
        event = orjson.loads(record.value)
        assert event == by_id[event["event_id"]]
        assert record.key == event["stream_id"].encode()
        assert record.topic == sink.topic_for(event["stream_id"])


def test_generated_events_follow_the_contract() -> None:
    for event in chat_events(30):
        validate_event(event)


def test_from_url_reads_the_options() -> None:
    sink = KafkaSink.from_url(
        "kafka://127.0.0.1:9092,127.0.0.1:9093?topic=t.{stream_id}&compression=zstd"
        "&max_in_flight=500&delivery_timeout=7s&batch_bytes=65536"
    )
    assert sink.bootstrap == "127.0.0.1:9092,127.0.0.1:9093"
    assert sink.topic_for("alpha") == "t.alpha"
    assert (sink.compression, sink.max_in_flight) == ("zstd", 500)
    assert (sink.delivery_timeout, sink.batch_bytes) == (7.0, 65536)
    default = KafkaSink.from_url("kafka://127.0.0.1:9092")
    assert (default.topic_template, default.compression) == (EVENTS_TOPIC, "lz4")


@pytest.mark.parametrize(
    "url",
    [
        "kafka://127.0.0.1:9092?compression=brotli",
        "kafka://127.0.0.1:9092?topic=t.{channel}",
        "kafka://127.0.0.1:9092?topic=bad topic {stream_id}",
        "kafka://127.0.0.1:9092?lingr_ms=5",
        "redis://127.0.0.1:6379",
        "kafka://",
    ],
)
def test_from_url_rejects_mistakes(url: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        KafkaSink.from_url(url)


async def test_unreachable_broker_fails_start_instead_of_hanging() -> None:
    sink = KafkaSink(f"127.0.0.1:{free_port()}", connect_timeout=1)
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="cannot reach Kafka"):
        await sink.start()
    assert time.monotonic() - started < 15
    with pytest.raises(RuntimeError):
        await sink.send(chat_events(1))


@pytest.mark.kafka
async def test_every_event_arrives_once_keyed_on_its_streams_topic(kafka_bootstrap: str) -> None:
    events = chat_events(20_000)
    sink = KafkaSink(kafka_bootstrap, topic_template=fresh_template())
    await sink.start()
    # big calls fill several batches per stream, small ones make batches of one or two events
    for chunk in [*chunks(events[:19_000], 2_500), *chunks(events[19_000:], 7)]:
        await sink.send(chunk)
    await sink.close()

    assert (sink.stats.sent, sink.stats.failed) == (len(events), 0)
    topics = [sink.topic_for(stream) for stream in STREAMS]
    assert_exactly_once(await consume_all(kafka_bootstrap, topics, len(events)), events, sink)


@pytest.mark.kafka
async def test_streams_sharing_a_topic_share_its_batches(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool's topic: each stream on its key's partition (the default partitioner's), in order, and one call
    makes one batch per partition, not one per stream."""
    streams = [f"pool-stream-{i}" for i in range(300)]
    topic = f"test-{uuid.uuid4().hex[:8]}.pool.events"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 4, 1)])
    finally:
        await admin.close()
    batches: list[int] = []
    send_batch = AIOKafkaProducer.send_batch

    async def counting(self: AIOKafkaProducer, batch: Any, *args: Any, **kwargs: Any) -> Any:
        batches.append(batch.record_count())
        return await send_batch(self, batch, *args, **kwargs)

    monkeypatch.setattr(AIOKafkaProducer, "send_batch", counting)
    events = chat_events(6_000, streams)
    sink = KafkaSink(kafka_bootstrap, topic_template=topic)
    await sink.start()
    for chunk in chunks(events, 1_500):  # 5 events of each stream per call
        await sink.send(chunk)
    await sink.close()

    assert len(batches) == 4 * 4 and sum(batches) == len(events)  # 4 calls × 4 partitions
    records = await consume_all(kafka_bootstrap, [topic], len(events))
    assert_exactly_once(records, events, sink)
    partitioner = DefaultPartitioner()
    for stream in streams:
        mine = [r for r in records if r.key == stream.encode()]
        assert {r.partition for r in mine} == {partitioner(stream.encode(), [0, 1, 2, 3], [0, 1, 2, 3])}
        sent = [e["event_id"] for e in events if e["stream_id"] == stream]
        assert [orjson.loads(r.value)["event_id"] for r in sorted(mine, key=lambda r: r.offset)] == sent


@pytest.mark.kafka
async def test_broker_restart_loses_and_duplicates_nothing(
    kafka_broker: KafkaBroker, kafka_bootstrap: str
) -> None:
    events = chat_events(30_000)
    sink = KafkaSink(
        kafka_bootstrap, topic_template=fresh_template(), max_in_flight=3_000, delivery_timeout=90
    )
    await sink.start()

    async def produce() -> None:
        for chunk in chunks(events, 500):
            await sink.send(chunk)
            await asyncio.sleep(0.01)

    producing = asyncio.create_task(produce())
    await eventually(lambda: sink.stats.sent >= 5_000)
    await asyncio.to_thread(kafka_broker.restart)
    assert not producing.done(), "restart the broker while events are still being produced"
    await producing
    await sink.close()

    assert (sink.stats.sent, sink.stats.failed) == (len(events), 0)
    topics = [sink.topic_for(stream) for stream in STREAMS]
    assert_exactly_once(await consume_all(kafka_bootstrap, topics, len(events)), events, sink)


@pytest.mark.kafka
async def test_lost_broker_is_reported_with_counts_not_hung_on(
    kafka_broker: KafkaBroker, kafka_bootstrap: str
) -> None:
    delivered, stranded = chat_events(1_000), chat_events(2_000)
    sink = KafkaSink(kafka_bootstrap, topic_template=fresh_template(), max_in_flight=500, delivery_timeout=3)
    await sink.start()
    try:
        await sink.send(delivered)
        await eventually(lambda: sink.stats.sent == len(delivered))
        await asyncio.to_thread(kafka_broker.stop)

        started = time.monotonic()
        with pytest.raises(DeliveryError):  # backpressure waits, then the sink gives up instead of hanging
            await sink.send(stranded)
        with pytest.raises(DeliveryError) as raised:
            await sink.close()
        assert time.monotonic() - started < 30
    finally:
        await asyncio.to_thread(kafka_broker.start)

    stats = raised.value.stats
    assert (stats.sent, stats.failed) == (len(delivered), len(stranded))
    assert sum(stats.errors.values()) == len(stranded)
    assert any("not acknowledged within 3 s" in reason for reason in stats.errors)
    assert f"{len(stranded)} event(s) not delivered" in str(raised.value)


@pytest.mark.kafka
async def test_events_without_a_valid_stream_are_counted_as_failed(kafka_bootstrap: str) -> None:
    good = chat_events(10)
    bad: list[RawEvent] = [{**good[0], "stream_id": "Not A Slug"}, {"type": "chat"}, {**good[1], "x": {1, 2}}]
    sink = KafkaSink(kafka_bootstrap, topic_template=fresh_template())
    await sink.start()
    await sink.send([*good, *bad])
    with pytest.raises(DeliveryError) as raised:
        await sink.close()
    assert (raised.value.stats.sent, raised.value.stats.failed) == (len(good), 3)


@pytest.mark.kafka
async def test_the_sink_delivers_over_sasl_ssl_with_the_environments_credentials(
    secure_kafka_broker: KafkaBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    security = secure_kafka_broker.client_security("client")
    for name, value in {**security.env(), PASSWORD_ENV: security.sasl_password.get_secret_value()}.items():
        monkeypatch.setenv(name, value)
    events = chat_events(300)
    sink = open_sink(f"kafka://{secure_kafka_broker.bootstrap}?topic={fresh_template()}")
    assert isinstance(sink, KafkaSink) and sink.security == security
    await sink.start()
    await sink.send(events)
    await sink.close()
    assert (sink.stats.sent, sink.stats.failed) == (len(events), 0)
    topics = [sink.topic_for(stream) for stream in STREAMS]
    records = await consume_all(secure_kafka_broker.bootstrap, topics, len(events), security)
    assert len(records) == len(events)


@pytest.mark.kafka
async def test_a_wrong_password_is_refused_at_once_and_never_shown(
    secure_kafka_broker: KafkaBroker, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-" + secure_kafka_broker.sasl_users["client"]
    sink = KafkaSink(
        secure_kafka_broker.bootstrap,
        security=secure_kafka_broker.client_security("client", password=wrong),
        connect_timeout=60,
    )
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG), pytest.raises(KafkaRefusedError) as raised:
        await sink.start()
    assert time.monotonic() - started < 15  # not retried for the whole connect timeout
    message = str(raised.value)
    assert f"Kafka at {secure_kafka_broker.bootstrap} refused SASL_SSL (SCRAM-SHA-512 as client)" in message
    assert "invalid credentials" in message
    for secret in (wrong, secure_kafka_broker.sasl_users["client"]):
        assert secret not in message and secret not in caplog.text


@pytest.mark.kafka
async def test_a_broker_certificate_from_an_unknown_ca_is_refused(secure_kafka_broker: KafkaBroker) -> None:
    untrusting = secure_kafka_broker.client_security("client").model_copy(update={"ssl_ca_file": ""})
    sink = KafkaSink(secure_kafka_broker.bootstrap, security=untrusting, connect_timeout=60)
    with pytest.raises(KafkaRefusedError, match=r"TLS with Kafka at .* failed .*CERTIFICATE_VERIFY_FAILED"):
        await sink.start()
