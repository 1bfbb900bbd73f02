"""Twitch source: reads a channel's chat anonymously over IRC-over-WebSocket, optionally polls Helix for
viewer counts, and forwards contract events to a sink in small batches.

Chat needs no account (``justinfan`` login, read-only). Viewer counts need a Twitch application's client id
and secret, exchanged for an app access token (client-credentials grant).

Nothing is lost on the way: when Twitch asks for a RECONNECT, a new connection is opened and joined before the
old one is closed (lines seen on both are forwarded once); a connection that goes silent is probed with a PING
of our own and replaced when the probe goes unanswered, so a dead socket is noticed within ``2 × keepalive``
seconds. A channel that cannot be read (suspended, nonexistent, or the login refused) raises
:class:`TwitchError` rather than waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from telemetra.contract import STREAM_ID_PATTERN, format_ts, parse_ts
from telemetra.sinks.base import EventSink, RawEvent
from telemetra.sources.twitch_irc import Control, IrcParseError, Parsed, TwitchIrcParser

log = logging.getLogger("telemetra.twitch")

DEFAULT_URL = "wss://irc-ws.chat.twitch.tv:443"
DEFAULT_TOKEN_URL = "https://id.twitch.tv/oauth2/token"
DEFAULT_HELIX_URL = "https://api.twitch.tv/helix"
CAPABILITIES = "twitch.tv/tags twitch.tv/commands"
ANONYMOUS_PASS = "SCHMOOPIIE"  # any password works for a justinfan login; this is the customary one
KEEPALIVE = (
    5.0  # seconds of silence before our own PING; as long again for any answer (Twitch PINGs every ~5 min)
)
JOIN_TIMEOUT = 15.0  # seconds for the channel's ROOMSTATE to arrive after the JOIN
KEEPALIVE_TOKEN = "telemetra"
OVERLAP_GRACE = (
    10.0  # seconds after a RECONNECT's old connection closed during which repeats are still dropped
)

Emit = Callable[[RawEvent], Awaitable[None]]


@dataclass
class TwitchStats:
    """Live counters of one ``run_twitch``; read them while it runs, or from its return value."""

    messages: int = 0  # IRC lines received
    events: int = 0  # contract events forwarded to the sink
    moderation: int = 0  # bans, timeouts, clears and deleted messages
    reconnects: int = 0
    parse_errors: int = 0
    pings: int = 0
    keepalive_pings: int = 0  # PINGs of our own, sent after a silence
    duplicates: int = 0  # events seen on both connections around a RECONNECT, forwarded once
    viewer_polls: int = 0  # successful Helix polls
    helix_errors: int = 0
    ignored: dict[str, int] = field(default_factory=dict)  # why lines produced nothing → count
    anomalies: dict[str, int] = field(default_factory=dict)  # used, but something was off → count

    def ignore(self, reason: str) -> None:
        self.ignored[reason] = self.ignored.get(reason, 0) + 1

    def anomaly(self, reason: str) -> None:
        self.anomalies[reason] = self.anomalies.get(reason, 0) + 1


class TwitchError(Exception):
    """The channel cannot be read, and retrying will not change that; the message says why, in one line."""


class ChannelUnavailable(TwitchError):
    """The channel does not exist or is suspended (a NOTICE says so, or no ROOMSTATE came)."""


class LoginRefused(TwitchError):
    """Twitch refused the login."""


class Unreachable(TwitchError):
    """No connection could be made before the first join (``connect_attempts`` failed in a row)."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt ``n`` waits a uniform ``[0, min(cap, base·2ⁿ)]``."""

    base: float = 1.0
    cap: float = 60.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.cap, self.base * 2.0 ** min(attempt, 32)))


@dataclass(frozen=True, slots=True)
class HelixCredentials:
    """A Twitch application's credentials, and where and how often to poll Helix with them."""

    client_id: str
    client_secret: str = field(repr=False)
    poll_interval: float = 30.0
    api_url: str = DEFAULT_HELIX_URL
    token_url: str = DEFAULT_TOKEN_URL


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


