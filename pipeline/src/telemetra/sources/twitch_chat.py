"""Twitch chat over one connection for many channels: :class:`TwitchChat` reads any number of channels
anonymously over IRC-over-WebSocket and hands each channel's events to that channel's own callback.

A channel costs a JOIN, not a connection: Twitch lets one connection join many channels, so a process can follow
hundreds. JOINs are paced by a :class:`JoinLimit` (Twitch's documented limit for a normal account is 20 JOIN
attempts per 10 seconds; more, and Twitch silently drops them). Channels can be added and removed while it
runs (JOIN and PART on the live connection).

Nothing is lost on the way: when Twitch asks for a RECONNECT, a new connection is opened and every channel
joined on it before the old one is closed (lines seen on both are forwarded once); a connection that goes silent
is probed with a PING of our own and replaced when the probe goes unanswered, so a dead socket is noticed within
``2 × keepalive`` seconds. A channel that cannot be read (suspended, nonexistent) fails alone: its
:attr:`Channel.ended` future gets a :class:`ChannelUnavailable`, and the others go on. A refused login, or a
server never reached, is the whole client's failure (:meth:`TwitchChat.run` raises).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from telemetra.contract import STREAM_ID_PATTERN
from telemetra.sinks.base import RawEvent
from telemetra.sources.twitch_irc import Control, IrcParseError, Parsed, TwitchIrcParser, parse_line

log = logging.getLogger("telemetra.twitch")

DEFAULT_URL = "wss://irc-ws.chat.twitch.tv:443"
CAPABILITIES = "twitch.tv/tags twitch.tv/commands"
ANONYMOUS_PASS = "SCHMOOPIIE"  # any password works for a justinfan login; this is the customary one
KEEPALIVE = (
    5.0  # seconds of silence before our own PING; as long again for any answer (Twitch PINGs every ~5 min)
)
JOIN_TIMEOUT = 15.0  # seconds for the welcome after the login, and for a channel's ROOMSTATE after its JOIN
KEEPALIVE_TOKEN = "telemetra"
OVERLAP_GRACE = (
    10.0  # seconds after a RECONNECT's old connection closed during which repeats are still dropped
)

Emit = Callable[[RawEvent], Awaitable[None]]


@dataclass
class TwitchStats:
    """Live counters of a channel (or of the connection, for lines about no channel); read them any time."""

    messages: int = 0  # IRC lines received
    events: int = 0  # contract events forwarded
    moderation: int = 0  # bans, timeouts, clears and deleted messages
    reconnects: int = 0  # new connections (the connection's), or re-joins on a new connection (a channel's)
    parse_errors: int = 0
    pings: int = 0
    keepalive_pings: int = 0  # PINGs of our own, sent after a silence
    duplicates: int = 0  # events seen on both connections around a RECONNECT, forwarded once
    viewer_polls: int = 0  # successful Helix polls
    helix_errors: int = 0
    ignored: dict[str, int] = field(default_factory=dict)  # why lines produced nothing → count
    anomalies: dict[str, int] = field(default_factory=dict)  # used, but something was off → count
    event_types: dict[str, int] = field(default_factory=dict)  # forwarded events by type

    def ignore(self, reason: str) -> None:
        self.ignored[reason] = self.ignored.get(reason, 0) + 1

    def anomaly(self, reason: str) -> None:
        self.anomalies[reason] = self.anomalies.get(reason, 0) + 1

    def forwarded(self, event_type: str) -> None:
        self.events += 1
        self.event_types[event_type] = self.event_types.get(event_type, 0) + 1


class TwitchError(Exception):
    """The channel cannot be read, and retrying will not change that; the message says why, in one line."""


class ChannelUnavailable(TwitchError):
    """The channel does not exist or is suspended (a NOTICE says so, or no ROOMSTATE came)."""


class LoginRefused(TwitchError):
    """Twitch refused the login."""


class Unreachable(TwitchError):
    """No connection could be made before the first welcome (``connect_attempts`` failed in a row)."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt ``n`` waits a uniform ``[0, min(cap, base·2ⁿ)]``."""

    base: float = 1.0
    cap: float = 60.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.cap, self.base * 2.0 ** min(attempt, 32)))


