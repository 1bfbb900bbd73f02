"""``telemetra ingest pool`` against a real Kafka broker: the pool's producer follows its sources topic, runs
each member stream's source into the pool's events topic keyed by stream id, restarts only the stream whose
record changed, stops a stream on its tombstone, skips a bad record with an error line, and stops cleanly on
SIGTERM with everything delivered."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from websockets.asyncio.server import ServerConnection, serve

from telemetra.apps.cli import main
from telemetra.apps.pool_ingest import Member, PoolIngestOptions, PoolMembers, run_pool_ingest
from telemetra.contract import validate_event
from telemetra.dev.localstack.kafka import free_port
from telemetra.dev.twitch_chat import ReplayServer
from telemetra.records import PoolTopics
from telemetra.sinks.base import RawEvent, SinkStats
from telemetra.sinks.batching import BatchingSink

pytestmark = pytest.mark.kafka
PARTITIONS = 3


def mock(seed: int, rate: int = 20) -> bytes:
    return orjson.dumps({"type": "mock", "mock": {"rate": rate, "seed": seed, "scenarios": []}})


# -- Kafka helpers -----------------------------------------------------------------------------------------
async def create_pool(bootstrap: str) -> tuple[str, PoolTopics]:
    """A pool of the test's own, with its topics as the operator creates them."""
    pool = f"p{uuid.uuid4().hex[:8]}"
    topics = PoolTopics.of(pool)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(topics.events, PARTITIONS, 1),
                NewTopic(topics.sources, 1, 1, topic_configs={"cleanup.policy": "compact"}),
            ]
        )
    finally:
        await admin.close()
    return pool, topics


async def put_sources(bootstrap: str, topic: str, *records: tuple[str, bytes | None]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for stream_id, value in records:
            await (await producer.send(topic, key=stream_id.encode(), value=value))
    finally:
        await producer.stop()


class EventsTopic:
    """Everything on the pool's events topic, read in the background as it arrives."""

    def __init__(self, bootstrap: str, topic: str):
        self.bootstrap, self.topic = bootstrap, topic
        self.records: list[tuple[bytes, dict[str, Any], int]] = []  # key, event, partition

    def events(self, stream_id: str) -> list[dict[str, Any]]:
        return [event for key, event, _ in self.records if key == stream_id.encode()]

    def count(self, stream_id: str) -> int:
        return sum(1 for key, _, _ in self.records if key == stream_id.encode())

    def starts(self, stream_id: str) -> int:
        """``stream_meta`` start events: one each time a mock stream's task starts."""
        return sum(
            1 for e in self.events(stream_id) if e["type"] == "stream_meta" and e.get("kind") == "start"
        )

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            while True:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        self.records.append((record.key, orjson.loads(record.value), record.partition))
        finally:
            await consumer.stop()

    async def stored(self) -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(self.topic, p) for p in range(PARTITIONS)]
            return sum((await consumer.end_offsets(partitions)).values())
        finally:
            await consumer.stop()


async def eventually(condition: Callable[[], bool], seconds: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {seconds:g} s")
        await asyncio.sleep(0.05)


def logged(
    caplog: pytest.LogCaptureFixture, message: str, stream_id: str | None = None
) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "telemetra.pool"
        and r.getMessage() == message
        and (stream_id is None or getattr(r, "stream_id", None) == stream_id)
    ]


def source_tasks(stream_id: str) -> int:
    """Live tasks running ``stream_id``'s source."""
    return sum(
        1 for task in asyncio.all_tasks() if task.get_name() == f"source:{stream_id}" and not task.done()
    )


@contextlib.asynccontextmanager
async def pool_producer(
    bootstrap: str, pool: str, topics: PoolTopics, **overrides: Any
) -> AsyncIterator[tuple[asyncio.Task[int], asyncio.Event, EventsTopic]]:
    options = PoolIngestOptions(
        pool=pool,
        bootstrap=bootstrap,
        sources_topic=topics.sources,
        events_topic=topics.events,
        progress_interval=0.5,
        stop_grace=3.0,
        **overrides,
    )
    stop = asyncio.Event()
    events = EventsTopic(bootstrap, topics.events)
    reading = asyncio.create_task(events.run())
    running = asyncio.create_task(run_pool_ingest(options, stop))
    try:
        yield running, stop, events
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(running, 30)
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading


