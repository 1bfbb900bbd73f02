"""``telemetra ingest pool``: one producer process for every stream of a pool.

It follows the pool's compacted ``sources`` topic from the beginning (no consumer group, every partition;
:attr:`telemetra.records.PoolTopics.sources`, decoded by :func:`telemetra.producers.pool.decode_source`) and
keeps one asyncio task per member stream that runs the stream's source into the pool's ``events`` topic,
keyed by stream id:

* mock traffic, forever, in real time (:func:`telemetra.producers.pool.run_live_mock`);
* a Twitch channel's chat: every Twitch stream of the pool is one channel of a single shared
  :class:`~telemetra.sources.twitch.TwitchChat` connection (:func:`telemetra.sources.twitch.follow_channel`),
  joined when the stream joins the pool and parted when it leaves; the connection reconnects on its own, and a
  channel that cannot be read fails its stream alone;
* a recorded log downloaded from a URL (:func:`telemetra.sources.logfile.send_file`); when it ends, the
  stream's task ends too and is not restarted (a changed record starts it again).

A new record for a stream restarts that stream's task only (the old one is stopped first, so a stream never
has two); an identical record changes nothing; a tombstone stops it; a record that cannot be decoded is
logged as one error line and the stream stays stopped until a good record replaces it. At start-up the
topic is read to its end first, and only the last record of each stream is acted on.

Every task writes to one :class:`~telemetra.sinks.batching.BatchingSink` around one
:class:`~telemetra.sinks.kafka.KafkaSink` (idempotent, ``acks=all``), so thousands of streams make a few large
record batches per partition a second, not thousands of small ones. Twitch and replay events are relabelled
with the member's stream id (a channel or a log does not know which stream it feeds).

Log lines (JSON, logger ``telemetra.pool``): ``stream joined`` / ``stream changed`` / ``stream left`` /
``stream source ended`` / ``stream source failed`` / ``invalid source record`` with the stream id, and
``pool progress`` every ``progress_interval`` seconds (streams by type, events/s delivered). A stop (SIGTERM)
ends every task, flushes the sink and waits for Kafka's acknowledgements; the exit code is 1 if anything was
not delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import KafkaError

from telemetra.contract import STREAM_ID_PATTERN
from telemetra.producers.pool import (
    InvalidSource,
    LiveMockStats,
    PoolSource,
    ReplaySpec,
    decode_source,
    run_live_mock,
)
from telemetra.sinks.base import RawEvent, SinkStats
from telemetra.sinks.batching import BatchingSink
from telemetra.sinks.kafka import KafkaSink
from telemetra.sinks.kafka_security import PLAINTEXT, KafkaSecurity, refusal
from telemetra.sources.logfile import send_file
from telemetra.sources.twitch import DEFAULT_URL, JoinLimit, TwitchChat, follow_channel

log = logging.getLogger("telemetra.pool")

_STREAM_ID: Final = re.compile(STREAM_ID_PATTERN)
DOWNLOAD_ATTEMPTS: Final = 3
State = Literal["running", "ended", "failed"]


@dataclass(frozen=True)
class PoolIngestOptions:
    pool: str
    bootstrap: str
    sources_topic: str
    events_topic: str
    security: KafkaSecurity = PLAINTEXT
    progress_interval: float = 10.0  # seconds between progress lines
    linger: float = 0.05  # seconds events wait to be batched with other streams' events
    stop_grace: float = 10.0  # seconds a stopping source gets to flush before it is cancelled
    connect_timeout: float = 30.0
    twitch_url: str = DEFAULT_URL
    twitch_join_limit: JoinLimit = field(default_factory=JoinLimit)  # JOINs of the shared Twitch connection
    download_dir: str | None = None  # where replays are downloaded to (default: the temp directory)
    compression: str = "zstd"  # level 3: a fifth of lz4's CPU in aiokafka (which compresses lz4 at level 9)

    @property
    def client_id(self) -> str:
        return f"telemetra-pool-{self.pool}"


async def run_pool_ingest(options: PoolIngestOptions, stop: asyncio.Event) -> int:
    """Run the pool's producer until ``stop`` is set; 0 after a clean stop, 1 on a failure (logged)."""
    kafka = KafkaSink(
        options.bootstrap,
        topic_template=options.events_topic,
        compression=options.compression,
        connect_timeout=options.connect_timeout,
        client_id=options.client_id,
        security=options.security,
    )
    # Up to 2.5 s of a 20,000 events/s pool waits here when Kafka is slow; beyond that the sources wait.
    sink = BatchingSink(kafka, linger=options.linger, max_batch=20_000, max_buffered=50_000)
    try:
        with _quiet("aiokafka"):  # its error line per attempt; ours says once why it failed
            await sink.start()
    except ConnectionError as error:  # KafkaRefusedError is one
        log.error("cannot connect to Kafka", extra={"pool": options.pool, "error": str(error)})
        return 1
    members = PoolMembers(sink, options)
    reader = SourcesReader(options)
    log.info(
        "pool producer started",
        extra={
            "pool": options.pool,
            "sources_topic": options.sources_topic,
            "events_topic": options.events_topic,
        },
    )
    halt = asyncio.Event()  # set on ``stop``, and when the process cannot go on
    following = asyncio.create_task(reader.follow(members, halt), name="sources")
    progress = asyncio.create_task(_progress(members, sink, options, halt), name="progress")
    waiters = [asyncio.create_task(event.wait()) for event in (stop, sink.failed)]
    code = 0
    try:
        await asyncio.wait([following, *waiters], return_when=asyncio.FIRST_COMPLETED)
    finally:
        halt.set()
        for task in waiters:
            task.cancel()
        await asyncio.wait([following, progress, *waiters])
    if following.cancelled() or following.exception() is not None or not stop.is_set():
        code = 1  # the reader returns early only when it cannot go on, and says why
        if not following.cancelled() and (failure := following.exception()) is not None:
            log.error(
                "the sources reader failed",
                extra={"pool": options.pool, "error": f"{type(failure).__name__}: {failure}"},
            )
    if sink.failure is not None:
        log.error("events are not being delivered", extra={"pool": options.pool, "error": str(sink.failure)})
    await members.stop_all()
    try:
        await sink.close()
    except Exception as error:  # DeliveryError, or the sink's own failure again
        log.error(
            "pool producer stopped with undelivered events", extra={"pool": options.pool, "error": str(error)}
        )
        code = 1
    stats = sink.stats
    log.info(
        "pool producer stopped",
        extra={"pool": options.pool, "delivered": stats.sent, "failed": stats.failed, "errors": stats.errors},
    )
    return code


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    target = logging.getLogger(logger)
    level = target.level
    target.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        target.setLevel(level)


