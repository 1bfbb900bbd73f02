"""``telemetra ingest twitch`` as a real process against the local Twitch chat servers: what it read is on disk
however it is stopped, a channel it cannot read ends it with one line and a non-zero exit, and many channels
share one connection with counters per channel in the log and on /metrics."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fake_twitch import LINES, FakeTwitch, Session, until_client_leaves

from telemetra.dev.localstack.process import free_port
from telemetra.dev.twitch_chat import ReplayServer

CHAT = next(line for line in LINES if ";id=b34ccfc7" in line)
COUNT = 300


def numbered(n: int) -> str:
    return CHAT.replace(";id=b34ccfc7-4977-403a-8a94-33c6bac34fb8", f";id=chat-{n:06d}")


class Replay:
    """A connection's script: ``COUNT`` chat lines in frames of 25, then a PING whose PONG proves the client
    handled all of them; ``handled`` is set then."""

    def __init__(self) -> None:
        self.handled = asyncio.Event()

    async def __call__(self, session: Session) -> None:
        for start in range(0, COUNT, 25):
            await session.send(*map(numbered, range(start, start + 25)))
        await session.ping()
        self.handled.set()
        await session.ws.wait_closed()


async def ingester(url: str, sink: Path, *flags: str, log_level: str = "INFO") -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telemetra.apps.cli", "--log-level", log_level, "ingest", "twitch",
        "--channel", "NinjaBear", "--url", url, "--sink", f"file://{sink}", *flags,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def written_ids(path: Path) -> list[str]:
    """Event ids on disk; every line must be a whole event."""
    return [orjson.loads(line)["event_id"] for line in path.read_bytes().splitlines()]


EXPECTED = [f"twitch:chat-{n:06d}" for n in range(COUNT)]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
async def test_a_stop_signal_loses_nothing(tmp_path: Path, stop_signal: signal.Signals) -> None:
    path, replay = tmp_path / "events.jsonl", Replay()
    async with FakeTwitch(replay) as url:
        process = await ingester(url, path)
        await asyncio.wait_for(replay.handled.wait(), 30)
        process.send_signal(stop_signal)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
    assert written_ids(path) == EXPECTED


async def test_kill_9_loses_at_most_the_last_second(tmp_path: Path) -> None:
    path, replay = tmp_path / "events.jsonl", Replay()
    path.write_bytes(b'{"event_id": "from an earlier run"}\n')
    async with FakeTwitch(replay) as url:
        process = await ingester(url, path)
        await asyncio.wait_for(replay.handled.wait(), 30)
        # Everything was read by now. One flush interval (1 s) later it must be on disk, with no clean exit;
        # one more second of slack for a busy machine's scheduling.
        await asyncio.sleep(2.0)
        process.kill()
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    assert written_ids(path) == ["from an earlier run", *EXPECTED]  # appended to, not truncated


async def test_a_suspended_channel_ends_with_one_line_and_no_truncation(tmp_path: Path) -> None:
    async def suspended(session: Session) -> None:
        await session.send(
            "@msg-id=msg_channel_suspended :tmi.twitch.tv NOTICE #ninjabear "
            ":This channel does not exist or has been suspended."
        )

    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"event_id": "keep me"}\n')
    async with FakeTwitch(until_client_leaves, join=[suspended]) as url:
        process = await ingester(url, path, log_level="ERROR")
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert stderr.decode().splitlines() == [
        "telemetra ingest twitch: error: #ninjabear: This channel does not exist or has been suspended."
    ]
    assert written_ids(path) == ["keep me"]


async def test_many_channels_one_process_per_channel_counters_and_metrics(tmp_path: Path) -> None:
    path, channels = tmp_path / "events.jsonl", tmp_path / "channels.txt"
    channels.write_text("# the league\nalpha\nbeta=beta-main  # a stream of its own name\ngone\n")
    twitch = ReplayServer(rate=(30.0, 30.0), suspended=frozenset({"gone"}))
    url, port = await twitch.start(), free_port()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "telemetra.apps.cli", "ingest", "twitch", "--channels-file", str(channels),
            "--channel", "gamma", "--url", url, "--sink", f"file://{path}", "--metrics-port", str(port),
            "--metrics-host", "127.0.0.1", "--log-interval", "0.2",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

        log: list[dict[str, Any]] = []
        assert process.stderr is not None
        async with asyncio.timeout(30):  # until a stats line shows the three channels' chat and gone failed
            while not (stats := [entry for entry in log if entry["msg"] == "twitch stats"]) or not (
                stats[-1]["channels"]["gone"]["state"] == "failed"
                and all(stats[-1]["channels"][s]["events"] for s in ("alpha", "beta-main", "gamma"))
            ):
                log.append(orjson.loads(await process.stderr.readline()))
        metrics = (await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/metrics", timeout=5)).text
        twitch.playing = False
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        await twitch.close()
    assert process.returncode == 0, stderr.decode()
    assert twitch.sessions == 1
    assert 'telemetra_twitch_channel_failed{channel="gone",stream_id="gone"} 1.0' in metrics
    assert 'telemetra_twitch_channel_failed{channel="alpha",stream_id="alpha"} 0.0' in metrics
    assert 'telemetra_twitch_lines_total{channel="beta",stream_id="beta-main"}' in metrics
    assert 'telemetra_twitch_events_total{channel="gamma",stream_id="gamma",type="chat"}' in metrics
    assert (
        'telemetra_twitch_ignored_lines_total{channel="alpha",reason="ROOMSTATE",stream_id="alpha"} 1.0'
        in metrics
    )
    log += [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b"{")]
    (failed,) = [entry for entry in log if entry["msg"] == "twitch channel failed"]
    assert failed["stream_id"] == "gone" and failed["level"] == "warning"
    assert set(stats[-1]["channels"]) == {"alpha", "beta-main", "gamma", "gone"}
    written = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    by_stream = Counter(event["stream_id"] for event in written)
    (stopped,) = [entry for entry in log if entry["msg"] == "twitch stopped"]
    for stream_id, counters in stopped["channels"].items():
        assert by_stream[stream_id] == counters["events"]  # all forwarded, all on disk
    assert set(by_stream) == {"alpha", "beta-main", "gamma"}


async def test_when_every_channel_fails_the_command_fails(tmp_path: Path) -> None:
    twitch = ReplayServer(suspended=frozenset({"gone", "banned"}))
    url = await twitch.start()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "telemetra.apps.cli", "--log-level", "ERROR", "ingest", "twitch",
            "--channel", "gone,banned", "--url", url, "--sink", f"file://{tmp_path / 'events.jsonl'}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        await twitch.close()
    assert process.returncode == 1
    assert stderr.decode().splitlines() == [
        "telemetra ingest twitch: error: all 2 channels failed: "
        "#gone: This channel does not exist or has been suspended.; "
        "#banned: This channel does not exist or has been suspended."
    ]
