"""A local Twitch chat server (IRC over WebSocket) that speaks Twitch's protocol, for the source's tests: it
accepts anonymous logins, answers the JOIN as Twitch does, then plays one script per connection. The lines it
plays come from data/twitch_irc.txt (lines in the exact form Twitch sends them)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve

FIXTURE = Path(__file__).parent / "sources" / "data" / "twitch_irc.txt"
LINES = [line for line in FIXTURE.read_text(encoding="utf-8").split("\n") if line]
LOGIN = [
    re.compile(r"CAP REQ :twitch\.tv/tags twitch\.tv/commands"),
    re.compile(r"PASS SCHMOOPIIE"),
    re.compile(r"NICK justinfan\d+"),
    re.compile(r"JOIN #ninjabear"),
]


def line_with(fragment: str) -> str:
    """The one fixture line containing ``fragment``."""
    (match,) = [line for line in LINES if fragment in line]
    return match


# -- a scripted Twitch chat server ---------------------------------------------------------------------------
class Session:
    """The server side of one client connection, after the login."""

    def __init__(self, ws: ServerConnection, server: FakeTwitch):
        self.ws, self.server = ws, server
        self.nick = ""
        self._pending: list[str] = []

    async def send(self, *lines: str) -> None:
        """Several lines in one frame, CRLF-terminated, as Twitch batches them."""
        await self.ws.send("".join(f"{line}\r\n" for line in lines))

    async def read_line(self) -> str:
        while not self._pending:
            frame = await self.ws.recv()
            assert isinstance(frame, str)
            self._pending += [line for line in frame.split("\r\n") if line]
        return self._pending.pop(0)

    async def ping(self) -> None:
        """PING and wait for the PONG; everything sent before has been handled by then. The client's own
        keepalive PINGs that arrive meanwhile are answered, as Twitch does."""
        await self.send("PING :tmi.twitch.tv")
        async with asyncio.timeout(5):
            while (line := await self.read_line()) != "PONG :tmi.twitch.tv":
                assert line.startswith("PING :"), line
                await self.send(f":tmi.twitch.tv PONG tmi.twitch.tv :{line.removeprefix('PING :')}")
        self.server.pongs += 1
        self.server.ponged.set()


Script = Callable[[Session], Awaitable[None]]


async def join_normally(session: Session) -> None:
    """Twitch's answer to a JOIN of an existing channel."""
    nick = session.nick
    await session.send(
        f":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #ninjabear",
        f":{nick}.tmi.twitch.tv 366 {nick} #ninjabear :End of /NAMES list",
        "@emote-only=0;followers-only=-1;r9k=0;room-id=71092938;slow=0;subs-only=0 "
        ":tmi.twitch.tv ROOMSTATE #ninjabear",
    )


class FakeTwitch:
    """Accepts anonymous logins, answers as Twitch does, then runs one script per connection.

    ``join`` answers each connection's JOIN (by default as for an existing channel); ``welcome=False`` leaves a
    login unanswered."""

    def __init__(self, *scripts: Script, join: Sequence[Script] = (), welcome: bool = True):
        self.scripts = scripts
        self.joins = join
        self.welcome = welcome
        self.logins: list[list[str]] = []
        self.sessions: list[Session] = []
        self.pongs = 0
        self.ponged = asyncio.Event()

    async def handler(self, ws: ServerConnection) -> None:
        session = Session(ws, self)
        login = [await session.read_line() for _ in LOGIN]
        self.logins.append(login)
        self.sessions.append(session)
        index = len(self.logins) - 1
        session.nick = login[2].removeprefix("NICK ")
        if self.welcome:
            await session.send(
                ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands",
                f":tmi.twitch.tv 001 {session.nick} :Welcome, GLHF!",
                f":tmi.twitch.tv 376 {session.nick} :>",
            )
        await (self.joins[min(index, len(self.joins) - 1)] if self.joins else join_normally)(session)
        await self.scripts[min(index, len(self.scripts) - 1)](session)

    async def __aenter__(self) -> str:
        self._server = await serve(self.handler, "127.0.0.1", 0).__aenter__()
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()


async def until_client_leaves(session: Session) -> None:
    await session.ws.wait_closed()
