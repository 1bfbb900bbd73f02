"""The Twitch client against a local IRC-over-WebSocket server that speaks Twitch's protocol, and Helix
polling against an in-process fake (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from fake_twitch import (
    LINES,
    LOGIN,
    FakeTwitch,
    Script,
    Session,
    join_normally,
    line_with,
    until_client_leaves,
)
from websockets.protocol import State

from telemetra.contract import validate_event
from telemetra.sources.twitch import (
    KEEPALIVE,
    Backoff,
    ChannelUnavailable,
    HelixCredentials,
    HelixPoller,
    LoginRefused,
    Unreachable,
    run_twitch,
)

FAST = Backoff(base=0.01, cap=0.05)


CHAT = [line_with(f";id={twitch_id}") for twitch_id in ("b34ccfc7", "5f0e7a9c", "c8e2a4f6", "e0f1a2b3")]
SUB = line_with("display-name=NewSubber")
RAID = line_with("msg-id=raid")


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
            run_twitch("ninjabear", sink, url=url, stop=stop, backoff=FAST, keepalive=0.1, linger=0)
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
    for url in ("not-a-websocket-url", "https://irc-ws.chat.twitch.tv", "wss://", "wss://host:99999"):
        with pytest.raises(ValueError, match="chat URL"):
            await run_twitch("ninjabear", sink, url=url)


async def test_sink_failure_stops_the_client(sink: Any) -> None:
    async def chat(session: Session) -> None:
        await session.send(CHAT[0])
        await session.ws.wait_closed()

    sink.fail_with = RuntimeError("broker gone")
    async with FakeTwitch(chat) as url:
        with pytest.raises(RuntimeError, match="broker gone"):
            await asyncio.wait_for(run_twitch("ninjabear", sink, url=url, linger=0), 10)


def numbered(n: int) -> str:
    """Chat line number ``n`` (its Twitch id is ``n`` in 8 digits)."""
    return CHAT[0].replace(";id=b34ccfc7", f";id={n:08d}")


async def test_reconnect_joins_anew_before_leaving_and_loses_no_line(sink: Any) -> None:
    """Twitch keeps the old connection talking for a while after RECONNECT; lines sent then, and lines sent on
    both connections while they overlap, all arrive, each once."""
    old_open_when_new_logged_in: list[bool] = []

    async def old_connection(session: Session) -> None:
        await session.send(*map(numbered, range(5)))
        await session.send(":tmi.twitch.tv RECONNECT", *map(numbered, range(5, 10)))
        await session.ws.wait_closed()

    async def overlap_then_join(session: Session) -> None:
        old = session.server.sessions[0]
        old_open_when_new_logged_in.append(old.ws.state is State.OPEN)
        await old.send(*map(numbered, range(10, 15)))  # sent to both while both are in the channel
        await session.send(*map(numbered, range(10, 15)))
        await join_normally(session)

    async def new_connection(session: Session) -> None:
        await session.server.sessions[0].ws.wait_closed()  # the client left the old one once joined here
        await session.send(*map(numbered, range(15, 20)))
        await session.ws.wait_closed()

    twitch = FakeTwitch(old_connection, new_connection, join=[join_normally, overlap_then_join])
    async with twitch as url:
        stop = asyncio.Event()
        task = asyncio.create_task(run_twitch("ninjabear", sink, url=url, stop=stop, backoff=FAST, linger=0))
        events = await sink.wait_for(20)
        stop.set()
        stats = await asyncio.wait_for(task, 10)

    assert old_open_when_new_logged_in == [True]  # make-before-break
    assert ids(events) == [f"{n:08d}" for n in range(20)]
    assert (stats.events, stats.duplicates, stats.reconnects) == (20, 5, 1)
    assert len(twitch.logins) == 2


async def test_our_own_ping_keeps_a_quiet_connection_and_replaces_a_dead_one(sink: Any) -> None:
    server_saw: list[str] = []

    async def answer_one_ping_then_play_dead(session: Session) -> None:
        await session.send(CHAT[0])
        server_saw.append(await session.read_line())
        await session.send(":tmi.twitch.tv PONG tmi.twitch.tv :telemetra")  # alive: the client stays
        server_saw.append(await session.read_line())  # the next probe goes unanswered, as on a dead socket
        await session.ws.wait_closed()

    async def fresh(session: Session) -> None:
        await session.send(CHAT[1])
        await session.ws.wait_closed()

    async with FakeTwitch(answer_one_ping_then_play_dead, fresh) as url:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_twitch("ninjabear", sink, url=url, stop=stop, backoff=FAST, keepalive=0.1, linger=0)
        )
        events = await sink.wait_for(2)
        stop.set()
        stats = await asyncio.wait_for(task, 10)
    assert server_saw == ["PING :telemetra", "PING :telemetra"]
    assert ids(events) == ["b34ccfc7", "5f0e7a9c"]
    assert stats.reconnects == 1
    assert stats.keepalive_pings >= 2
    assert 2 * KEEPALIVE <= 10  # by default a dead socket is noticed within 10 s


async def suspended(session: Session) -> None:
    nick = session.nick
    await session.send(
        f":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #ninjabear",
        "@msg-id=msg_channel_suspended :tmi.twitch.tv NOTICE #ninjabear "
        ":This channel does not exist or has been suspended.",
    )


async def echo_join_only(session: Session) -> None:
    nick = session.nick
    await session.send(f":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #ninjabear")


async def refuse_login(session: Session) -> None:
    await session.send(":tmi.twitch.tv NOTICE * :Login authentication failed")


@pytest.mark.parametrize(
    ("join", "welcome", "error", "message"),
    [
        (suspended, True, ChannelUnavailable, "does not exist or has been suspended"),
        (echo_join_only, True, ChannelUnavailable, "no answer to the JOIN within 0.3 s"),
        (refuse_login, False, LoginRefused, "Login authentication failed"),
        (
            echo_join_only,
            False,
            Unreachable,
            "2 connection attempts failed, the last: TimeoutError: no welcome",
        ),
    ],
)
async def test_a_channel_that_cannot_be_read_is_an_error_not_a_wait(
    sink: Any,
    caplog: pytest.LogCaptureFixture,
    join: Script,
    welcome: bool,
    error: type[Exception],
    message: str,
) -> None:
    caplog.set_level(logging.INFO, logger="telemetra.twitch")
    async with FakeTwitch(until_client_leaves, join=[join], welcome=welcome) as url:
        run = run_twitch("ninjabear", sink, url=url, backoff=FAST, join_timeout=0.3, connect_attempts=2)
        with pytest.raises(error, match=message):
            await asyncio.wait_for(run, 10)
    connected = [record for record in caplog.records if record.getMessage() == "twitch connected"]
    assert len(connected) == (1 if welcome else 0)  # "connected" only once the login was accepted


async def test_an_unreachable_server_is_an_error_before_the_first_join(sink: Any) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, never listening: connections are refused
        run = run_twitch("ninjabear", sink, url=f"ws://127.0.0.1:{port}", backoff=FAST, connect_attempts=3)
        with pytest.raises(Unreachable, match="3 connection attempts failed"):
            await asyncio.wait_for(run, 10)


async def test_a_channel_that_was_joined_is_retried_when_a_join_goes_unanswered(sink: Any) -> None:
    async def hello(session: Session) -> None:
        await session.send(CHAT[0])
        session.ws.transport.abort()  # no close frame: the socket just dies

    async def hello_again(session: Session) -> None:
        await session.send(CHAT[1])
        await session.ws.wait_closed()

    twitch = FakeTwitch(
        hello, until_client_leaves, hello_again, join=[join_normally, echo_join_only, join_normally]
    )
    async with twitch as url:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_twitch("ninjabear", sink, url=url, stop=stop, backoff=FAST, join_timeout=0.3, linger=0)
        )
        events = await sink.wait_for(2)
        stop.set()
        stats = await asyncio.wait_for(task, 10)
    assert ids(events) == ["b34ccfc7", "5f0e7a9c"]
    assert stats.reconnects == 2


async def test_shared_chat_from_another_channel_is_counted_not_forwarded(sink: Any) -> None:
    shared = CHAT[1].replace("room-id=71092938", "source-room-id=12826;room-id=71092938")

    async def session_with_shared_chat(session: Session) -> None:
        await session.send(shared, CHAT[0])
        await session.ws.wait_closed()

    async with FakeTwitch(session_with_shared_chat) as url:
        stop = asyncio.Event()
        task = asyncio.create_task(run_twitch("ninjabear", sink, url=url, stop=stop, linger=0))
        events = await sink.wait_for(1)
        stop.set()
        stats = await asyncio.wait_for(task, 10)
    assert ids(events) == ["b34ccfc7"]
    assert stats.ignored["PRIVMSG:shared-chat"] == 1


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
    """Issues app tokens and answers ``/helix/streams`` from a script (the last answer repeats), and
    ``/helix/videos`` with ``videos`` (no archive by default)."""

    def __init__(self, *answers: tuple[int, Any], videos: tuple[int, Any] = (200, {"data": []})):
        self.answers = list(answers)
        self.videos = videos
        self.video_queries: list[dict[str, str]] = []
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
        if request.url.path == "/helix/videos":
            self.video_queries.append(dict(request.url.params))
            return httpx.Response(self.videos[0], json=self.videos[1])
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


@pytest.mark.parametrize(
    ("videos", "vod_id"),
    [
        (
            (200, {"data": [{"id": "2223334445", "stream_id": "40000000001", "type": "archive"}]}),
            "2223334445",
        ),
        (
            (200, {"data": [{"id": "2223330000", "stream_id": "39999999999", "type": "archive"}]}),
            None,
        ),  # older
        ((500, {"error": "Internal Server Error"}), None),  # the start still goes out, without a VOD
    ],
)
async def test_a_start_carries_the_broadcasts_vod_id_when_twitch_lists_it(
    videos: Any, vod_id: str | None
) -> None:
    helix = FakeHelix((200, live(100)), videos=videos)
    async with httpx.AsyncClient(transport=httpx.MockTransport(helix)) as client:
        poller = HelixPoller("ninjabear", CREDENTIALS, client, clock=lambda: T_POLL)
        start, _viewers = await poller.poll()
    assert start["kind"] == "start" and start.get("vod_id") == vod_id
    assert helix.video_queries == [{"user_id": "71092938", "type": "archive", "first": "1"}]
    validate_event(start)
