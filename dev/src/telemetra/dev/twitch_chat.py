"""A local Twitch chat server that replays real-format chat into any channel joined, for benchmarks, e2e tests
and trying ``telemetra demo --twitch`` without a network.

It speaks Twitch's protocol over WebSocket as far as an anonymous reader needs: the ``CAP``/``PASS``/``NICK``
login and its welcome, ``JOIN`` (also ``JOIN #a,#b``) answered with the echo, the names list and the
``ROOMSTATE``, ``PART``, and ``PING``/``PONG`` both ways. Each joined channel then gets chat at its own rate,
drawn from template lines in the exact form Twitch sends them (pipeline/tests/sources/data/twitch_irc.txt): the
channel, room id, message id and ``tmi-sent-ts`` are rewritten per line, so every line is new and current,
and each channel plays its own shuffled mix at its own rate. A channel listed as suspended gets Twitch's
``msg_channel_suspended`` NOTICE instead.

``python -m telemetra.dev.twitch_chat --port 0`` prints ``ws://127.0.0.1:PORT`` on its first line, then runs
until SIGTERM/SIGINT and prints a JSON summary (lines sent per channel).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import re
import signal
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

FIXTURE = Path(__file__).resolve().parents[4] / "pipeline" / "tests" / "sources" / "data" / "twitch_irc.txt"
TEMPLATE_CHANNEL = "#ninjabear"
TEMPLATE_ROOM = "room-id=71092938"
_CHANNEL_COMMANDS = (" PRIVMSG ", " USERNOTICE ", " CLEARCHAT ", " CLEARMSG ")
# How often each kind of line comes, relative to one chat line: Twitch chat is mostly chat, raids are rare.
_WEIGHTS = {
    "msg-id=raid;": 0.002,
    " PRIVMSG ": 1.0,
    " USERNOTICE ": 0.05,
    " CLEARCHAT ": 0.01,
    " CLEARMSG ": 0.01,
}
_MESSAGE_ID = re.compile(r"(?<=[@;])id=[^; ]*")
_SENT_TS = re.compile(r"tmi-sent-ts=\d+")
TICK = 0.1  # seconds between the frames of a session


def load_templates(path: Path = FIXTURE) -> list[str]:
    """The channel lines of a capture: chat, user notices and moderation of ``#ninjabear``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [
        line for line in lines if f"{TEMPLATE_CHANNEL}" in line and any(c in line for c in _CHANNEL_COMMANDS)
    ]


def room_id(channel: str) -> str:
    return str(10_000_000 + zlib.crc32(channel.encode()) % 90_000_000)


class ChannelScript:
    """One channel's endless chat: its own shuffled, weighted mix of the templates at its own rate."""

    def __init__(self, channel: str, templates: Sequence[str], rate: float, seed: int = 0):
        self.channel, self.rate = channel, rate
        rng = random.Random(f"{seed}:{channel}")
        weights = [next(w for c, w in _WEIGHTS.items() if c in line) for line in templates]
        self._lines = [
            line.replace(TEMPLATE_CHANNEL, f"#{channel}").replace(
                TEMPLATE_ROOM, f"room-id={room_id(channel)}"
            )
            for line in rng.choices(templates, weights=weights, k=max(200, len(templates) * 10))
        ]
        self._next = itertools.cycle(self._lines)
        self._counter = itertools.count()

    def lines(self, count: int, session: int) -> list[str]:
        """``count`` new lines, each with a message id never used before and the current time."""
        now = f"tmi-sent-ts={int(time.time() * 1000)}"
        out = []
        for _ in range(count):
            line = next(self._next)
            unique = f"id={self.channel}-{session}-{next(self._counter)}"
            out.append(_SENT_TS.sub(now, _MESSAGE_ID.sub(unique, line, count=1), count=1))
        return out


@dataclass
class ReplayServer:
    """The server: ``rate`` lines/s per channel (a ``(low, high)`` range draws each channel's rate from it)."""

    rate: tuple[float, float] = (5.0, 20.0)
    suspended: frozenset[str] = frozenset()
    templates: list[str] = field(default_factory=load_templates)
    seed: int = 0
    sent: dict[str, int] = field(default_factory=dict)  # chat lines sent per channel, all sessions
    joins: int = 0
    sessions: int = 0
    playing: bool = True  # false: joined channels stay quiet
    overlapped: set[str] = field(default_factory=set)  # channels joined on a second connection at once
    _server: Server | None = None
    _live: list[_Session] = field(default_factory=list)

    async def reconnect_all(self) -> None:
        """Ask every connection to move, as Twitch does before a restart; they keep playing meanwhile."""
        for session in list(self._live):
            with contextlib.suppress(ConnectionClosed):
                await session.send_lines(":tmi.twitch.tv RECONNECT")

    async def sync(self) -> None:
        """PING every connection and wait for the PONGs: a client answers in order, so every line sent before
        has been handled by then."""
        await asyncio.gather(*(session.ping() for session in list(self._live)))

    def joined(self) -> dict[str, int]:
        """Channels joined now, over all connections → on how many."""
        counts: dict[str, int] = {}
        for session in self._live:
            for channel in session.scripts:
                counts[channel] = counts.get(channel, 0) + 1
        return counts

    def rate_of(self, channel: str) -> float:
        low, high = self.rate
        return random.Random(f"{self.seed}:rate:{channel}").uniform(low, high)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = await serve(self._session, host, port, max_queue=None)
        bound = self._server.sockets[0].getsockname()[1]
        return f"ws://{host}:{bound}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _session(self, ws: ServerConnection) -> None:
        self.sessions += 1
        session = _Session(self, ws, self.sessions)
        self._live.append(session)
        try:
            with contextlib.suppress(ConnectionClosed):
                await session.run()
        finally:
            self._live.remove(session)