@dataclass(frozen=True, slots=True)
class JoinLimit:
    """At most ``joins`` JOIN attempts in any ``per`` seconds. The default is Twitch's documented limit for a
    normal account (20 per 10 s); a verified bot may use ``2000/10``. Twitch drops JOINs over the limit without
    a word, so going faster would only make channels look suspended."""

    joins: int = 20
    per: float = 10.0

    @classmethod
    def parse(cls, text: str) -> JoinLimit:
        """``20/10`` → 20 JOINs per 10 s; ``ValueError`` for anything else."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*", text)
        if match is None or int(match[1]) < 1 or float(match[2]) <= 0:
            raise ValueError(f"JOIN limit {text!r} is not JOINS/SECONDS, e.g. 20/10")
        return cls(int(match[1]), float(match[2]))


class JoinLimiter:
    """A sliding window over the last JOINs: :meth:`acquire` returns when one more fits in the limit."""

    def __init__(
        self,
        limit: JoinLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ):
        self.limit, self._clock, self._sleep = limit, clock, sleep
        self._sent: deque[float] = deque()

    async def acquire(self) -> None:
        while True:
            now = self._clock()
            while self._sent and now - self._sent[0] >= self.limit.per:
                self._sent.popleft()
            if len(self._sent) < self.limit.joins:
                self._sent.append(now)
                return
            await self._sleep(self._sent[0] + self.limit.per - now)


def check_chat_url(url: str) -> str:
    """``url`` if it can be a Twitch chat endpoint (``ws://`` or ``wss://`` with a host), else ``ValueError``."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is not a number in range
    except ValueError as error:
        raise ValueError(f"chat URL {url!r}: {error}") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"chat URL {url!r} is not ws://HOST[:PORT] or wss://HOST[:PORT]")
    del port
    return url


def channel_stream_id(channel: str) -> str:
    """``#Shroud`` → ``shroud``; refuses names that cannot be a stream id."""
    stream_id = channel.strip().lstrip("#").lower()
    if not re.match(STREAM_ID_PATTERN, stream_id):
        raise ValueError(f"channel {channel!r} is not a valid stream id ({STREAM_ID_PATTERN})")
    return stream_id


class Channel:
    """One channel a :class:`TwitchChat` follows: where its events go, its counters, and how it ended.

    ``ended`` completes when the channel is removed (result ``None``) or cannot be read (a
    :class:`TwitchError`); the client itself failing does not complete it (:meth:`TwitchChat.run` raises).
    """

    def __init__(self, login: str, stream_id: str, emit: Emit, stats: TwitchStats):
        self.login, self.stream_id, self.emit, self.stats = login, stream_id, emit, stats
        self.parser = TwitchIrcParser(login)
        self.ever_joined = False
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ended.add_done_callback(_retrieve)  # a failure is read through ``error``, or not at all
        self._overlap: set[str] | None = None  # event ids forwarded since a RECONNECT began
        self._overlap_ends: float | None = None

    @property
    def error(self) -> BaseException | None:
        if not self.ended.done() or self.ended.cancelled():
            return None
        return self.ended.exception()

    def begin_overlap(self) -> None:
        self._overlap, self._overlap_ends = set(), None

    def end_overlap(self, at: float) -> None:
        if self._overlap is not None:
            self._overlap_ends = at

    def first_time(self, event_id: str, now: float) -> bool:
        """False for an event already forwarded from the other connection of a RECONNECT hand-over."""
        if self._overlap is None:
            return True
        if self._overlap_ends is not None and now > self._overlap_ends:
            self._overlap = self._overlap_ends = None
            return True
        if event_id in self._overlap:
            self.stats.duplicates += 1
            return False
        self._overlap.add(event_id)
        return True


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


@dataclass(frozen=True, slots=True)
class _Settings:
    url: str
    backoff: Backoff
    keepalive: float
    join_timeout: float
    connect_attempts: int | None


class _LinkEnded(Exception):
    """A connection ended before its login was accepted."""