# -- the tests ---------------------------------------------------------------------------------------------
async def test_streams_join_change_and_leave_one_at_a_time(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="telemetra.pool")
    pool, topics = await create_pool(kafka_bootstrap)
    await put_sources(kafka_bootstrap, topics.sources, ("a", mock(1)), ("b", mock(2)), ("c", mock(3)))
    async with pool_producer(kafka_bootstrap, pool, topics) as (running, stop, events):
        # join: each stream's events, keyed by its id, on one partition
        await eventually(lambda: all(events.count(s) >= 40 for s in "abc"), what="events of a, b and c")
        for key, event, _ in events.records:
            assert key == event["stream_id"].encode()
        for stream in "abc":
            assert len({partition for key, _, partition in events.records if key == stream.encode()}) == 1
            assert events.starts(stream) == 1
            assert [r.source for r in logged(caplog, "stream joined", stream)] == [  # type: ignore[attr-defined]
                orjson.loads(mock(ord(stream) - ord("a") + 1))
            ]
        for _, event, _ in events.records[:200]:
            validate_event(event)

        # change b's seed and rate; a's record again, unchanged; a bad record for d
        await put_sources(
            kafka_bootstrap,
            topics.sources,
            ("b", mock(9, rate=60)),
            ("a", mock(1)),
            ("d", b'{"type":"mock","mock":{"rate":-1}}'),
        )
        await eventually(lambda: bool(logged(caplog, "invalid source record", "d")), what="d refused")
        await eventually(lambda: events.starts("b") == 2, what="b restarted")
        counts = {s: events.count(s) for s in "abc"}
        await asyncio.sleep(2.5)
        assert all(events.count(s) > counts[s] for s in "abc"), "every stream keeps producing"
        grown = {s: events.count(s) - counts[s] for s in "abc"}
        assert grown["b"] > 1.5 * max(grown["a"], grown["c"]), (
            f"b runs at its new rate (60/s, not 20): {grown}"
        )
        assert (events.starts("a"), events.starts("b"), events.starts("c")) == (1, 2, 1)
        assert [source_tasks(s) for s in "abcd"] == [1, 1, 1, 0]
        assert len(logged(caplog, "stream changed", "b")) == 1
        assert not logged(caplog, "stream changed", "a"), "an identical record is a no-op"
        (refusal,) = logged(caplog, "invalid source record", "d")
        assert refusal.levelno == logging.ERROR
        assert "mock.rate: Input should be greater than 0" in refusal.error  # type: ignore[attr-defined]
        assert events.count("d") == 0

        # a tombstone stops c; the others go on
        await put_sources(kafka_bootstrap, topics.sources, ("c", None))
        await eventually(lambda: bool(logged(caplog, "stream left", "c")), what="c left")
        await asyncio.sleep(0.5)  # what c sent before it stopped is delivered
        counts = {s: events.count(s) for s in "abc"}
        await asyncio.sleep(2.0)
        assert events.count("c") == counts["c"]
        assert events.count("a") > counts["a"] and events.count("b") > counts["b"]
        assert source_tasks("c") == 0

        # progress lines: streams and events/s
        progress = logged(caplog, "pool progress")
        assert progress and progress[-1].streams["running"] == 2  # type: ignore[attr-defined]
        assert max(r.events_per_s for r in progress) > 0  # type: ignore[attr-defined]

        stop.set()
        assert await asyncio.wait_for(running, 30) == 0
        (stopped,) = logged(caplog, "pool producer stopped")
        assert stopped.failed == 0  # type: ignore[attr-defined]
        assert stopped.delivered == await events.stored()  # type: ignore[attr-defined]