# -- the members -------------------------------------------------------------------------------------------
class _Relabel:
    """A member's view of the shared sink: events get the member's stream id (Twitch chat and replayed logs
    carry the channel's or the recording's)."""

    def __init__(self, stream_id: str, sink: BatchingSink):
        self._stream_id, self._sink = stream_id, sink
        self.stats = SinkStats()

    async def start(self) -> None:
        return None

    async def send(self, events: Sequence[RawEvent]) -> None:
        for event in events:
            event["stream_id"] = self._stream_id
        await self._sink.send(events)
        self.stats.sent += len(events)

    async def close(self) -> None:
        return None


@dataclass(eq=False)
class Member:
    """One stream of the pool and the task running its source."""

    stream_id: str
    source: PoolSource
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    state: State = "running"
    mock: LiveMockStats | None = None


class PoolMembers:
    """The pool's streams and their tasks, changed one stream at a time by :meth:`apply`."""

    def __init__(self, sink: BatchingSink, options: PoolIngestOptions):
        self._sink, self._options = sink, options
        self._members: dict[str, Member] = {}
        self._tasks: dict[
            str, set[asyncio.Task[None]]
        ] = {}  # every unfinished task of a stream, old ones too
        self._retiring: set[asyncio.Task[None]] = set()  # stopped members' tasks, until they end
        self._chat: TwitchChat | None = None  # every Twitch stream's channel, on one connection
        self._chat_task: asyncio.Task[None] | None = None
        self._chat_stop = asyncio.Event()

    def __contains__(self, stream_id: str) -> bool:
        return stream_id in self._members

    def get(self, stream_id: str) -> Member | None:
        return self._members.get(stream_id)

    def apply_record(self, key: bytes | None, value: bytes | None, where: str) -> None:
        """One record of the sources topic (``where`` is its position, for the log)."""
        stream_id = key.decode(errors="replace") if key is not None else None
        if stream_id is None or not _STREAM_ID.fullmatch(stream_id):
            log.error(
                "invalid source record",
                extra={"pool": self._options.pool, "stream_id": stream_id, "record": where,
                       "error": f"the key must be a stream id matching {STREAM_ID_PATTERN}"},
            )  # fmt: skip
            return
        if value is None:
            self.apply(stream_id, None)
            return
        try:
            source = decode_source(value)
        except InvalidSource as error:
            log.error(
                "invalid source record",
                extra={
                    "pool": self._options.pool,
                    "stream_id": stream_id,
                    "record": where,
                    "error": error.reason,
                },
            )
            self.apply(stream_id, None, reason="invalid source record")
            return
        self.apply(stream_id, source)

    def apply(self, stream_id: str, source: PoolSource | None, *, reason: str = "tombstone") -> None:
        """Make ``stream_id`` run ``source`` (None: nothing). Returns at once; tasks stop in the background."""
        current = self._members.get(stream_id)
        if source is None:
            if current is not None:
                del self._members[stream_id]
                self._retire(current)
                log.info(
                    "stream left",
                    extra={"pool": self._options.pool, "stream_id": stream_id, "reason": reason},
                )
            return
        if current is not None and current.source == source:
            return
        if current is not None:
            self._retire(current)
        earlier = set(self._tasks.get(stream_id, ()))  # still stopping: the new source starts after them
        member = Member(stream_id, source)
        member.task = task = asyncio.create_task(self._run(member, earlier), name=f"source:{stream_id}")
        self._tasks.setdefault(stream_id, set()).add(task)
        task.add_done_callback(functools.partial(self._forget, stream_id))
        self._members[stream_id] = member
        log.info(
            "stream changed" if current is not None else "stream joined",
            extra={"pool": self._options.pool, "stream_id": stream_id, "source": source.describe()},
        )

    def counts(self) -> dict[str, int]:
        """Streams by state, and running ones by source type."""
        counts: Counter[str] = Counter()
        for member in self._members.values():
            counts[member.state] += 1
            if member.state == "running":
                counts[member.source.type] += 1
        return {key: counts[key] for key in ("running", "mock", "twitch", "replay", "ended", "failed")}

    def mock_lag(self) -> float:
        """How late the latest second of the most delayed mock stream went out."""
        lags = [m.mock.lag for m in self._members.values() if m.mock is not None and m.state == "running"]
        return max(lags, default=0.0)

    def twitch_counts(self) -> dict[str, int]:
        """The shared Twitch connection's totals: channels followed, lines read, events, reconnects."""
        if self._chat is None:
            return {"channels": 0}
        channels = self._chat.channels
        return {
            "channels": len(channels),
            "joined": sum(1 for channel in channels if channel.ever_joined),
            "lines": self._chat.stats.messages + sum(channel.stats.messages for channel in channels),
            "events": sum(channel.stats.events for channel in channels),
            "reconnects": self._chat.stats.reconnects,
        }

    async def stop_all(self) -> None:
        for member in list(self._members.values()):
            self._retire(member)
        self._members.clear()
        if self._retiring:
            await asyncio.wait(set(self._retiring))
        self._chat_stop.set()
        if self._chat_task is not None:
            await asyncio.wait([self._chat_task])

    def _twitch_chat(self) -> TwitchChat:
        """The pool's one Twitch connection, started with its first Twitch stream (again if it failed)."""
        if self._chat is None or self._chat_task is None or self._chat_task.done():
            self._chat = TwitchChat(url=self._options.twitch_url, join_limit=self._options.twitch_join_limit)
            self._chat_task = asyncio.create_task(self._chat.run(self._chat_stop), name="twitch-chat")
            self._chat_task.add_done_callback(self._chat_ended)
        return self._chat

    def _chat_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error(
                "the shared Twitch connection failed",
                extra={"pool": self._options.pool, "error": f"{type(error).__name__}: {error}"},
            )

    # -- tasks -------------------------------------------------------------------------------------------
    def _forget(self, stream_id: str, task: asyncio.Task[None]) -> None:
        tasks = self._tasks.get(stream_id)
        if tasks is not None:
            tasks.discard(task)
            if not tasks:
                del self._tasks[stream_id]

    def _retire(self, member: Member) -> None:
        member.stop.set()
        task = member.task
        if task is not None and not task.done() and member.source.type == "mock":
            task.cancel()  # nothing to flush: each second went to the sink whole, or not at all
        if task is not None and not task.done():
            waiter = asyncio.create_task(self._end(task), name=f"stop:{member.stream_id}")
            self._retiring.add(waiter)
            waiter.add_done_callback(self._retiring.discard)

    async def _end(self, task: asyncio.Task[None]) -> None:
        """Give a stopped source ``stop_grace`` seconds to flush, then cancel it."""
        _, pending = await asyncio.wait([task], timeout=self._options.stop_grace)
        if pending:
            task.cancel()
            await asyncio.wait([task])

    async def _run(self, member: Member, earlier: set[asyncio.Task[None]]) -> None:
        if earlier:  # never two sources of one stream at once
            await asyncio.wait(earlier)
        if member.stop.is_set():
            return
        extra: dict[str, Any] = {"pool": self._options.pool, "stream_id": member.stream_id}
        try:
            summary = await self._run_source(member)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            member.state = "failed"
            if self._sink.failure is None:  # a sink failure is the process's, reported once
                log.error(
                    "stream source failed", extra={**extra, "error": f"{type(error).__name__}: {error}"}
                )
            return
        if not member.stop.is_set():
            member.state = "ended"
            log.info("stream source ended", extra={**extra, "type": member.source.type, **summary})

    async def _run_source(self, member: Member) -> dict[str, Any]:
        source, stream_id = member.source, member.stream_id
        if source.mock is not None:
            member.mock = LiveMockStats()
            await run_live_mock(stream_id, source.mock, self._sink, member.stop, stats=member.mock)
            return {"events": member.mock.events}
        relabel = _Relabel(stream_id, self._sink)
        if source.twitch is not None:
            channel = source.twitch.channel.lower()
            await follow_channel(self._twitch_chat(), channel, relabel, member.stop, stream_id=stream_id)
            return {"events": relabel.stats.sent}
        assert source.replay is not None
        return await self._replay(member, source.replay, relabel)

    async def _replay(self, member: Member, replay: ReplaySpec, relabel: _Relabel) -> dict[str, Any]:
        path = await self._download(member, replay.url)
        if path is None:
            return {"events": 0, "stopped": True}
        try:
            stats = await send_file(path, relabel, speed=replay.speed, stop=member.stop)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
        return {"events": stats.sent, "lines": stats.lines, "invalid": stats.invalid}

    async def _download(self, member: Member, url: str) -> str | None:
        """The log at ``url`` in a temporary file (its path), retried; None if stopped meanwhile."""
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            handle, path = tempfile.mkstemp(
                prefix="telemetra-replay-", suffix=".jsonl", dir=self._options.download_dir
            )
            try:
                with os.fdopen(handle, "wb") as file:
                    async with (
                        httpx.AsyncClient(follow_redirects=True, timeout=30.0) as client,
                        client.stream("GET", url) as response,
                    ):
                        response.raise_for_status()
                        async for chunk in response.aiter_bytes(1 << 16):
                            file.write(chunk)
                            if member.stop.is_set():
                                break
            except (httpx.HTTPError, OSError) as error:
                os.unlink(path)
                permanent = isinstance(error, httpx.HTTPStatusError) and error.response.is_client_error
                if permanent or attempt == DOWNLOAD_ATTEMPTS:
                    raise ConnectionError(f"cannot download {url}: {type(error).__name__}: {error}") from None
                log.warning(
                    "replay download failed, retrying",
                    extra={"pool": self._options.pool, "stream_id": member.stream_id, "error": str(error)},
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(member.stop.wait(), 2.0**attempt)
            else:
                if not member.stop.is_set():
                    return path
                os.unlink(path)
            if member.stop.is_set():
                return None
        return None


# -- the sources topic -------------------------------------------------------------------------------------
class SourcesReader:
    """Reads the sources topic from the beginning, every partition, without a consumer group."""

    TOPIC_WAIT_LOG_EVERY: Final = 30.0

    def __init__(self, options: PoolIngestOptions):
        self._options = options
        self.loaded = asyncio.Event()  # the topic was read to its end once and acted on

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._options.bootstrap,
            client_id=self._options.client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self._options.security.aiokafka_options(),
        )

    async def follow(self, members: PoolMembers, stop: asyncio.Event) -> None:
        """Until ``stop``: the whole topic first (the last record per stream), then each record as it comes."""
        consumer = self._consumer()
        try:
            await consumer.start()
        except KafkaError as error:
            refused = await refusal(self._options.bootstrap, self._options.security, 30.0)
            log.error(
                "cannot read the sources topic",
                extra={"pool": self._options.pool, "topic": self._options.sources_topic,
                       "error": str(refused or error)},
            )  # fmt: skip
            await consumer.stop()
            return
        try:
            if not await self._wait_for_topic(consumer, stop):
                return
            # Subscribed without a group: every partition is assigned, also partitions added later.
            consumer.subscribe([self._options.sources_topic])
            latest = await self._read_to_end(consumer, stop)
            if latest is None:
                return
            for key, value, where in latest.values():
                members.apply_record(key, value, where)
            self.loaded.set()
            log.info(
                "pool sources loaded",
                extra={"pool": self._options.pool, "records": len(latest), **members.counts()},
            )
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        members.apply_record(record.key, record.value, _where(record))
        finally:
            await consumer.stop()

    async def _wait_for_topic(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> bool:
        """Wait for the topic to exist (subscribing first would let the broker auto-create it, uncompacted)."""
        topic, next_log = self._options.sources_topic, 0.0
        while not stop.is_set():
            try:
                if topic in await consumer.topics():
                    return True
            except KafkaError as error:
                log.warning("cannot list topics", extra={"pool": self._options.pool, "error": str(error)})
            if time.monotonic() >= next_log:
                next_log = time.monotonic() + self.TOPIC_WAIT_LOG_EVERY
                log.warning(
                    "waiting for the sources topic", extra={"pool": self._options.pool, "topic": topic}
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        return False

    async def _read_to_end(
        self, consumer: AIOKafkaConsumer, stop: asyncio.Event
    ) -> dict[bytes | None, tuple[bytes | None, bytes | None, str]] | None:
        """The last record of each key, read up to the end offsets of the first assignment."""
        latest: dict[bytes | None, tuple[bytes | None, bytes | None, str]] = {}

        def keep(records: list[ConsumerRecord]) -> None:
            for record in records:
                latest[record.key] = (record.key, record.value, _where(record))

        while not consumer.assignment():
            if stop.is_set():
                return None
            for records in (await consumer.getmany(timeout_ms=200)).values():
                keep(records)
        assigned = sorted(consumer.assignment())
        end = await consumer.end_offsets(assigned)
        while not stop.is_set():
            positions = [await consumer.position(tp) for tp in assigned]
            if all(position >= end[tp] for tp, position in zip(assigned, positions, strict=True)):
                return latest
            for records in (await consumer.getmany(timeout_ms=500)).values():
                keep(records)
        return None


def _where(record: ConsumerRecord) -> str:
    return f"{record.topic}:{record.partition}:{record.offset}"


# -- progress ----------------------------------------------------------------------------------------------
async def _progress(
    members: PoolMembers, sink: BatchingSink, options: PoolIngestOptions, stop: asyncio.Event
) -> None:
    loop = asyncio.get_running_loop()
    last_time, last_sent, last_accepted = loop.time(), sink.stats.sent, sink.accepted
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), options.progress_interval)
        if stop.is_set():
            return
        now, stats = loop.time(), sink.stats
        elapsed = max(now - last_time, 1e-9)
        log.info(
            "pool progress",
            extra={
                "pool": options.pool,
                "streams": members.counts(),
                "events_per_s": round((stats.sent - last_sent) / elapsed, 1),
                "produced_per_s": round((sink.accepted - last_accepted) / elapsed, 1),
                "delivered": stats.sent,
                "failed": stats.failed,
                "buffered": sink.buffered,
                "mock_lag_s": round(members.mock_lag(), 3),
                "twitch": members.twitch_counts(),
            },
        )
        last_time, last_sent, last_accepted = now, stats.sent, sink.accepted