class _Link:
    """One connection to Twitch chat: its socket, the tasks reading and writing it, and what it joined."""

    def __init__(self, ws: ClientConnection, nick: str):
        self.ws, self.nick = ws, nick
        self.welcomed = asyncio.Event()  # 001: the login was accepted
        self.reconnect = asyncio.Event()  # the server asked us to move to a new connection
        self.all_joined = asyncio.Event()  # every followed channel is joined here
        self.confirmed: set[str] = set()  # channels whose ROOMSTATE (or chat) came on this connection
        self.unconfirmed: set[str] = set()  # JOIN sent, no answer yet
        self.commands: asyncio.Queue[tuple[str, str]] = asyncio.Queue()  # ("JOIN" | "PART", login)
        self.reader: asyncio.Task[None] | None = None
        self.writer: asyncio.Task[None] | None = None
        self.error: BaseException | None = None  # why we gave up on it, if we did
        self.timers: list[asyncio.TimerHandle] = []

    def failure(self) -> BaseException | None:
        """Why the connection ended (``None`` while it runs, or if it ended cleanly)."""
        if self.error is not None:
            return self.error
        if self.reader is None or not self.reader.done() or self.reader.cancelled():
            return None
        return self.reader.exception()

    def give_up(self, error: BaseException) -> None:
        """End the connection from outside its reader, with ``error`` as the reason."""
        self.error = error
        if self.reader is not None:
            self.reader.cancel()


def _observe(task: asyncio.Task[None]) -> None:
    """Mark how a connection's task ended as seen: a connection that ends is routine, read via ``failure``."""
    if not task.cancelled():
        task.exception()