async def test_at_start_only_the_last_record_of_each_stream_counts(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="telemetra.pool")
    pool, topics = await create_pool(kafka_bootstrap)
    await put_sources(
        kafka_bootstrap,
        topics.sources,
        ("x", mock(1)),
        ("y", mock(2)),
        ("x", mock(5, rate=30)),  # x changed before the producer started
        ("y", None),  # y left before it started
        ("z", b"not json"),
    )
    async with pool_producer(kafka_bootstrap, pool, topics) as (_, _, events):
        await eventually(lambda: bool(logged(caplog, "pool sources loaded")), what="sources loaded")
        await eventually(lambda: events.count("x") >= 30, what="events of x")
        (joined,) = logged(caplog, "stream joined")
        assert (joined.stream_id, joined.source) == ("x", orjson.loads(mock(5, rate=30)))  # type: ignore[attr-defined]
        assert not logged(caplog, "stream changed") and not logged(caplog, "stream left")
        assert len(logged(caplog, "invalid source record", "z")) == 1
        assert {key for key, _, _ in events.records} == {b"x"}
        assert events.starts("x") == 1


async def test_a_replay_runs_to_its_end_once_and_a_twitch_channel_feeds_its_stream(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="telemetra.pool")
    log_file = tmp_path / "log.jsonl"
    log_file.write_bytes(
        b"".join(
            orjson.dumps(
                {
                    "event_id": f"r{i}",
                    "stream_id": "recorded",
                    "type": "viewers",
                    "ts": f"2026-11-27T16:00:{i:02d}.000Z",
                    "viewers": 100 + i,
                }
            )
            + b"\n"
            for i in range(40)
        )
        + b'{"broken": true}\n'
    )
    pool, topics = await create_pool(kafka_bootstrap)
    with serve_directory(tmp_path) as base_url:
        async with fake_twitch("ninjabear") as twitch_url:
            await put_sources(
                kafka_bootstrap,
                topics.sources,
                (
                    "rerun",
                    orjson.dumps({"type": "replay", "replay": {"url": f"{base_url}/log.jsonl", "speed": 0}}),
                ),
                ("gone", orjson.dumps({"type": "replay", "replay": {"url": f"{base_url}/missing.jsonl"}})),
                ("nb-main", orjson.dumps({"type": "twitch", "twitch": {"channel": "NinjaBear"}})),
            )
            async with pool_producer(kafka_bootstrap, pool, topics, twitch_url=twitch_url) as (_, _, events):
                await eventually(
                    lambda: bool(logged(caplog, "stream source ended", "rerun")), what="replay end"
                )
                await eventually(lambda: events.count("rerun") == 40, what="the replay delivered")
                await eventually(lambda: events.count("nb-main") == 3, what="chat of the channel")
                await eventually(
                    lambda: bool(logged(caplog, "stream source failed", "gone")), what="download"
                )
                (ended,) = logged(caplog, "stream source ended", "rerun")
                assert (ended.events, ended.invalid) == (40, 1)  # type: ignore[attr-defined]
                assert [e["viewers"] for e in events.events("rerun")] == [100 + i for i in range(40)]
                assert {e["stream_id"] for e in events.events("rerun")} == {"rerun"}  # relabelled
                assert {e["stream_id"] for e in events.events("nb-main")} == {"nb-main"}
                assert [e["text"] for e in events.events("nb-main")] == ["hello 0", "hello 1", "hello 2"]
                (failed,) = logged(caplog, "stream source failed", "gone")
                assert "404" in failed.error  # type: ignore[attr-defined]
                await asyncio.sleep(1.5)
                assert events.count("rerun") == 40, "an ended replay is not restarted"
                progress = logged(caplog, "pool progress")[-1]
                assert progress.streams == {  # type: ignore[attr-defined]
                    "running": 1,
                    "mock": 0,
                    "twitch": 1,
                    "replay": 0,
                    "ended": 1,
                    "failed": 1,
                }


