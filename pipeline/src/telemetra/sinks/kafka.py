"""Kafka sink: a topic per stream, keyed by stream id, idempotent with ``acks=all``, batched for throughput.

Each stream's events go to ``topic_template.format(stream_id=…)`` with the stream id as key, so they keep
their order on one partition (the one Kafka's default partitioner picks for the key). Events are encoded
straight into record batches (``create_batch`` and ``send_batch``): one call's events for one partition make
one batch (more when over ``batch_bytes``), sent at once, whichever streams they belong to, so a pool's topic
shared by thousands of streams still gets a few big batches per call rather than one small one per stream
(the producer sends one batch per partition per request; the partitions of a call are sent side by side).
That is several times faster in Python than one ``send`` per event, whatever the call size, so there is no
linger: callers that send more per call get bigger batches. Idempotence lets the producer retry through a
broker restart without writing duplicates.

Connection security (TLS, SASL) is a :class:`~telemetra.sinks.kafka_security.KafkaSecurity`: ``from_url``
takes it from the environment (``TELEMETRA_KAFKA_*``). Kafka refusing it fails ``start`` at once.

Backpressure: at most ``max_in_flight`` events are sent but not yet acknowledged; ``send`` awaits beyond that.
aiokafka retries an idempotent batch forever, so a delivery not acknowledged within ``delivery_timeout`` makes
the sink give up: everything outstanding is counted as failed (its fate is unknown) and ``send`` raises
:class:`DeliveryError` from then on.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from aiokafka.partitioner import murmur2

from telemetra.contract import STREAM_ID_PATTERN
from telemetra.records import EVENTS_TOPIC
from telemetra.sinks.base import DeliveryError, RawEvent, SinkStats
from telemetra.sinks.kafka_security import PLAINTEXT, KafkaSecurity, refusal

COMPRESSIONS: Final = ("none", "gzip", "snappy", "lz4", "zstd")
_KEY_HASH_CACHE: Final = 100_000  # stream ids whose partitioner hash is remembered

_STREAM_ID = re.compile(STREAM_ID_PATTERN)
log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Delivery:
    future: asyncio.Future[Any]
    count: int
    deadline: float  # loop time by which the broker must have acknowledged it
    settled: bool = False  # counted in the stats (delivered or failed)


class KafkaSink:
    """An :class:`~telemetra.sinks.base.EventSink` writing JSON events to Kafka (``kafka://HOST:PORT?…``)."""

    def __init__(
        self,
        bootstrap: str,
        *,
        topic_template: str = EVENTS_TOPIC,
        compression: str = "lz4",
        batch_bytes: int = 512 * 1024,
        max_in_flight: int = 100_000,
        delivery_timeout: float = 120.0,
        connect_timeout: float = 30.0,
        request_timeout: float = 30.0,
        client_id: str = "telemetra-producer",
        security: KafkaSecurity = PLAINTEXT,
    ):
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression {compression!r}: expected one of {', '.join(COMPRESSIONS)}")
        _check_template(topic_template)
        if max_in_flight < 1 or delivery_timeout <= 0 or batch_bytes < 1024:
            raise ValueError("max_in_flight ≥ 1, delivery_timeout > 0 and batch_bytes ≥ 1024 are required")
        self.bootstrap = bootstrap
        self.topic_template = topic_template
        self.compression = compression
        self.batch_bytes = batch_bytes
        self.max_in_flight = max_in_flight
        self.delivery_timeout = delivery_timeout
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.client_id = client_id
        self.security = security
        self.stats = SinkStats()
        self._producer: AIOKafkaProducer | None = None
        self._pending: deque[_Delivery] = deque()
        self._in_flight = 0  # events handed to the producer and not yet settled
        self._gave_up: str | None = None  # why deliveries stopped, once they have
        self._closing = False
        self._key_hashes: dict[bytes, int] = {}  # stream id → its murmur2 hash (see _key_hash)

    @classmethod
    def from_url(cls, url: str) -> KafkaSink:
        """``kafka://HOST:PORT[,HOST:PORT…][?topic=telemetra.{stream_id}.events&compression=lz4&…]``.

        Options: ``topic``, ``compression``, ``batch_bytes``, ``max_in_flight``,
        ``delivery_timeout``, ``connect_timeout``, ``request_timeout`` (seconds) and ``client_id``. Connection
        security comes from the environment (:meth:`KafkaSecurity.from_env`), never from the URL.
        """
        parts = urlsplit(url)
        if parts.scheme != "kafka" or not parts.netloc:
            raise ValueError(f"not a Kafka URL: {url!r} (expected kafka://HOST:PORT[?options])")
        options: dict[str, Any] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name not in _URL_OPTIONS:
                raise ValueError(f"unknown option {name!r} in {url!r}; known: {', '.join(_URL_OPTIONS)}")
            attribute, convert = _URL_OPTIONS[name]
            options[attribute] = convert(value)
        return cls(parts.netloc, security=KafkaSecurity.from_env(), **options)

    def topic_for(self, stream_id: str) -> str:
        return self.topic_template.format(stream_id=stream_id)

    async def start(self) -> None:
        """Connect, retrying for ``connect_timeout`` s; raise :class:`ConnectionError` if that fails, at once
        (:class:`~telemetra.sinks.kafka_security.KafkaRefusedError`) when Kafka refuses the credentials or TLS."""
        if self._producer is not None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        while True:
            producer = self._new_producer()
            try:
                await producer.start()
            except KafkaConnectionError as error:
                await producer.stop()
                refused = await refusal(self.bootstrap, self.security, self.request_timeout)
                if refused is not None:
                    raise refused from None
                if loop.time() >= deadline:
                    raise ConnectionError(
                        f"cannot reach Kafka at {self.bootstrap} within {self.connect_timeout:g} s: {error}"
                    ) from error
                await asyncio.sleep(0.5)
            else:
                self._producer = producer
                return

    async def send(self, events: Sequence[RawEvent]) -> None:
        producer = self._producer
        if producer is None or self._closing:
            raise RuntimeError("KafkaSink.send() before start() or after close()")
        self._give_up_if_overdue()
        routed = await self._route(producer, _group_by_stream(events, self.stats))
        sends = [self._send_partition(producer, *where, records) for where, records in routed.items()]
        if len(sends) == 1:
            await sends[0]
        elif sends:
            # Side by side: the producer queues one batch per partition at a time, so a partition with several
            # batches to go would otherwise hold the other partitions back for a round trip per batch.
            await asyncio.gather(*sends)
        if self._gave_up is not None:
            raise DeliveryError(self.stats)

    async def close(self) -> None:
        """Wait for every outstanding delivery (at most ``delivery_timeout`` each), then disconnect."""
        producer = self._producer
        if producer is not None and not self._closing:
            self._closing = True
            while self._in_flight:
                await self._wait_for_oldest()
            await self._stop_producer(producer)
            self._producer = None
        if self.stats.failed:
            raise DeliveryError(self.stats)

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            enable_idempotence=True,
            acks="all",
            compression_type=None if self.compression == "none" else self.compression,
            max_batch_size=self.batch_bytes,
            max_request_size=max(self.batch_bytes, 1024 * 1024),
            request_timeout_ms=int(self.request_timeout * 1000),
            **self.security.aiokafka_options(),
        )

    async def _route(
        self, producer: AIOKafkaProducer, groups: dict[str, list[RawEvent]]
    ) -> dict[tuple[str, int], list[tuple[bytes, RawEvent]]]:
        """Each stream's events, keyed by its id, under the topic and partition they go to (in order)."""
        routed: dict[tuple[str, int], list[tuple[bytes, RawEvent]]] = {}
        partitions_of: dict[str, list[int] | str] = {}  # topic → its partitions, or why they are unknown
        for stream_id, events in groups.items():
            topic, key = self.topic_for(stream_id), stream_id.encode()
            partitions = partitions_of.get(topic)
            if partitions is None:
                try:
                    partitions = sorted(await producer.partitions_for(topic))
                except KafkaError as error:
                    partitions = _reason(error)
                partitions_of[topic] = partitions
            if isinstance(partitions, str):
                self.stats.fail(partitions, len(events))
                continue
            # The partition the default partitioner would pick for this key: explicit, because batches need one.
            partition = partitions[self._key_hash(key) % len(partitions)]
            routed.setdefault((topic, partition), []).extend((key, event) for event in events)
        return routed

    def _key_hash(self, key: bytes) -> int:
        """The default partitioner's hash of a key (murmur2, in Python: worth remembering per stream)."""
        hashed = self._key_hashes.get(key)
        if hashed is None:
            if len(self._key_hashes) >= _KEY_HASH_CACHE:
                self._key_hashes.clear()
            hashed = self._key_hashes[key] = murmur2(key) & 0x7FFFFFFF
        return hashed

    async def _send_partition(
        self, producer: AIOKafkaProducer, topic: str, partition: int, records: list[tuple[bytes, RawEvent]]
    ) -> None:
        if self._gave_up is not None:
            self.stats.fail(self._gave_up, len(records))
        else:
            await self._send_batches(producer, topic, partition, records)

    async def _send_batches(
        self, producer: AIOKafkaProducer, topic: str, partition: int, records: list[tuple[bytes, RawEvent]]
    ) -> None:
        batch, count = producer.create_batch(), 0
        for key, value in self._encoded(records):
            if batch.append(key=key, value=value, timestamp=None) is None:  # full
                await self._submit_batch(producer, batch, count, topic, partition)
                batch, count = producer.create_batch(), 0
                batch.append(key=key, value=value, timestamp=None)  # an empty batch takes any record
            count += 1
        if count:
            await self._submit_batch(producer, batch, count, topic, partition)

    async def _submit_batch(
        self, producer: AIOKafkaProducer, batch: Any, count: int, topic: str, partition: int
    ) -> None:
        await self._wait_for_capacity(count)
        batch.close()  # a closed batch is sent at once instead of lingering for more send() calls
        try:
            future = await producer.send_batch(batch, topic, partition=partition)
        except KafkaError as error:
            self.stats.fail(_reason(error), count)
        else:
            self._track(future, count)

    def _encoded(self, records: list[tuple[bytes, RawEvent]]) -> list[tuple[bytes, bytes]]:
        values = []
        for key, event in records:
            try:
                values.append((key, orjson.dumps(event)))
            except TypeError as error:  # orjson.JSONEncodeError
                self.stats.fail(f"not JSON-serialisable: {error}")
        return values

    def _track(self, future: asyncio.Future[Any], count: int) -> None:
        delivery = _Delivery(future, count, asyncio.get_running_loop().time() + self.delivery_timeout)
        self._in_flight += count
        self._pending.append(delivery)
        future.add_done_callback(lambda _: self._on_done(delivery))

    def _on_done(self, delivery: _Delivery) -> None:
        future = delivery.future
        self._settle(delivery, asyncio.CancelledError() if future.cancelled() else future.exception())

    def _settle(self, delivery: _Delivery, error: BaseException | None) -> None:
        """Count a delivery once: when its future completes, or as failed when the sink gives up on it."""
        if delivery.settled:
            return
        delivery.settled = True
        self._in_flight -= delivery.count
        if error is None:
            self.stats.sent += delivery.count
        else:
            self.stats.fail(_reason(error), delivery.count)

    async def _wait_for_capacity(self, count: int) -> None:
        while self._in_flight and self._in_flight + count > self.max_in_flight:
            await self._wait_for_oldest()

    async def _wait_for_oldest(self) -> None:
        """Wait until the oldest outstanding delivery settles, or give up when it is overdue."""
        oldest = self._oldest()
        if oldest is None:
            return
        remaining = oldest.deadline - asyncio.get_running_loop().time()
        if remaining > 0:
            # Our done-callback was added before asyncio.wait's, so the delivery is counted when this returns.
            await asyncio.wait([oldest.future], timeout=remaining)
        else:
            self._give_up()

    def _give_up_if_overdue(self) -> None:
        oldest = self._oldest()
        if oldest is not None and oldest.deadline <= asyncio.get_running_loop().time():
            self._give_up()

    def _oldest(self) -> _Delivery | None:
        while self._pending and self._pending[0].settled:
            self._pending.popleft()
        return self._pending[0] if self._pending else None

    def _give_up(self) -> None:
        error = _overdue(self.delivery_timeout)
        self._gave_up = _reason(error)
        while self._pending:
            self._settle(self._pending.popleft(), error)

    async def _stop_producer(self, producer: AIOKafkaProducer) -> None:
        grace = self.request_timeout + 5  # stop() only closes connections now, unless one hangs
        try:
            if self._gave_up is None:
                await asyncio.wait_for(producer.stop(), grace)
            else:
                await asyncio.wait_for(_stop_without_flush(producer, grace), grace)
        except TimeoutError:
            log.warning("Kafka producer for %s did not stop within %g s", self.bootstrap, grace)


