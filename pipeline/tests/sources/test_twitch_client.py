"""The Twitch client against a local IRC-over-WebSocket server that speaks Twitch's protocol, and Helix
polling against an in-process fake (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import InvalidURI

from telemetra.contract import validate_event
from telemetra.sources.twitch import Backoff, HelixCredentials, HelixPoller, run_twitch

FIXTURE = Path(__file__).parent / "data" / "twitch_irc.txt"
LINES = [line for line in FIXTURE.read_text(encoding="utf-8").split("\n") if line]
FAST = Backoff(base=0.01, cap=0.05)
LOGIN = [
    re.compile(r"CAP REQ :twitch\.tv/tags twitch\.tv/commands"),
    re.compile(r"PASS SCHMOOPIIE"),
    re.compile(r"NICK justinfan\d+"),
    re.compile(r"JOIN #ninjabear"),
]


def line_with(fragment: str) -> str:
    (match,) = [line for line in LINES if fragment in line]
    return match


CHAT = [line_with(f";id={twitch_id}") for twitch_id in ("b34ccfc7", "5f0e7a9c", "c8e2a4f6", "e0f1a2b3")]
SUB = line_with("display-name=NewSubber")
RAID = line_with("msg-id=raid")


# -- a scripted Twitch chat server ---------------------------------------------------------------------------
class Session:
    """The server side of one client connection, after the login."""

    def __init__(self, ws: ServerConnection, server: FakeTwitch):
        self.ws, self.server = ws, server
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
        """PING and wait for the PONG; everything sent before has been handled by then."""
        await self.send("PING :tmi.twitch.tv")
        assert await asyncio.wait_for(self.read_line(), 5) == "PONG :tmi.twitch.tv"
        self.server.pongs += 1
        self.server.ponged.set()


Script = Callable[[Session], Awaitable[None]]


class FakeTwitch:
    """Accepts anonymous logins, answers as Twitch does, then runs one script per connection."""

    def __init__(self, *scripts: Script):
        self.scripts = scripts
        self.logins: list[list[str]] = []
        self.pongs = 0
        self.ponged = asyncio.Event()

    async def handler(self, ws: ServerConnection) -> None:
        session = Session(ws, self)
        login = [await session.read_line() for _ in LOGIN]
        self.logins.append(login)
        nick = login[2].removeprefix("NICK ")
        await session.send(
            ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands",
            f":tmi.twitch.tv 001 {nick} :Welcome, GLHF!",
            f":tmi.twitch.tv 376 {nick} :>",
        )
        await session.send(
            f":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #ninjabear",
            f":{nick}.tmi.twitch.tv 366 {nick} #ninjabear :End of /NAMES list",
            "@emote-only=0;followers-only=-1;r9k=0;room-id=71092938;slow=0;subs-only=0 "
            ":tmi.twitch.tv ROOMSTATE #ninjabear",
        )
        await self.scripts[min(len(self.logins), len(self.scripts)) - 1](session)

    async def __aenter__(self) -> str:
        self._server = await serve(self.handler, "127.0.0.1", 0).__aenter__()
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()


async def until_client_leaves(session: Session) -> None:
    await session.ws.wait_closed()


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [event["event_id"].removeprefix("twitch:")[:8] for event in events]


# -- chat --------------------------------------------------------------------------------------------------
async def test_login_ping_reconnect_and_dropped_socket(sink: Any) -> None:
    async def chat_ping_then_reconnect(session: Session) -> None:
        await session.send(*CHAT[:3])
        await session.ping()
        await session.send(SUB)
        await session.send(":tmi.twitch.tv RECONNECT")
        await session.ws.wait_closed()

    async def chat_then_drop(session: Session) -> None:
        await session.send(CHAT[3], "@garbage-without-a-command")
        await session.ping()
        session.ws.transport.abort()  # no close frame: the TCP connection just dies

    async def raid(session: Session) -> None:
        await session.send(RAID)
        await session.ws.wait_closed()

    twitch = FakeTwitch(chat_ping_then_reconnect, chat_then_drop, raid)
    async with twitch as url:
        stop = asyncio.Event()
        task = asyncio.create_task(run_twitch("#NinjaBear", sink, url=url, stop=stop, backoff=FAST, linger=0))
        events = await sink.wait_for(6)
        stop.set()
        stats = await asyncio.wait_for(task, 10)

    assert len(twitch.logins) == 3
    for login in twitch.logins:
        assert all(pattern.fullmatch(line) for pattern, line in zip(LOGIN, login, strict=True)), login
    assert twitch.pongs == 2
    assert ids(events) == ["b34ccfc7", "5f0e7a9c", "c8e2a4f6", "0b6c2b5a", "e0f1a2b3", "3d830f12"]
    for event in events:
        validate_event(event)
    assert (stats.events, stats.reconnects, stats.pings, stats.parse_errors) == (6, 2, 2, 1)
    assert stats.ignored["001"] == 3
    assert stats.ignored["ROOMSTATE"] == 3


async def test_silent_connection_is_replaced(sink: Any) -> None:
    async def say_hello(session: Session) -> None:
        await session.send(CHAT[0])
        await session.ws.wait_closed()

    async with FakeTwitch(until_client_leaves, say_hello) as url:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_twitch("ninjabear", sink, url=url, stop=stop, backoff=FAST, idle_timeout=0.2, linger=0)
        )
        await sink.wait_for(1)
        stop.set()
        stats = await asyncio.wait_for(task, 10)
    assert stats.reconnects == 1


async def test_moderation_is_counted_and_events_are_batched(sink: Any) -> None:
    moderation = [line for line in LINES if " CLEARCHAT " in line or " CLEARMSG " in line]

    async def burst(session: Session) -> None:
        await session.send(*[CHAT[0].replace(";id=b34ccfc7", f";id={n:08d}") for n in range(10)], *moderation)
        await session.ws.wait_closed()

    async with FakeTwitch(burst) as url:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_twitch("ninjabear", sink, url=url, stop=stop, batch_size=4, linger=0.05)
        )
        events = await sink.wait_for(10)
        stop.set()
        stats = await asyncio.wait_for(task, 10)
    assert ids(events) == [f"{n:08d}" for n in range(10)]
    assert all(len(batch) <= 4 for batch in sink.batches)
    assert len(sink.batches) < 10
    assert stats.moderation == 4


async def test_queued_events_are_flushed_on_stop(sink: Any) -> None:
    async def burst(session: Session) -> None:
        await session.send(*CHAT)
        await session.ping()
        await session.ws.wait_closed()

    twitch = FakeTwitch(burst)
    async with twitch as url:
        stop = asyncio.Event()
        task = asyncio.create_task(run_twitch("ninjabear", sink, url=url, stop=stop, linger=60))
        await asyncio.wait_for(twitch.ponged.wait(), 10)
        stop.set()  # the sender is still lingering over the first batch: stopping cuts that short
        await asyncio.wait_for(task, 10)
    assert len(sink.events) == 4


async def test_bad_channel_and_bad_url_fail_fast(sink: Any) -> None:
    with pytest.raises(ValueError, match="not a valid stream id"):
        await run_twitch("no spaces allowed", sink)
    with pytest.raises(InvalidURI):
        await run_twitch("ninjabear", sink, url="not-a-websocket-url")


async def test_sink_failure_stops_the_client(sink: Any) -> None:
    async def chat(session: Session) -> None:
        await session.send(CHAT[0])
        await session.ws.wait_closed()

    sink.fail_with = RuntimeError("broker gone")
    async with FakeTwitch(chat) as url:
        with pytest.raises(RuntimeError, match="broker gone"):
            await asyncio.wait_for(run_twitch("ninjabear", sink, url=url, linger=0), 10)


def test_backoff_is_full_jitter_and_capped() -> None:
    rng = random.Random(3)
    backoff = Backoff(base=1.0, cap=8.0)
    for attempt in range(40):
        ceiling = min(8.0, 2.0**attempt)
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(0.0 <= delay <= ceiling for delay in delays)
        assert max(delays) > ceiling * 0.8
        assert min(delays) < ceiling * 0.2


# -- Helix -------------------------------------------------------------------------------------------------
def live(
    viewers: int, title: str = "Ranked grind", game: str = "VALORANT", broadcast: str = "40000000001"
) -> Any:
    return {
        "data": [
            {
                "id": broadcast,
                "user_id": "71092938",
                "user_login": "ninjabear",
                "user_name": "NinjaBear",
                "game_id": "516575",
                "game_name": game,
                "type": "live",
                "title": title,
                "viewer_count": viewers,
                "started_at": "2025-11-27T15:30:00Z",
                "language": "en",
                "thumbnail_url": "https://static-cdn.jtvnw.net/previews-ttv/live_user_ninjabear-{width}x{height}.jpg",
                "tag_ids": [],
                "tags": ["English"],
                "is_mature": False,
            }
        ],
        "pagination": {},
    }


T_POLL = 1764259200.0
OFFLINE: dict[str, Any] = {"data": [], "pagination": {}}
CREDENTIALS = HelixCredentials(
    client_id="cid",
    client_secret="s3cret",
    poll_interval=0.01,
    api_url="https://api.example.test/helix",
    token_url="https://id.example.test/oauth2/token",
)


class FakeHelix:
    """Issues app tokens and answers ``/helix/streams`` from a script (the last answer repeats)."""

    def __init__(self, *answers: tuple[int, Any]):
        self.answers = list(answers)
        self.tokens = 0
        self.authorizations: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            assert request.method == "POST"
            form = parse_qs(request.content.decode())
            assert form == {
                "client_id": ["cid"],
                "client_secret": ["s3cret"],
                "grant_type": ["client_credentials"],
            }
            self.tokens += 1
            return httpx.Response(
                200, json={"access_token": f"t{self.tokens}", "expires_in": 5_000_000, "token_type": "bearer"}
            )
        assert request.url.path == "/helix/streams"
        assert request.url.params["user_login"] == "ninjabear"
        assert request.headers["Client-Id"] == "cid"
        self.authorizations.append(request.headers["Authorization"])
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return httpx.Response(status, json=body)


async def test_helix_poller_turns_stream_state_into_events() -> None:
    helix = FakeHelix(
        (200, OFFLINE),
        (200, live(100)),
        (200, live(150, title="Road to Radiant")),
        (401, {"error": "Unauthorized", "status": 401, "message": "Invalid OAuth token"}),
        (200, live(160, title="Road to Radiant", game="Just Chatting")),
        (200, OFFLINE),
        (200, OFFLINE),
    )
    clock = iter(1764259200.0 + 30 * n for n in range(100))
    async with httpx.AsyncClient(transport=httpx.MockTransport(helix)) as client:
        poller = HelixPoller("ninjabear", CREDENTIALS, client, clock=lambda: next(clock))
        polls = [await poller.poll() for _ in range(6)]

    summary = [
        [(e["type"], e.get("kind"), e.get("viewers") or e.get("title") or e.get("category")) for e in p]
        for p in polls
    ]
    assert summary == [
        [],
        [("stream_meta", "start", "Ranked grind"), ("viewers", None, 100)],
        [("stream_meta", "title", "Road to Radiant"), ("viewers", None, 150)],
        [("stream_meta", "category", "Just Chatting"), ("viewers", None, 160)],
        [("stream_meta", "end", None)],
        [],
    ]
    start = polls[1][0]
    assert (start["ts"], start["category"], start["event_id"]) == (
        "2025-11-27T15:30:00.000Z",
        "VALORANT",
        "twitch:helix:ninjabear:start:40000000001",
    )
    assert polls[4][0]["event_id"] == "twitch:helix:ninjabear:end:40000000001"
    for event in (event for poll in polls for event in poll):
        validate_event(event)
    assert helix.tokens == 2  # the 401 made the poller fetch a fresh token and retry
    assert helix.authorizations[:4] == ["Bearer t1"] * 4
    assert helix.authorizations[4:] == ["Bearer t2"] * 3


async def test_run_twitch_polls_helix_and_logs_stats(sink: Any, caplog: pytest.LogCaptureFixture) -> None:
    helix = FakeHelix((500, {"error": "Internal Server Error"}), (200, live(4321)))
    caplog.set_level(logging.INFO, logger="telemetra.twitch")
    async with FakeTwitch(until_client_leaves) as url:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_twitch(
                "ninjabear",
                sink,
                url=url,
                helix=CREDENTIALS,
                stop=stop,
                http_transport=httpx.MockTransport(helix),
                log_interval=0.01,
                linger=0,
            )
        )
        events = await sink.wait_for(3)
        stop.set()
        stats = await asyncio.wait_for(task, 10)
    assert [(event["type"], event.get("kind")) for event in events[:3]] == [
        ("stream_meta", "start"),
        ("viewers", None),
        ("viewers", None),
    ]
    assert events[1]["viewers"] == 4321
    assert stats.helix_errors == 1
    assert stats.viewer_polls >= 2
    logged = [record for record in caplog.records if record.getMessage() == "twitch stats"]
    assert logged
    assert logged[-1].__dict__["stream_id"] == "ninjabear"
    assert "s3cret" not in caplog.text
    assert "s3cret" not in repr(CREDENTIALS)


async def test_malformed_helix_answer_changes_nothing() -> None:
    broken = live(10)
    del broken["data"][0]["viewer_count"]
    helix = FakeHelix((200, broken), (200, live(12)))
    async with httpx.AsyncClient(transport=httpx.MockTransport(helix)) as client:
        poller = HelixPoller("ninjabear", CREDENTIALS, client, clock=lambda: T_POLL)
        with pytest.raises(KeyError):
            await poller.poll()
        events = await poller.poll()
    assert [(event["type"], event.get("kind")) for event in events] == [
        ("stream_meta", "start"),
        ("viewers", None),
    ]
