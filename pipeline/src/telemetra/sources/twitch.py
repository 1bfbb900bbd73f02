"""Twitch source: reads a channel's chat anonymously over IRC-over-WebSocket, optionally polls Helix for
viewer counts, and forwards contract events to a sink in small batches.

Chat needs no account (``justinfan`` login, read-only). Viewer counts need a Twitch application's client id
and secret, exchanged for an app access token (client-credentials grant).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidURI, WebSocketException

from telemetra.contract import STREAM_ID_PATTERN, format_ts, parse_ts
from telemetra.sinks.base import EventSink, RawEvent
from telemetra.sources.twitch_irc import Control, IrcParseError, Parsed, TwitchIrcParser

log = logging.getLogger("telemetra.twitch")

DEFAULT_URL = "wss://irc-ws.chat.twitch.tv:443"
DEFAULT_TOKEN_URL = "https://id.twitch.tv/oauth2/token"
DEFAULT_HELIX_URL = "https://api.twitch.tv/helix"
CAPABILITIES = "twitch.tv/tags twitch.tv/commands"
ANONYMOUS_PASS = "SCHMOOPIIE"  # any password works for a justinfan login; this is the customary one

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
    viewer_polls: int = 0  # successful Helix polls
    helix_errors: int = 0
    ignored: dict[str, int] = field(default_factory=dict)  # why lines produced nothing → count

    def ignore(self, reason: str) -> None:
        self.ignored[reason] = self.ignored.get(reason, 0) + 1


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
    idle_timeout: float = 360.0,
    log_interval: float = 60.0,
    stats: TwitchStats | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
    rng: random.Random | None = None,
) -> TwitchStats:
    """Forward ``channel``'s chat (and with ``helix``, its viewer counts) to ``sink`` until ``stop`` is set.

    The caller owns the sink: start it before and close it after. Reconnects on its own, forever; events
    still queued when ``stop`` is set are flushed before returning. ``idle_timeout`` is how long a silent
    connection is trusted (Twitch PINGs about every 5 minutes).
    """
    stream_id = channel_stream_id(channel)
    stop = asyncio.Event() if stop is None else stop
    stats = TwitchStats() if stats is None else stats
    forwarder = _Forwarder(sink, batch_size, linger)

    async def emit(event: RawEvent) -> None:
        await forwarder.put(event)
        stats.events += 1

    chat = _ChatClient(
        stream_id, url, emit, stats, stop, backoff or Backoff(), rng or random.Random(), idle_timeout
    )
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(forwarder.run())
            group.create_task(_log_periodically(stream_id, stats, stop, log_interval))
            polling = None
            if helix is not None:
                polling = group.create_task(_poll_helix(stream_id, helix, emit, stats, stop, http_transport))
            await chat.run()
            if polling is not None:
                await polling
            await forwarder.close()
    except BaseExceptionGroup as errors:
        if len(errors.exceptions) == 1:
            raise errors.exceptions[0] from None
        raise
    log.info("twitch stopped", extra={"stream_id": stream_id, **asdict(stats)})
    return stats


# -- chat --------------------------------------------------------------------------------------------------
class _ChatClient:
    """One anonymous chat reader that reconnects with backoff until ``stop`` is set."""

    def __init__(
        self,
        stream_id: str,
        url: str,
        emit: Emit,
        stats: TwitchStats,
        stop: asyncio.Event,
        backoff: Backoff,
        rng: random.Random,
        idle_timeout: float,
    ):
        self._stream_id, self._url, self._emit, self._stats, self._stop = stream_id, url, emit, stats, stop
        self._backoff, self._rng, self._idle_timeout = backoff, rng, idle_timeout
        self._parser = TwitchIrcParser(stream_id)
        self._welcomed = False  # this connection got the 001 welcome: the login worked

    async def run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            reason = "reconnect requested"
            try:
                await self._session()
            except InvalidURI:
                raise
            except (OSError, TimeoutError, WebSocketException) as error:
                reason = f"{type(error).__name__}: {error}"
            if self._stop.is_set():
                return
            failures = 0 if self._welcomed else failures + 1
            delay = self._backoff.delay(failures, self._rng)
            self._stats.reconnects += 1
            log.warning(
                "twitch reconnecting",
                extra={"stream_id": self._stream_id, "reason": reason, "delay_s": round(delay, 3)},
            )
            await _wait(self._stop, delay)

    async def _session(self) -> None:
        self._welcomed = False
        async with connect(self._url, open_timeout=15, close_timeout=2) as ws:
            closer = asyncio.create_task(self._close_when_stopped(ws))
            try:
                await self._login(ws)
                await self._read(ws)
            finally:
                closer.cancel()

    async def _close_when_stopped(self, ws: ClientConnection) -> None:
        await self._stop.wait()
        await ws.close()

    async def _login(self, ws: ClientConnection) -> None:
        nick = f"justinfan{self._rng.randrange(10_000, 100_000_000)}"
        for line in (
            f"CAP REQ :{CAPABILITIES}",
            f"PASS {ANONYMOUS_PASS}",
            f"NICK {nick}",
            f"JOIN #{self._stream_id}",
        ):
            await ws.send(line)
        log.info("twitch connected", extra={"stream_id": self._stream_id, "nick": nick, "url": self._url})

    async def _read(self, ws: ClientConnection) -> None:
        """Handle frames until the server asks us to reconnect (returns) or the socket fails (raises)."""
        while True:
            async with asyncio.timeout(self._idle_timeout):
                frame = await ws.recv()
            text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
            # A frame may carry several CRLF-terminated lines; tags escape CR/LF, so splitting is safe.
            for line in text.split("\n"):
                if (line := line.rstrip("\r")) and await self._handle(ws, line):
                    return

    async def _handle(self, ws: ClientConnection, line: str) -> bool:
        """Act on one line; true when the server asked for a reconnect."""
        self._stats.messages += 1
        try:
            parsed = self._parser.parse(line)
        except IrcParseError as error:
            self._stats.parse_errors += 1
            log.warning("twitch unparseable line", extra={"error": str(error), "line": line[:300]})
            return False
        if parsed.reply is not None:
            await ws.send(parsed.reply)
            self._stats.pings += 1
        for event in parsed.events:
            await self._emit(event)
        self._count(parsed)
        return parsed.control is Control.RECONNECT

    def _count(self, parsed: Parsed) -> None:
        if parsed.command == "001":
            self._welcomed = True
        if parsed.moderation is not None:
            self._stats.moderation += 1
        if parsed.ignored is not None:
            self._stats.ignore(parsed.ignored)
        if parsed.notice:
            log.info("twitch notice", extra={"stream_id": self._stream_id, "notice": parsed.notice})


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