async def run_twitch(
    channel: str,
    sink: EventSink,
    *,
    url: str = DEFAULT_URL,
    helix: HelixCredentials | None = None,
    stop: asyncio.Event | None = None,
    backoff: Backoff | None = None,
    batch_size: int = 100,
    linger: float = 0.05,
    keepalive: float = KEEPALIVE,
    join_timeout: float = JOIN_TIMEOUT,
    connect_attempts: int | None = None,
    log_interval: float = 60.0,
    stats: TwitchStats | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
    rng: random.Random | None = None,
) -> TwitchStats:
    """Forward ``channel``'s chat (and with ``helix``, its viewer counts) to ``sink`` until ``stop`` is set.

    The caller owns the sink: start it before and close it after. Reconnects on its own, forever once the
    channel was joined (before that, ``connect_attempts`` failed connections in a row raise
    :class:`Unreachable`; ``None`` retries forever). Raises :class:`TwitchError` when the channel cannot be
    read. Events still queued when it returns or raises are flushed first. After ``keepalive`` seconds of
    silence a PING of our own is sent, and the connection replaced if nothing answers in as long again.
    """
    stream_id = channel_stream_id(channel)
    check_chat_url(url)
    stop = asyncio.Event() if stop is None else stop
    stats = TwitchStats() if stats is None else stats
    forwarder = _Forwarder(sink, batch_size, linger)

    async def emit(event: RawEvent) -> None:
        await forwarder.put(event)
        stats.events += 1

    settings = _ChatSettings(url, backoff or Backoff(), keepalive, join_timeout, connect_attempts)
    chat = _ChatClient(stream_id, settings, emit, stats, stop, rng or random.Random())
    try:
        async with asyncio.TaskGroup() as group:
            sender = group.create_task(forwarder.run())
            logger = group.create_task(_log_periodically(stream_id, stats, stop, log_interval))
            polling = None
            if helix is not None:
                polling = group.create_task(_poll_helix(stream_id, helix, emit, stats, stop, http_transport))
            cancelled = False
            try:
                await chat.run()
                if polling is not None:
                    await polling
            except asyncio.CancelledError:
                cancelled = True  # no waiting on the sink: whoever cancels wants out now
                raise
            finally:  # also when the chat failed: what was read is still delivered
                for task in (polling, logger):
                    if task is not None:
                        task.cancel()
                if not (cancelled or sender.done()):
                    await forwarder.close()
                    await sender
    except BaseExceptionGroup as errors:
        if len(errors.exceptions) == 1:
            raise errors.exceptions[0] from None
        raise
    log.info("twitch stopped", extra={"stream_id": stream_id, **asdict(stats)})
    return stats


# -- chat --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _ChatSettings:
    url: str
    backoff: Backoff
    keepalive: float
    join_timeout: float
    connect_attempts: int | None


class _LinkEnded(Exception):
    """A connection ended before it was joined."""


class _Link:
    """One connection to Twitch chat: its socket, the task reading it, and how far it got."""

    def __init__(self, ws: ClientConnection, nick: str):
        self.ws, self.nick = ws, nick
        self.welcomed = asyncio.Event()  # 001: the login was accepted
        self.joined = asyncio.Event()  # the channel's ROOMSTATE, or its chat
        self.reconnect = asyncio.Event()  # the server asked us to move to a new connection
        self.reader: asyncio.Task[None] | None = None

    @staticmethod
    def observe(reader: asyncio.Task[None]) -> None:
        """Mark how a reader ended as seen: a connection that ends is routine, read through ``failure``."""
        if not reader.cancelled():
            reader.exception()

    def failure(self) -> BaseException | None:
        """Why the reader ended (``None`` while it runs, or if it ended cleanly)."""
        if self.reader is None or not self.reader.done() or self.reader.cancelled():
            return None
        return self.reader.exception()


