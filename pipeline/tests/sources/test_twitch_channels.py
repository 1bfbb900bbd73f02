"""Many channels over one Twitch connection, against the local replaying chat server
(:mod:`telemetra.dev.twitch_chat`): each channel's events go to its own stream, a channel that cannot be read
fails alone, JOINs are paced, channels come and go, and a RECONNECT loses no line of any channel."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fake_twitch import line_with

from telemetra.contract import validate_event
from telemetra.dev.twitch_chat import ReplayServer
from telemetra.sources.twitch import (
    Backoff,
    ChannelSpec,
    JoinLimit,
    TwitchChat,
    TwitchError,
    channels_file_lines,
    follow_channel,
    parse_channels,
    run_channels,
)
from telemetra.sources.twitch_chat import ChannelUnavailable, JoinLimiter

FAST = Backoff(base=0.01, cap=0.05)
CHAT = line_with(";id=b34ccfc7")  # plain chat: one line, one event


async def until(condition: Callable[[], Any], what: str, seconds: float = 10.0) -> Any:
    """Poll ``condition`` until it is truthy; fail the test after ``seconds`` (a bound, not a timing)."""
    async with asyncio.timeout(seconds):
        while not (value := condition()):  # noqa: ASYNC110 - the server and the sink change on their own
            await asyncio.sleep(0.02)
    assert value, what
    return value


@pytest.fixture
async def server() -> AsyncIterator[ReplayServer]:
    replay = ReplayServer(rate=(50.0, 50.0), templates=[CHAT], suspended=frozenset({"gone"}))
    replay.url = await replay.start()  # type: ignore[attr-defined]
    yield replay
    await replay.close()


def by_stream(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(event["stream_id"] for event in events)


async def test_channels_share_one_connection_and_one_that_fails_fails_alone(server: Any, sink: Any) -> None:
    chat = TwitchChat(url=server.url, backoff=FAST, join_timeout=5)
    specs = parse_channels(["alpha,beta=beta-main", "gone"])
    stop = asyncio.Event()
    followed: list[Any] = []
    task = asyncio.create_task(
        run_channels(specs, sink, chat=chat, stop=stop, linger=0, on_start=followed.extend)
    )
    await until(
        lambda: len(by_stream(sink.events)) == 2 and min(by_stream(sink.events).values()) >= 20, "chat"
    )
    server.playing = False
    await until(lambda: len(sink.events) == sum(server.sent.values()), "every line sent, forwarded")
    stop.set()
    await asyncio.wait_for(task, 10)

    assert server.sessions == 1  # one connection for all of them
    assert set(by_stream(sink.events)) == {"alpha", "beta-main"}
    assert by_stream(sink.events) == {"alpha": server.sent["alpha"], "beta-main": server.sent["beta"]}
    for event in sink.events[:5]:
        validate_event(event)
    states = {one.stream_id: one for one in followed}
    assert isinstance(states["gone"].error, ChannelUnavailable)
    assert "does not exist or has been suspended" in str(states["gone"].error)
    assert states["alpha"].error is None and states["beta-main"].error is None
    alpha = states["alpha"].stats
    assert alpha.event_types == {"chat": server.sent["alpha"]}
    assert alpha.messages == server.sent["alpha"] + 2  # the JOIN echo and the ROOMSTATE are the channel's too
    assert alpha.ignored == {"JOIN": 1, "ROOMSTATE": 1}


async def test_when_every_channel_fails_it_raises(sink: Any) -> None:
    replay = ReplayServer(templates=[CHAT], suspended=frozenset({"gone", "banned"}))
    url = await replay.start()
    try:
        chat = TwitchChat(url=url, backoff=FAST)
        with pytest.raises(TwitchError, match="all 2 channels failed: #gone: This channel does not exist"):
            await asyncio.wait_for(run_channels(parse_channels(["gone,banned"]), sink, chat=chat), 10)
    finally:
        await replay.close()


async def test_joins_wait_for_the_join_limit(server: Any, sink: Any) -> None:
    chat = TwitchChat(url=server.url, backoff=FAST, join_limit=JoinLimit(joins=2, per=3600))
    stop = asyncio.Event()
    followed: list[Any] = []
    specs = parse_channels(["one,two,three"])
    task = asyncio.create_task(
        run_channels(specs, sink, chat=chat, stop=stop, linger=0, on_start=followed.extend)
    )
    await until(lambda: sum(one.ever_joined for one in followed) == 2, "two channels joined")
    await until(lambda: len(by_stream(sink.events)) == 2, "chat of both")
    stop.set()
    await asyncio.wait_for(task, 10)
    assert server.joins == 2  # the third JOIN waits for the hour to pass
    assert [one.ever_joined for one in followed] == [True, True, False]


async def test_join_limiter_is_a_sliding_window() -> None:
    now, slept = [0.0], []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = JoinLimiter(JoinLimit(joins=3, per=10.0), clock=lambda: now[0], sleep=sleep)
    for at in (0.0, 1.0, 2.0):
        now[0] = at
        await limiter.acquire()
    assert slept == []
    await limiter.acquire()  # the 4th waits until the 1st leaves the window
    assert (slept, now[0]) == ([8.0], 10.0)
    now[0] = 11.0
    await limiter.acquire()
    assert slept == [8.0]


def test_join_limit_and_channel_lists_are_checked() -> None:
    assert JoinLimit.parse("20/10") == JoinLimit(20, 10.0)
    assert JoinLimit.parse(" 2000 / 10 ") == JoinLimit(2000, 10.0)
    for bad in ("20", "0/10", "20/0", "a/b"):
        with pytest.raises(ValueError, match="JOIN limit"):
            JoinLimit.parse(bad)
    lines = channels_file_lines("# the league\nShroud, pokimane=poki\n\n  xqc  # live now\n")
    assert parse_channels(["#Clix", *lines]) == [
        ChannelSpec("clix", "clix"),
        ChannelSpec("shroud", "shroud"),
        ChannelSpec("pokimane", "poki"),
        ChannelSpec("xqc", "xqc"),
    ]
    for bad, message in ((["a,a"], "channel 'a' is named twice"), (["a=x,b=x"], "stream id 'x'"),
                         (["no spaces"], "not a valid stream id"), ([" , "], "no channel")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            parse_channels(bad)


async def test_channels_come_and_go_on_a_shared_connection(server: Any, sink: Any) -> None:
    chat = TwitchChat(url=server.url, backoff=FAST)
    stop_chat = asyncio.Event()
    reading = asyncio.create_task(chat.run(stop_chat))
    stops = {name: asyncio.Event() for name in ("alpha", "beta")}
    members = {
        name: asyncio.create_task(
            follow_channel(chat, name, sink, stops[name], stream_id=f"s-{name}", linger=0)
        )
        for name in stops
    }
    await until(lambda: len(by_stream(sink.events)) == 2, "chat of both")
    stops["alpha"].set()
    alpha = await asyncio.wait_for(members["alpha"], 10)
    await until(lambda: server.joined() == {"beta": 1}, "alpha parted, beta still joined")
    before = by_stream(sink.events)["s-beta"]
    await until(lambda: by_stream(sink.events)["s-beta"] > before, "beta goes on")
    assert by_stream(sink.events)["s-alpha"] == alpha.events
    gone = asyncio.Event()
    with pytest.raises(ChannelUnavailable):  # a member whose channel cannot be read fails alone
        await asyncio.wait_for(follow_channel(chat, "gone", sink, gone), 10)
    assert not members["beta"].done()
    stops["beta"].set()
    await asyncio.wait_for(members["beta"], 10)
    stop_chat.set()
    await asyncio.wait_for(reading, 10)
    assert server.sessions == 1


async def test_a_reconnect_moves_every_channel_and_loses_no_line(server: Any, sink: Any) -> None:
    chat = TwitchChat(url=server.url, backoff=FAST)
    stop = asyncio.Event()
    followed: list[Any] = []
    specs = parse_channels([",".join(f"c{n}" for n in range(10))])
    task = asyncio.create_task(
        run_channels(specs, sink, chat=chat, stop=stop, linger=0, on_start=followed.extend)
    )
    await until(lambda: len(server.sent) == 10, "chat in every channel")
    await server.reconnect_all()
    await until(lambda: server.sessions == 2 and len(server.joined()) == 10 and max(server.joined().values()) == 1,
                "every channel joined on the new connection only")  # fmt: skip
    moved = sum(server.sent.values())
    await until(lambda: sum(server.sent.values()) > moved + 100, "chat on the new connection")
    server.playing = False
    await until(lambda: len(sink.events) == sum(server.sent.values()), "every line sent, forwarded")
    stop.set()
    await asyncio.wait_for(task, 10)
    assert chat.stats.reconnects == 1
    assert server.overlapped == set(server.sent)  # each joined anew while the old connection still read it
    assert all(one.stats.reconnects == 1 for one in followed)
    assert by_stream(sink.events) == server.sent
    assert len({event["event_id"] for event in sink.events}) == len(sink.events)