class _Session:
    """One client connection: commands in, chat of its joined channels out, one frame per tick."""

    def __init__(self, server: ReplayServer, ws: ServerConnection, number: int):
        self.server, self.ws, self.number = server, ws, number
        self.nick = "justinfan0"
        self.scripts: dict[str, ChannelScript] = {}
        self._owed: dict[str, float] = {}
        self._pongs: dict[str, asyncio.Event] = {}
        self._tokens = itertools.count()

    async def ping(self) -> None:
        token = f"sync-{next(self._tokens)}"
        answered = self._pongs[token] = asyncio.Event()
        await self.send_lines(f"PING :{token}")
        await answered.wait()

    async def run(self) -> None:
        player = asyncio.create_task(self._play())
        try:
            async for frame in self.ws:
                for line in str(frame).split("\r\n"):
                    if line:
                        await self._command(line)
        finally:
            player.cancel()

    async def _command(self, line: str) -> None:
        verb, _, rest = line.partition(" ")
        if verb == "NICK":
            self.nick = rest.strip()
            await self.send_lines(
                ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands",
                f":tmi.twitch.tv 001 {self.nick} :Welcome, GLHF!",
                f":tmi.twitch.tv 376 {self.nick} :>",
            )
        elif verb == "JOIN":
            for channel in rest.replace("#", "").split(","):
                await self._join(channel.strip().lower())
        elif verb == "PART":
            for channel in rest.replace("#", "").split(","):
                self.scripts.pop(channel.strip().lower(), None)
        elif verb == "PONG":
            if (answered := self._pongs.pop(rest.rpartition(":")[2], None)) is not None:
                answered.set()
        elif verb == "PING":
            await self.send_lines(f":tmi.twitch.tv PONG tmi.twitch.tv :{rest.removeprefix(':')}")

    async def _join(self, channel: str) -> None:
        nick, server = self.nick, self.server
        server.joins += 1
        echo = f":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #{channel}"
        if channel in server.suspended:
            await self.send_lines(
                echo,
                f"@msg-id=msg_channel_suspended :tmi.twitch.tv NOTICE #{channel} "
                ":This channel does not exist or has been suspended.",
            )
            return
        await self.send_lines(
            echo,
            f":{nick}.tmi.twitch.tv 353 {nick} = #{channel} :{nick}",
            f":{nick}.tmi.twitch.tv 366 {nick} #{channel} :End of /NAMES list",
            f"@emote-only=0;followers-only=-1;r9k=0;room-id={room_id(channel)};slow=0;subs-only=0 "
            f":tmi.twitch.tv ROOMSTATE #{channel}",
        )
        if server.joined().get(channel):
            server.overlapped.add(channel)
        self.scripts[channel] = ChannelScript(channel, server.templates, server.rate_of(channel), server.seed)
        self._owed[channel] = 0.0

    async def _play(self) -> None:
        """Every tick, each joined channel's due lines, all in one frame (Twitch batches lines too)."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(TICK)
            now = loop.time()
            elapsed, last = now - last, now
            frame: list[str] = []
            for channel, script in list(self.scripts.items()) if self.server.playing else ():
                owed = self._owed.get(channel, 0.0) + script.rate * elapsed
                count = int(owed)
                self._owed[channel] = owed - count
                if count:
                    frame += script.lines(count, self.number)
                    self.server.sent[channel] = self.server.sent.get(channel, 0) + count
            if frame:
                await self.send_lines(*frame)

    async def send_lines(self, *lines: str) -> None:
        await self.ws.send("".join(f"{line}\r\n" for line in lines))


def _rate(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    return float(low), float(high or low)


async def _main(args: argparse.Namespace) -> None:
    server = ReplayServer(
        rate=args.rate,
        suspended=frozenset(c.strip().lower() for c in args.suspended.split(",") if c.strip()),
        templates=load_templates(Path(args.templates)),
        seed=args.seed,
    )
    print(await server.start(args.host, args.port), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()
    summary = {"sessions": server.sessions, "joins": server.joins, "sent": server.sent}
    print(orjson.dumps(summary).decode(), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m telemetra.dev.twitch_chat", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port (printed)")
    parser.add_argument("--rate", type=_rate, default=(5.0, 20.0), help="lines/s per channel: N or LOW-HIGH")
    parser.add_argument("--suspended", default="", help="channels answered as suspended, comma-separated")
    parser.add_argument(
        "--templates", default=str(FIXTURE), help="a capture of real chat lines of #ninjabear"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of each channel's mix and rate")
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