class _ChatClient:
    """An anonymous chat reader: one connection at a time, two while a RECONNECT hands over, until ``stop``."""

    def __init__(
        self,
        stream_id: str,
        settings: _ChatSettings,
        emit: Emit,
        stats: TwitchStats,
        stop: asyncio.Event,
        rng: random.Random,
    ):
        self._stream_id, self._settings, self._emit = stream_id, settings, emit
        self._stats, self._stop = stats, stop
        self._rng = rng
        self._parser = TwitchIrcParser(stream_id)
        self._ever_joined = False
        self._attempts = 0  # connections opened, to count reconnects
        # Event ids forwarded since a RECONNECT began, to drop the repeats the two connections both deliver.
        self._overlap: set[str] | None = None
        self._overlap_ends: float | None = None

    async def run(self) -> None:
        """Keep one joined connection until ``stop``; raise :class:`TwitchError` if the channel is unreadable."""
        link: _Link | None = None
        try:
            while not self._stop.is_set():
                if link is None:
                    link = await self._open(first_delay=self._attempts > 0)
                else:
                    link = await self._hand_over(link)
                if link is not None and not await self._until_replaced(link):
                    await self._retire(link)
                    link = None
        finally:
            if link is not None:
                await self._retire(link)

    async def _hand_over(self, old: _Link) -> _Link | None:
        """Make before break: join on a new connection while ``old`` keeps reading, then close ``old``. Lines
        both deliver meanwhile (and for ``OVERLAP_GRACE`` s after, as one may lag) are forwarded once."""
        self._overlap, self._overlap_ends = set(), None
        try:
            new = await self._open(first_delay=False)
        finally:
            await self._retire(old)
        self._overlap_ends = asyncio.get_running_loop().time() + OVERLAP_GRACE
        return new

    async def _until_replaced(self, link: _Link) -> bool:
        """Wait until the server asks for a RECONNECT (true), or the connection ends or ``stop`` is set."""
        assert link.reader is not None
        waiters = [asyncio.ensure_future(link.reconnect.wait()), asyncio.ensure_future(self._stop.wait())]
        try:
            await asyncio.wait([*waiters, link.reader], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if isinstance(error := link.failure(), TwitchError):
            raise error
        if self._stop.is_set():
            return False
        if link.reconnect.is_set():
            log.info(
                "twitch reconnect requested: joining anew before leaving",
                extra={"stream_id": self._stream_id},
            )
            return True
        self._warn_reconnecting(link.failure() or _LinkEnded("connection closed"))
        return False

    # -- opening a connection ----------------------------------------------------------------------------
    async def _open(self, *, first_delay: bool) -> _Link | None:
        """A new joined connection, retrying with backoff; ``None`` if ``stop`` was set meanwhile."""
        failures = 0
        while not self._stop.is_set():
            delay = self._settings.backoff.delay(failures, self._rng) if failures or first_delay else 0.0
            if delay and await _wait(self._stop, delay):
                return None
            link: _Link | None = None
            try:
                link = await self._connect()
                if await self._joined(link):
                    self._ever_joined = True
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
                self._give_up_if_never_joined(failures, error)
                self._warn_reconnecting(error)
        return None

    async def _connect(self) -> _Link:
        if self._attempts:
            self._stats.reconnects += 1
        self._attempts += 1
        ws = await connect(self._settings.url, open_timeout=15, close_timeout=2)
        link = _Link(ws, f"justinfan{self._rng.randrange(10_000, 100_000_000)}")
        try:
            for line in (f"CAP REQ :{CAPABILITIES}", f"PASS {ANONYMOUS_PASS}", f"NICK {link.nick}",
                         f"JOIN #{self._stream_id}"):  # fmt: skip
                await ws.send(line)
        except BaseException:
            await ws.close()
            raise
        link.reader = asyncio.create_task(self._read(link), name=f"twitch-reader:{self._stream_id}")
        link.reader.add_done_callback(_Link.observe)
        return link

    async def _joined(self, link: _Link) -> bool:
        """Wait for the channel to be joined on ``link`` (true) or ``stop`` (false); raise if neither comes."""
        assert link.reader is not None
        waiters = [asyncio.ensure_future(link.joined.wait()), asyncio.ensure_future(self._stop.wait())]
        try:
            await asyncio.wait(
                [*waiters, link.reader],
                timeout=self._settings.join_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
        if link.joined.is_set():
            return True
        if self._stop.is_set():
            return False
        if link.reader.done():
            raise link.failure() or _LinkEnded("connection closed before the channel was joined")
        if not link.welcomed.is_set():
            raise TimeoutError(f"no welcome (001) within {self._settings.join_timeout:g} s of the login")
        if self._ever_joined:  # it worked before: Twitch is slow, not the channel gone
            raise TimeoutError(f"no ROOMSTATE within {self._settings.join_timeout:g} s of the JOIN")
        raise ChannelUnavailable(
            f"#{self._stream_id}: no answer to the JOIN within {self._settings.join_timeout:g} s "
            "(no such channel, or it is suspended; check the spelling)"
        )

    def _give_up_if_never_joined(self, failures: int, error: BaseException) -> None:
        attempts = self._settings.connect_attempts
        if not self._ever_joined and attempts is not None and failures >= attempts:
            raise Unreachable(
                f"{self._settings.url}: {failures} connection attempts failed, the last: {_reason(error)}"
            )

    def _warn_reconnecting(self, error: BaseException) -> None:
        log.warning("twitch reconnecting", extra={"stream_id": self._stream_id, "reason": _reason(error)})

    async def _retire(self, link: _Link) -> None:
        """Close ``link`` and give its reader a moment to handle what it had received."""
        with contextlib.suppress(OSError, WebSocketException, TimeoutError):
            await link.ws.close()
        if link.reader is not None and not link.reader.done():
            await asyncio.wait([link.reader], timeout=5)
            link.reader.cancel()  # a no-op once it finished

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
                self._stats.keepalive_pings += 1
                probing = True
                continue
            probing = False
            text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
            # A frame may carry several CRLF-terminated lines; tags escape CR/LF, so splitting is safe.
            for line in text.split("\n"):
                if line := line.rstrip("\r"):
                    await self._handle(link, line)

    async def _handle(self, link: _Link, line: str) -> None:
        self._stats.messages += 1
        try:
            parsed = self._parser.parse(line)
        except IrcParseError as error:
            self._stats.parse_errors += 1
            log.warning("twitch unparseable line", extra={"error": str(error), "line": line[:300]})
            return
        if parsed.reply is not None:
            await link.ws.send(parsed.reply)
            self._stats.pings += 1
        for event in parsed.events:
            if self._first_time(event["event_id"]):
                await self._emit(event)
        self._count(parsed)
        self._act(link, parsed)

    def _first_time(self, event_id: str) -> bool:
        """False for an event already forwarded from the other connection of a RECONNECT hand-over."""
        if self._overlap is None:
            return True
        if self._overlap_ends is not None and asyncio.get_running_loop().time() > self._overlap_ends:
            self._overlap = self._overlap_ends = None
            return True
        if event_id in self._overlap:
            self._stats.duplicates += 1
            return False
        self._overlap.add(event_id)
        return True

    def _count(self, parsed: Parsed) -> None:
        if parsed.moderation is not None:
            self._stats.moderation += 1
        if parsed.ignored is not None:
            self._stats.ignore(parsed.ignored)
        if parsed.anomaly is not None:
            self._stats.anomaly(parsed.anomaly)

    def _act(self, link: _Link, parsed: Parsed) -> None:
        """What the line means for the connection: welcome, joined, move, or give up."""
        extra = {"stream_id": self._stream_id, "nick": link.nick}
        if parsed.control is Control.WELCOME and not link.welcomed.is_set():
            link.welcomed.set()
            log.info("twitch connected", extra={**extra, "url": self._settings.url})
        elif parsed.control is Control.RECONNECT:
            link.reconnect.set()
        elif parsed.control is Control.CHANNEL_UNAVAILABLE:
            raise ChannelUnavailable(f"#{self._stream_id}: {parsed.notice}")
        elif parsed.control is Control.LOGIN_FAILED:
            raise LoginRefused(f"{self._settings.url}: {parsed.notice}")
        elif parsed.notice:
            log.info("twitch notice", extra={**extra, "notice": parsed.notice})
        if parsed.confirms_join and not link.joined.is_set():
            link.joined.set()
            log.info("twitch joined", extra=extra)


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


# -- batching ----------------------------------------------------------------------------------------------
class _Forwarder:
    """Sends events to the sink in order, in batches, from its own task: a brief sink stall does not stop
    the reader (which must keep answering PINGs); a long one does, through the bounded queue."""

    def __init__(self, sink: EventSink, batch_size: int, linger: float, max_pending: int = 10_000):
        self._sink, self._batch_size, self._linger = sink, max(1, batch_size), linger
        self._queue: asyncio.Queue[RawEvent | None] = asyncio.Queue(max_pending)
        self._closing = asyncio.Event()

    async def put(self, event: RawEvent) -> None:
        await self._queue.put(event)

    async def close(self) -> None:
        """Let the sender flush what is queued, without lingering, then finish."""
        self._closing.set()
        await self._queue.put(None)

    async def run(self) -> None:
        finished = False
        while not finished:
            first = await self._queue.get()
            if first is None:
                return
            if self._linger > 0 and self._queue.qsize() < self._batch_size:
                await _wait(self._closing, self._linger)
            batch = [first]
            finished = self._take(batch)
            await self._sink.send(batch)

    def _take(self, batch: list[RawEvent]) -> bool:
        """Move queued events into ``batch`` up to the batch size; true if the end marker was reached."""
        while len(batch) < self._batch_size and not self._queue.empty():
            event = self._queue.get_nowait()
            if event is None:
                return True
            batch.append(event)
        return False


# -- Helix -------------------------------------------------------------------------------------------------
class HelixPoller:
    """Polls ``GET /helix/streams`` and turns what it sees into events: a ``viewers`` sample per poll while
    live, ``stream_meta`` start/end on live/offline transitions, and title/category changes."""

    def __init__(
        self,
        stream_id: str,
        credentials: HelixCredentials,
        client: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
    ):
        self._stream_id, self._credentials, self._client, self._clock = stream_id, credentials, client, clock
        self._token: str | None = None
        self._token_expires = 0.0
        self._broadcast: str | None = None  # Helix id of the broadcast while live
        self._title = ""
        self._category = ""

    async def poll(self) -> list[RawEvent]:
        """One poll; raises ``httpx.HTTPError``, or ``LookupError``/``ValueError``/``TypeError`` on a
        malformed answer (leaving the poller's state as it was)."""
        stream = await self._fetch_stream()
        now = self._clock()
        if stream is None or stream.get("type") != "live":
            return self._went_offline(now)
        viewers = int(stream["viewer_count"])  # read before any state changes, so a bad answer changes none
        events = (
            self._changes(stream, now)
            if str(stream["id"]) == self._broadcast
            else self._went_live(stream, now)
        )
        key = f"viewers:{self._broadcast}:{round(now * 1000)}"
        events.append(self._event("viewers", now, key, viewers=viewers))
        return events

    async def _fetch_stream(self) -> dict[str, Any] | None:
        response = await self._get_streams(await self._access_token())
        if response.status_code == httpx.codes.UNAUTHORIZED:  # token revoked or expired early: get a new one
            self._token = None
            response = await self._get_streams(await self._access_token())
        response.raise_for_status()
        data = response.json()["data"]
        return data[0] if data else None

    async def _get_streams(self, token: str) -> httpx.Response:
        return await self._client.get(
            f"{self._credentials.api_url.rstrip('/')}/streams",
            params={"user_login": self._stream_id},
            headers={"Client-Id": self._credentials.client_id, "Authorization": f"Bearer {token}"},
        )

    async def _access_token(self) -> str:
        if self._token is not None and self._clock() < self._token_expires:
            return self._token
        response = await self._client.post(
            self._credentials.token_url,
            data={
                "client_id": self._credentials.client_id,
                "client_secret": self._credentials.client_secret,
                "grant_type": "client_credentials",
            },
        )
        response.raise_for_status()
        body = response.json()
        self._token = str(body["access_token"])
        # Renew a minute early so a poll never races the expiry.
        self._token_expires = self._clock() + float(body.get("expires_in", 3600)) - 60
        return self._token

    def _went_live(self, stream: dict[str, Any], now: float) -> list[RawEvent]:
        started = parse_ts(stream["started_at"]) if stream.get("started_at") else now
        events = self._went_offline(now)  # a new broadcast id without an offline poll in between
        self._broadcast = str(stream["id"])
        self._title, self._category = str(stream.get("title") or ""), str(stream.get("game_name") or "")
        start = self._event("stream_meta", started, f"start:{self._broadcast}", kind="start")
        if self._title:
            start["title"] = self._title[:140]
        if self._category:
            start["category"] = self._category[:100]
        events.append(start)
        return events

    def _went_offline(self, now: float) -> list[RawEvent]:
        if self._broadcast is None:
            return []
        end = self._event("stream_meta", now, f"end:{self._broadcast}", kind="end")
        self._broadcast = None
        return [end]

    def _changes(self, stream: dict[str, Any], now: float) -> list[RawEvent]:
        events: list[RawEvent] = []
        title, category = str(stream.get("title") or ""), str(stream.get("game_name") or "")
        stamp = f"{self._broadcast}:{round(now * 1000)}"
        if title and title != self._title:
            events.append(self._event("stream_meta", now, f"title:{stamp}", kind="title", title=title[:140]))
        if category and category != self._category:
            events.append(
                self._event("stream_meta", now, f"category:{stamp}", kind="category", category=category[:100])
            )
        self._title, self._category = title or self._title, category or self._category
        return events

    def _event(self, event_type: str, ts: float, key: str, **fields: Any) -> RawEvent:
        return {
            "event_id": f"twitch:helix:{self._stream_id}:{key}",
            "stream_id": self._stream_id,
            "type": event_type,
            "ts": format_ts(ts),
            **fields,
        }


async def _poll_helix(
    stream_id: str,
    credentials: HelixCredentials,
    emit: Emit,
    stats: TwitchStats,
    stop: asyncio.Event,
    transport: httpx.AsyncBaseTransport | None,
) -> None:
    async with httpx.AsyncClient(transport=transport, timeout=10.0) as client:
        poller = HelixPoller(stream_id, credentials, client)
        while not stop.is_set():
            try:
                events = await poller.poll()
            except (httpx.HTTPError, LookupError, ValueError, TypeError, AttributeError) as error:
                # A failed or malformed answer costs one sample, never the chat reader.
                stats.helix_errors += 1
                log.warning("twitch helix poll failed", extra={"stream_id": stream_id, "error": repr(error)})
            else:
                stats.viewer_polls += 1
                for event in events:
                    await emit(event)
            await _wait(stop, credentials.poll_interval)


# -- helpers -----------------------------------------------------------------------------------------------
async def _log_periodically(stream_id: str, stats: TwitchStats, stop: asyncio.Event, interval: float) -> None:
    while not await _wait(stop, interval):
        log.info("twitch stats", extra={"stream_id": stream_id, **asdict(stats)})


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; true (early) if ``stop`` was set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
    except TimeoutError:
        return False
    return True