async def _stop_without_flush(producer: AIOKafkaProducer, grace: float) -> None:
    """``producer.stop()`` minus its flush, which would wait forever for the batches the sink gave up on.

    An idempotent producer retries a batch until it is acknowledged, and aiokafka has no public way to drop
    one (its ``fail_all`` breaks on re-queued batches): end the sender task and close the connections.
    """
    producer._closed = True
    sender_task = producer._sender.sender_task
    if sender_task is not None and not sender_task.done():
        sender_task.cancel()
        await asyncio.wait([sender_task], timeout=grace)
    await producer.client.close()


def _overdue(delivery_timeout: float) -> KafkaTimeoutError:
    return KafkaTimeoutError(f"not acknowledged within {delivery_timeout:g} s")


def _group_by_stream(events: Sequence[RawEvent], stats: SinkStats) -> dict[str, list[RawEvent]]:
    groups: dict[str, list[RawEvent]] = {}
    for event in events:
        stream_id = event.get("stream_id")
        group = groups.get(stream_id) if isinstance(stream_id, str) else None
        if group is None:
            if not isinstance(stream_id, str) or not _STREAM_ID.fullmatch(stream_id):
                stats.fail("no valid stream_id")
                continue
            group = groups[stream_id] = []
        group.append(event)
    return groups


def _reason(error: BaseException) -> str:
    name, text = type(error).__name__, str(error)
    if not text or text.startswith(name):
        return text or name
    return f"{name}: {text}"


def _check_template(template: str) -> None:
    try:
        topic = template.format(stream_id="probe")
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"topic template {template!r} may only use {{stream_id}}: {error}") from None
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", topic):
        raise ValueError(f"topic template {template!r} gives an invalid topic name ({topic!r})")


def _seconds(text: str) -> float:
    return float(text.removesuffix("s"))


_URL_OPTIONS: Final[dict[str, tuple[str, Any]]] = {
    "topic": ("topic_template", str),
    "compression": ("compression", str),
    "batch_bytes": ("batch_bytes", int),
    "max_in_flight": ("max_in_flight", int),
    "delivery_timeout": ("delivery_timeout", _seconds),
    "connect_timeout": ("connect_timeout", _seconds),
    "request_timeout": ("request_timeout", _seconds),
    "client_id": ("client_id", str),
}