async def test_the_pool_reads_all_its_twitch_streams_over_one_connection(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Streams join and leave the shared connection as JOIN and PART; a channel that cannot be read fails its
    stream alone."""
    caplog.set_level(logging.INFO, logger="telemetra.pool")
    twitch = ReplayServer(rate=(20.0, 20.0), suspended=frozenset({"gone"}))
    twitch_url = await twitch.start()
    pool, topics = await create_pool(kafka_bootstrap)

    def source(channel: str) -> bytes:
        return orjson.dumps({"type": "twitch", "twitch": {"channel": channel}})

    try:
        await put_sources(
            kafka_bootstrap, topics.sources, ("s-a", source("Alpha")), ("s-b", source("beta")),
            ("s-c", source("gamma")), ("s-gone", source("gone")),
        )  # fmt: skip
        async with pool_producer(kafka_bootstrap, pool, topics, twitch_url=twitch_url) as (_, _, events):
            await eventually(
                lambda: all(events.count(s) >= 10 for s in ("s-a", "s-b", "s-c")), what="chat of the three"
            )
            await eventually(
                lambda: bool(logged(caplog, "stream source failed", "s-gone")), what="gone fails"
            )
            assert twitch.sessions == 1
            assert twitch.joined() == {"alpha": 1, "beta": 1, "gamma": 1}
            await put_sources(kafka_bootstrap, topics.sources, ("s-b", None))
            await eventually(lambda: "beta" not in twitch.joined(), what="beta parted")
            before = events.count("s-a")
            await eventually(lambda: events.count("s-a") > before + 10, what="alpha goes on")
            assert twitch.joined() == {"alpha": 1, "gamma": 1} and twitch.sessions == 1
            (failed,) = logged(caplog, "stream source failed", "s-gone")
            assert "#gone: This channel does not exist or has been suspended" in failed.error  # type: ignore[attr-defined]
            assert {e["stream_id"] for e in events.events("s-a")} == {"s-a"}
            for event in events.events("s-c")[:20]:
                validate_event(event)
            progress = logged(caplog, "pool progress")[-1]
            assert progress.twitch["channels"] == 2  # type: ignore[attr-defined]
    finally:
        await twitch.close()


async def test_a_stream_never_runs_two_sources_at_once_however_fast_its_records_change() -> None:
    """Sources that take a while to stop (a replay flushing): a change waits for every earlier task of the
    stream, also when the one in between (a mock, cancelled at once) never started."""
    active: Counter[str] = Counter()
    most: Counter[str] = Counter()
    started: list[str] = []

    class Slow(PoolMembers):
        async def _run_source(self, member: Member) -> dict[str, Any]:
            active[member.stream_id] += 1
            most[member.stream_id] = max(most[member.stream_id], active[member.stream_id])
            started.append(member.source.type)
            try:
                await member.stop.wait()
                await asyncio.sleep(0.3)  # flushing
            finally:
                active[member.stream_id] -= 1
            return {}

    options = PoolIngestOptions(pool="p", bootstrap="127.0.0.1:1", sources_topic="s", events_topic="e")
    members = Slow(BatchingSink(Inert()), options)
    replay = orjson.dumps({"type": "replay", "replay": {"url": "http://h/a.jsonl"}})
    members.apply_record(b"s", replay, "t:0:0")
    await asyncio.sleep(0.05)
    members.apply_record(b"s", mock(1), "t:0:1")  # replaces the replay, is replaced before it starts
    members.apply_record(b"s", replay.replace(b"a.jsonl", b"b.jsonl"), "t:0:2")
    await asyncio.sleep(0.6)
    assert started == ["replay", "replay"] and most["s"] == 1 and active["s"] == 1
    members.apply_record(b"s", None, "t:0:3")
    await members.stop_all()
    assert active["s"] == 0 and source_tasks("s") == 0


class Inert:
    def __init__(self) -> None:
        self.stats = SinkStats()

    async def start(self) -> None:
        return None

    async def send(self, events: Sequence[RawEvent]) -> None:
        return None

    async def close(self) -> None:
        return None


# -- the command line --------------------------------------------------------------------------------------
def test_bad_flags_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, reason in [
        (
            ["--pool", "Bad_Pool", "--kafka-bootstrap", "127.0.0.1:9092"],
            "pool name 'Bad_Pool' must be a DNS label",
        ),
        (["--pool", "p", "--kafka-bootstrap", "kafka"], "'kafka' is not HOST:PORT"),
        (["--pool", "p", "--kafka-bootstrap", "k:1", "--events-topic", "a b"], "is not a Kafka topic name"),
        (["--kafka-bootstrap", "127.0.0.1:9092"], "the following arguments are required: --pool"),
    ]:
        with pytest.raises(SystemExit) as exited:
            main(["ingest", "pool", *argv])
        assert exited.value.code == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
        assert len(errors) == 1 and reason in errors[0], errors


def test_incomplete_kafka_security_is_one_line_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEMETRA_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    assert main(["ingest", "pool", "--pool", "p", "--kafka-bootstrap", "127.0.0.1:9092"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert (
        line.startswith("telemetra ingest pool: error: Kafka security settings") and "SASL username" in line
    )


def test_unreachable_kafka_is_one_error_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "ingest",
        "pool",
        "--pool",
        "p",
        "--kafka-bootstrap",
        f"127.0.0.1:{free_port()}",
        "--connect-timeout",
        "1",
    ]
    assert main(argv) == 1
    errors = [
        orjson.loads(line) for line in capsys.readouterr().err.splitlines() if '"level":"error"' in line
    ]
    assert [(e["msg"], e["pool"]) for e in errors] == [("cannot connect to Kafka", "p")]
    assert "cannot reach Kafka" in errors[0]["error"]


async def test_the_command_stops_cleanly_on_sigterm(kafka_bootstrap: str, tmp_path: Path) -> None:
    pool, topics = await create_pool(kafka_bootstrap)
    await put_sources(kafka_bootstrap, topics.sources, ("cli-a", mock(1)), ("cli-b", mock(2)))
    events = EventsTopic(kafka_bootstrap, topics.events)
    reading = asyncio.create_task(events.run())
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as err:
        process = subprocess.Popen(  # noqa: ASYNC220 - started once; waited for in a thread
            [
                sys.executable,
                "-m",
                "telemetra.apps.cli",
                "ingest",
                "pool",
                "--pool",
                pool,
                "--kafka-bootstrap",
                kafka_bootstrap,
                "--progress-interval",
                "1",
            ],
            stderr=err,
            env={**os.environ, "TELEMETRA_LOG_LEVEL": "INFO"},
        )
    try:
        await eventually(lambda: events.count("cli-a") >= 20 and events.count("cli-b") >= 20, what="events")
        await asyncio.sleep(1.5)  # a progress line
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        reading.cancel()
    lines = [orjson.loads(line) for line in stderr.read_bytes().splitlines() if line.startswith(b"{")]
    by_msg = Counter(line["msg"] for line in lines)
    assert by_msg["stream joined"] == 2 and by_msg["pool progress"] >= 1, by_msg
    assert not [line for line in lines if line["level"] == "error"]
    (stopped,) = [line for line in lines if line["msg"] == "pool producer stopped"]
    assert stopped["failed"] == 0 and stopped["delivered"] == await events.stored() > 0


# -- local servers -----------------------------------------------------------------------------------------
@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextlib.asynccontextmanager
async def fake_twitch(channel: str) -> AsyncIterator[str]:
    """Accepts an anonymous login to ``#channel``, says three chat lines, then stays quiet (answering the
    client's keepalive PINGs, as Twitch does)."""

    async def handler(ws: ServerConnection) -> None:
        login = [await ws.recv() for _ in range(4)]
        assert login[3] == f"JOIN #{channel}"
        nick = str(login[2]).removeprefix("NICK ")
        await ws.send(f":tmi.twitch.tv 001 {nick} :Welcome, GLHF!\r\n")
        for i in range(3):
            await ws.send(
                f"@display-name=Viewer{i};id=chat-{i};tmi-sent-ts={1_796_000_000_000 + i};user-id=10{i} "
                f":viewer{i}!viewer{i}@viewer{i}.tmi.twitch.tv PRIVMSG #{channel} :hello {i}\r\n"
            )
        async for frame in ws:
            if str(frame).startswith("PING :"):
                await ws.send(f":tmi.twitch.tv PONG tmi.twitch.tv :{str(frame).removeprefix('PING :')}\r\n")

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"
