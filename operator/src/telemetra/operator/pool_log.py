"""The pools' control and sources topics, through the Kafka client of the operator (its own credentials,
``TELEMETRA_KAFKA_*``): one idempotent producer shared by every pool, and a read-back of what a pool's topics
hold, done once per pool when the operator starts, so that a stream deleted while the operator was down
still gets its tombstone. Whatever goes wrong is a :class:`~telemetra.operator.kafka_admin.KafkaAdminError`
(a condition reason and a message without secrets)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from telemetra.operator.kafka_admin import KafkaAdminError, kafka_request
from telemetra.operator.members import CONTROL, SOURCES, Key
from telemetra.records import PoolTopics
from telemetra.sinks.kafka_security import KafkaSecurity

CLIENT_ID = "telemetra-operator-pools"


class PoolLog:
    def __init__(self, bootstrap: str, timeout_seconds: float, security: KafkaSecurity | None = None):
        self.bootstrap, self.timeout_seconds = bootstrap, timeout_seconds
        self.security = KafkaSecurity.from_env() if security is None else security
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    def _options(self) -> dict[str, Any]:
        try:
            return {
                "bootstrap_servers": self.bootstrap,
                "client_id": CLIENT_ID,
                "request_timeout_ms": int(self.timeout_seconds * 1000),
                **self.security.aiokafka_options(),
            }
        except ValueError as exc:  # an unreadable CA file
            raise KafkaAdminError("KafkaUnreachable", f"Kafka at {self.bootstrap}: {exc}") from None

    async def read(self, topics: PoolTopics) -> dict[Key, bytes]:
        """The live records of the pool's control and sources topics (the newest value of each key; a key
        whose newest record is a tombstone is absent)."""
        names = {topics.control: CONTROL, topics.sources: SOURCES}
        consumer = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest", **self._options())
        records: dict[Key, bytes] = {}
        async with kafka_request(self.bootstrap, "read the pool's topics", self.timeout_seconds * 3):
            await consumer.start()
            try:
                consumer.subscribe(list(names))  # without a group: every partition of both topics
                while {tp.topic for tp in consumer.assignment()} != set(names):
                    await consumer.getmany(timeout_ms=50)  # drives the metadata request that assigns them
                partitions = sorted(consumer.assignment())
                await consumer.seek_to_beginning(*partitions)
                ends = await consumer.end_offsets(partitions)
                pending = {tp for tp, end in ends.items() if end > 0}
                while pending:
                    batches = await consumer.getmany(*pending, timeout_ms=500)
                    for tp, batch in batches.items():
                        for record in batch:
                            if record.key is None:
                                continue
                            key = (names[tp.topic], record.key.decode())
                            if record.value is None:
                                records.pop(key, None)
                            else:
                                records[key] = record.value
                    pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
            finally:
                await consumer.stop()
        return records

    async def write(self, topics: PoolTopics, records: Mapping[Key, bytes | None]) -> None:
        """Send every record (a value, or a tombstone for None) and wait until Kafka has acknowledged all."""
        names = {CONTROL: topics.control, SOURCES: topics.sources}
        async with kafka_request(self.bootstrap, "write the pool's records", self.timeout_seconds):
            producer = await self._started()
            sent = [
                await producer.send(names[kind], value=value, key=stream_id.encode())
                for (kind, stream_id), value in records.items()
            ]
            await asyncio.gather(*sent)

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=20,
                    compression_type=None,
                    **self._options(),
                )
                await producer.start()
                self._producer = producer
            return self._producer

    async def close(self) -> None:
        async with self._lock:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None
