"""``telemetra ingest twitch`` as a real process against the local Twitch chat server: what it read is on disk
however it is stopped, and a channel it cannot read ends it with one line and a non-zero exit."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import orjson
import pytest
from fake_twitch import LINES, FakeTwitch, Session, until_client_leaves

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