class TwitchChat:
    """An anonymous chat reader for many channels: one connection at a time, two while a RECONNECT hands over.

    :meth:`add` and :meth:`remove` channels at any time; :meth:`run` keeps the connection until ``stop``. Lines
    about no followed channel are counted in :attr:`stats`, a channel's in its own.
    """

    def __init__(
        self,
        *,
        url: str = DEFAULT_URL,
        backoff: Backoff | None = None,
        keepalive: float = KEEPALIVE,
        join_timeout: float = JOIN_TIMEOUT,
        connect_attempts: int | None = None,
        join_limit: JoinLimit | None = None,
        stats: TwitchStats | None = None,
        rng: random.Random | None = None,
    ):
        self._settings = _Settings(
            check_chat_url(url), backoff or Backoff(), keepalive, join_timeout, connect_attempts
        )
        self.stats = TwitchStats() if stats is None else stats
        self._limiter = JoinLimiter(join_limit or JoinLimit())
        self._rng = rng or random.Random()
        self._parser = TwitchIrcParser("")  # for lines about no followed channel
        self._channels: dict[str, Channel] = {}
        self._links: list[_Link] = []  # open connections, newest last
        self._added = asyncio.Event()
        self._ever_welcomed = False
        self._attempts = 0  # connections opened, to count reconnects

    @property
    def url(self) -> str:
        return self._settings.url

    @property
    def channels(self) -> list[Channel]:
        return list(self._channels.values())

    def add(
        self, channel: str, emit: Emit, *, stream_id: str | None = None, stats: TwitchStats | None = None
    ) -> Channel:
        """Follow ``channel``: its events go to ``emit`` labelled ``stream_id`` (default: the channel login)."""
        login = channel_stream_id(channel)
        if (existing := self._channels.get(login)) is not None:
            raise ValueError(f"#{login} is followed already, for stream {existing.stream_id}")
        followed = Channel(login, stream_id or login, emit, TwitchStats() if stats is None else stats)
        self._channels[login] = followed
        if self._links:
            self._links[-1].all_joined.clear()
            self._links[-1].commands.put_nowait(("JOIN", login))
        self._added.set()
        return followed

    def remove(self, channel: str) -> None:
        """Stop following ``channel`` (PART); its ``ended`` completes. Unknown channels are ignored."""
        followed = self._channels.pop(channel_stream_id(channel), None)
        if followed is None:
            return
        self._leave(followed)
        if not followed.ended.done():
            followed.ended.set_result(None)

    def _fail(self, followed: Channel, error: TwitchError) -> None:
        """``followed`` cannot be read: it ends with ``error`` and the others go on."""
        if self._channels.get(followed.login) is not followed:
            return
        del self._channels[followed.login]
        self._leave(followed)
        log.warning("twitch channel failed", extra={"stream_id": followed.stream_id, "error": str(error)})
        if not followed.ended.done():
            followed.ended.set_exception(error)

    def _leave(self, followed: Channel) -> None:
        for link in self._links:
            if followed.login in link.confirmed or followed.login in link.unconfirmed:
                link.confirmed.discard(followed.login)
                link.unconfirmed.discard(followed.login)
                link.commands.put_nowait(("PART", followed.login))
            self._check_all_joined(link)

    # -- the connection's life ---------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Keep a connection with every channel joined until ``stop``; raise :class:`TwitchError` if the login
        is refused or (before the first welcome) the server cannot be reached (every channel fails with it)."""
        try:
            await self._run(stop)
        except TwitchError as error:  # the client's failure is every channel's
            for followed in list(self._channels.values()):
                self._fail(followed, error)
            raise

    async def _run(self, stop: asyncio.Event) -> None:
        link: _Link | None = None
        try:
            while not stop.is_set():
                if link is None and not self._channels:
                    self._added.clear()  # hold no connection while there is nothing to read
                    await _wait_any(stop, self._added)
                    continue
                if link is None:
                    link = await self._open(stop, first_delay=self._attempts > 0)
                else:
                    link = await self._hand_over(link, stop)
                if link is not None and not await self._until_replaced(link, stop):
                    await self._retire(link)
                    link = None
        finally:
            for open_link in list(self._links):
                await self._retire(open_link)

    async def _hand_over(self, old: _Link, stop: asyncio.Event) -> _Link | None:
        """Make before break: join every channel on a new connection while ``old`` keeps reading, then close
        ``old``. Lines both deliver meanwhile (and for ``OVERLAP_GRACE`` s after, as one may lag) are forwarded
        once."""
        for followed in self._channels.values():
            followed.begin_overlap()
        new: _Link | None = None
        try:
            new = await self._open(stop, first_delay=False)
            if new is not None:
                await _wait_tasks(stop, new.all_joined, tasks=[old.reader, new.reader])
        finally:
            await self._retire(old)
        ends = asyncio.get_running_loop().time() + OVERLAP_GRACE
        for followed in self._channels.values():
            followed.end_overlap(ends)
        return new

    async def _until_replaced(self, link: _Link, stop: asyncio.Event) -> bool:
        """Wait until the server asks for a RECONNECT (true), or the connection ends or ``stop`` is set."""
        await _wait_tasks(stop, link.reconnect, tasks=[link.reader])
        if isinstance(error := link.failure(), TwitchError):
            raise error
        if stop.is_set():
            return False
        if link.reconnect.is_set():
            log.info("twitch reconnect requested: joining anew before leaving", extra=self._context(link))
            return True
        self._warn_reconnecting(link.failure() or _LinkEnded("connection closed"))
        return False

    async def _open(self, stop: asyncio.Event, *, first_delay: bool) -> _Link | None:
        """A new welcomed connection (its JOINs under way), retrying with backoff; ``None`` if stopped."""
        failures = 0
        while not stop.is_set():
            delay = self._settings.backoff.delay(failures, self._rng) if failures or first_delay else 0.0
            if delay and await wait_or_stop(stop, delay):
                return None
            link: _Link | None = None
            try:
                link = await self._connect()
                if await self._welcomed(link, stop):
                    self._ever_welcomed = True
                    self._check_all_joined(link)
                    return link
                await self._retire(link)
                return None  # stopped
            except TwitchError:
                if link is not None:
                    await self._retire(link)
                raise
            except (OSError, TimeoutError, WebSocketException, _LinkEnded) as error:
                if link is not None:
                    await self._retire(link)
                failures += 1
                self._give_up_if_never_welcomed(failures, error)
                self._warn_reconnecting(error)
        return None

    async def _connect(self) -> _Link:
        if self._attempts:
            self.stats.reconnects += 1
        self._attempts += 1
        ws = await connect(self._settings.url, open_timeout=15, close_timeout=2, max_queue=256)
        link = _Link(ws, f"justinfan{self._rng.randrange(10_000, 100_000_000)}")
        try:
            for line in (f"CAP REQ :{CAPABILITIES}", f"PASS {ANONYMOUS_PASS}", f"NICK {link.nick}"):
                await ws.send(line)
        except BaseException:
            await ws.close()
            raise
        self._links.append(link)
        for login in self._channels:
            link.commands.put_nowait(("JOIN", login))
        link.reader = asyncio.create_task(self._read(link), name="twitch-reader")
        link.reader.add_done_callback(_observe)
        link.writer = asyncio.create_task(self._write(link), name="twitch-writer")
        link.writer.add_done_callback(_observe)
        return link

    async def _welcomed(self, link: _Link, stop: asyncio.Event) -> bool:
        """Wait for the login to be accepted (true) or ``stop`` (false); raise if neither comes in time."""
        assert link.reader is not None
        await _wait_tasks(stop, link.welcomed, tasks=[link.reader], within=self._settings.join_timeout)
        if link.welcomed.is_set():
            return True
        if stop.is_set():
            return False
        if link.reader.done():
            raise link.failure() or _LinkEnded("connection closed before the login was accepted")
        raise TimeoutError(f"no welcome (001) within {self._settings.join_timeout:g} s of the login")

    def _give_up_if_never_welcomed(self, failures: int, error: BaseException) -> None:
        attempts = self._settings.connect_attempts
        if not self._ever_welcomed and attempts is not None and failures >= attempts:
            raise Unreachable(
                f"{self._settings.url}: {failures} connection attempts failed, the last: {_reason(error)}"
            )

    def _warn_reconnecting(self, error: BaseException) -> None:
        log.warning("twitch reconnecting", extra={"url": self._settings.url, "reason": _reason(error)})

    async def _retire(self, link: _Link) -> None:
        """Close ``link`` and give its reader a moment to handle what it had received."""
        if link in self._links:
            self._links.remove(link)
        for timer in link.timers:
            timer.cancel()
        if link.writer is not None:
            link.writer.cancel()
        with contextlib.suppress(OSError, WebSocketException, TimeoutError):
            await link.ws.close()
        if link.reader is not None and not link.reader.done():
            await asyncio.wait([link.reader], timeout=5)
            link.reader.cancel()  # a no-op once it finished

    # -- joining -----------------------------------------------------------------------------------------
    async def _write(self, link: _Link) -> None:
        """Send the link's JOINs (paced by the limiter) and PARTs, in order."""
        while True:
            verb, login = await link.commands.get()
            if verb == "PART":
                await link.ws.send(f"PART #{login}")
                continue
            followed = self._channels.get(login)
            if followed is None or login in link.confirmed:
                continue
            await self._limiter.acquire()
            if self._channels.get(login) is not followed or login in link.confirmed:
                continue
            await link.ws.send(f"JOIN #{login}")
            link.unconfirmed.add(login)
            if link.welcomed.is_set():
                self._expect_join(link, login)

    def _expect_join(self, link: _Link, login: str) -> None:
        """Judge the JOIN of ``login`` on ``link`` once ``join_timeout`` passed (counted from the welcome)."""
        loop = asyncio.get_running_loop()
        link.timers = [timer for timer in link.timers if not timer.cancelled()]
        link.timers.append(loop.call_later(self._settings.join_timeout, self._join_expired, link, login))

    def _join_expired(self, link: _Link, login: str) -> None:
        """No answer to a JOIN: a channel never joined is unreadable; one joined before is asked for again,
        unless this connection joined nothing at all, which makes the connection the suspect."""
        followed = self._channels.get(login)
        if followed is None or login in link.confirmed or link not in self._links or link.error is not None:
            return
        timeout = self._settings.join_timeout
        if not followed.ever_joined:
            self._fail(
                followed,
                ChannelUnavailable(
                    f"#{login}: no answer to the JOIN within {timeout:g} s "
                    "(no such channel, or it is suspended; check the spelling)"
                ),
            )
        elif not link.confirmed:
            link.give_up(TimeoutError(f"no ROOMSTATE within {timeout:g} s of the JOIN"))
        else:
            log.warning("twitch join unanswered, asking again", extra=self._context(link, followed))
            link.commands.put_nowait(("JOIN", login))

    def _joined(self, link: _Link, followed: Channel) -> None:
        link.confirmed.add(followed.login)
        link.unconfirmed.discard(followed.login)
        if followed.ever_joined and followed.stats is not self.stats:
            followed.stats.reconnects += 1
        followed.ever_joined = True
        log.info("twitch joined", extra=self._context(link, followed))
        self._check_all_joined(link)

    def _check_all_joined(self, link: _Link) -> None:
        if all(login in link.confirmed for login in self._channels):
            link.all_joined.set()

    # -- reading -----------------------------------------------------------------------------------------
    async def _read(self, link: _Link) -> None:
        """Handle frames until the socket closes or fails; PING the server after ``keepalive`` seconds of
        silence, and give up on the socket if nothing at all arrives in as long again."""
        keepalive, probing = self._settings.keepalive, False
        while True:
            try:
                async with asyncio.timeout(keepalive):
                    frame = await link.ws.recv()
            except TimeoutError:
                if probing:
                    raise TimeoutError(f"no answer to our PING within {keepalive:g} s") from None
                await link.ws.send(f"PING :{KEEPALIVE_TOKEN}")
                self.stats.keepalive_pings += 1
                probing = True
                continue
            probing = False
            text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
            # A frame may carry several CRLF-terminated lines; tags escape CR/LF, so splitting is safe.
            for line in text.split("\n"):
                if line := line.rstrip("\r"):
                    await self._handle(link, line)

    async def _handle(self, link: _Link, line: str) -> None:
        try:
            message = parse_line(line)
        except IrcParseError as error:
            self.stats.messages += 1
            self._unparseable(self.stats, error, line)
            return
        followed = self._channels.get(message.channel) if message.channel else None
        stats = followed.stats if followed is not None else self.stats
        stats.messages += 1
        parser = followed.parser if followed is not None else self._parser
        try:
            parsed = parser.parse_message(message, line)
        except IrcParseError as error:
            self._unparseable(stats, error, line)
            return
        if parsed.reply is not None:
            await link.ws.send(parsed.reply)
            self.stats.pings += 1
        if followed is not None and parsed.events:
            await self._forward(followed, parsed)
        _count(stats, parsed)
        self._act(link, followed, parsed)

    async def _forward(self, followed: Channel, parsed: Parsed) -> None:
        now = asyncio.get_running_loop().time()
        for event in parsed.events:
            if followed.first_time(event["event_id"], now):
                if followed.stream_id != followed.login:
                    event["stream_id"] = followed.stream_id
                await followed.emit(event)
                followed.stats.forwarded(event["type"])

    @staticmethod
    def _unparseable(stats: TwitchStats, error: IrcParseError, line: str) -> None:
        stats.parse_errors += 1
        log.warning("twitch unparseable line", extra={"error": str(error), "line": line[:300]})

    def _act(self, link: _Link, followed: Channel | None, parsed: Parsed) -> None:
        """What the line means for the connection or its channel: welcome, joined, move, or give up."""
        if parsed.control is Control.WELCOME and not link.welcomed.is_set():
            link.welcomed.set()
            log.info("twitch connected", extra={**self._context(link), "url": self._settings.url})
            for login in link.unconfirmed:
                self._expect_join(link, login)
        elif parsed.control is Control.RECONNECT:
            link.reconnect.set()
        elif parsed.control is Control.CHANNEL_UNAVAILABLE and followed is not None:
            self._fail(followed, ChannelUnavailable(f"#{followed.login}: {parsed.notice}"))
            return
        elif parsed.control is Control.LOGIN_FAILED:
            raise LoginRefused(f"{self._settings.url}: {parsed.notice}")
        elif parsed.notice:
            log.info("twitch notice", extra={**self._context(link, followed), "notice": parsed.notice})
        if parsed.confirms_join and followed is not None and followed.login not in link.confirmed:
            self._joined(link, followed)

    def _context(self, link: _Link, followed: Channel | None = None) -> dict[str, Any]:
        extra: dict[str, Any] = {"nick": link.nick}
        if followed is not None:
            extra["stream_id"] = followed.stream_id
        elif len(self._channels) == 1:
            extra["stream_id"] = next(iter(self._channels.values())).stream_id
        else:
            extra["channels"] = len(self._channels)
        return extra


def _count(stats: TwitchStats, parsed: Parsed) -> None:
    if parsed.moderation is not None:
        stats.moderation += 1
    if parsed.ignored is not None:
        stats.ignore(parsed.ignored)
    if parsed.anomaly is not None:
        stats.anomaly(parsed.anomaly)


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; true (early) if ``stop`` was set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
    except TimeoutError:
        return False
    return True


async def _wait_any(*events: asyncio.Event) -> None:
    await _wait_tasks(*events, tasks=[])


async def _wait_tasks(
    *events: asyncio.Event, tasks: list[asyncio.Task[None] | None], within: float | None = None
) -> None:
    """Until one of ``events`` is set or one of ``tasks`` ends (or ``within`` seconds passed)."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(
            [*waiters, *(task for task in tasks if task is not None)],
            timeout=within,
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        for waiter in waiters:
            waiter.cancel()
