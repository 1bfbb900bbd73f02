"""Twitch source: reads channels' chat anonymously over IRC-over-WebSocket (:mod:`telemetra.sources.twitch_chat`,
many channels on one connection), optionally polls Helix for viewer counts, and forwards contract events to a
sink in small batches.

Chat needs no account (``justinfan`` login, read-only). Viewer counts need a Twitch application's client id
and secret, exchanged for an app access token (client-credentials grant).

:func:`run_channels` is ``telemetra ingest twitch``: many channels, one connection, one sink (which routes each
event by its stream id, as every sink does), per-channel counters in a periodic log line. A channel that cannot
be read fails alone; only when every channel failed does it raise. :func:`run_twitch` is the same for one
channel. :func:`follow_channel` runs one channel over a :class:`TwitchChat` shared with others (the pool's
producer).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from telemetra.contract import format_ts, parse_ts
from telemetra.contract.models import VOD_ID_PATTERN
from telemetra.sinks.base import EventSink, RawEvent
from telemetra.sources.twitch_chat import (
    DEFAULT_URL,
    JOIN_TIMEOUT,
    KEEPALIVE,
    Backoff,
    Channel,
    ChannelUnavailable,
    Emit,
    JoinLimit,
    LoginRefused,
    TwitchChat,
    TwitchError,
    TwitchStats,
    Unreachable,
    channel_stream_id,
    check_chat_url,
    wait_or_stop,
)

__all__ = [
    "DEFAULT_URL",
    "KEEPALIVE",
    "Backoff",
    "ChannelSpec",
    "ChannelUnavailable",
    "HelixCredentials",
    "HelixPoller",
    "JoinLimit",
    "LoginRefused",
    "TwitchChat",
    "TwitchError",
    "TwitchStats",
    "Unreachable",
    "channel_stream_id",
    "channels_file_lines",
    "check_chat_url",
    "follow_channel",
    "parse_channels",
    "run_channels",
    "run_twitch",
]

log = logging.getLogger("telemetra.twitch")

DEFAULT_TOKEN_URL = "https://id.twitch.tv/oauth2/token"
DEFAULT_HELIX_URL = "https://api.twitch.tv/helix"


@dataclass(frozen=True, slots=True)
class HelixCredentials:
    """A Twitch application's credentials, and where and how often to poll Helix with them."""

    client_id: str
    client_secret: str = field(repr=False)
    poll_interval: float = 30.0
    api_url: str = DEFAULT_HELIX_URL
    token_url: str = DEFAULT_TOKEN_URL


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A channel to read, and the stream its events belong to (by default the channel's login)."""

    channel: str
    stream_id: str

    @classmethod
    def of(cls, text: str) -> ChannelSpec:
        """``shroud`` or ``shroud=shroud-main`` (channel ``=`` stream id); ``ValueError`` if either is bad."""
        channel, _, stream_id = text.partition("=")
        login = channel_stream_id(channel)
        return cls(login, channel_stream_id(stream_id) if stream_id.strip() else login)


def parse_channels(items: Iterable[str]) -> list[ChannelSpec]:
    """Channels from ``--channel a,#b,c=d`` values or :func:`channels_file_lines`: commas separate, blanks are
    skipped. A channel or stream named twice is a mistake, refused with ``ValueError`` like a bad name."""
    specs = [ChannelSpec.of(word) for item in items for word in item.split(",") if word.strip()]
    for attribute in ("channel", "stream_id"):
        seen: set[str] = set()
        for spec in specs:
            value = getattr(spec, attribute)
            if value in seen:
                raise ValueError(f"{attribute.replace('_', ' ')} {value!r} is named twice")
            seen.add(value)
    if not specs:
        raise ValueError("no channel given")
    return specs


def channels_file_lines(text: str) -> list[str]:
    """A channels file's entries: one a line, ``#`` at the start of a line or after a space starts a comment."""
    return [re.sub(r"(^|\s)#.*", "", line).strip() for line in text.splitlines()]


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
    """:func:`run_channels` for one channel; its counters and the connection's are one :class:`TwitchStats`
    (returned), as a connection that carries one channel has nothing to tell apart."""
    spec = ChannelSpec.of(channel)
    stats = TwitchStats() if stats is None else stats
    chat = TwitchChat(
        url=url, backoff=backoff, keepalive=keepalive, join_timeout=join_timeout,
        connect_attempts=connect_attempts, stats=stats, rng=rng,
    )  # fmt: skip
    await run_channels(
        [spec], sink, chat=chat, helix=helix, stop=stop, batch_size=batch_size, linger=linger,
        log_interval=log_interval, channel_stats={spec.channel: stats}, http_transport=http_transport,
    )  # fmt: skip
    return stats


async def run_channels(
    channels: Sequence[ChannelSpec],
    sink: EventSink,
    *,
    chat: TwitchChat,
    helix: HelixCredentials | None = None,
    stop: asyncio.Event | None = None,
    batch_size: int = 100,
    linger: float = 0.05,
    log_interval: float = 60.0,
    channel_stats: dict[str, TwitchStats] | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
    on_start: Callable[[list[Channel]], object] | None = None,
) -> list[Channel]:
    """Forward ``channels``' chat (and with ``helix``, their viewer counts) to ``sink`` until ``stop`` is set,
    all over ``chat``'s one connection; returns the channels (counters, and why any failed).

    The caller owns the sink: start it before and close it after. A channel that cannot be read is logged and
    ends alone; when every channel has, this raises (that channel's :class:`TwitchError` if there was one,
    else one naming them all). The client's own failures (login refused, server unreachable) raise too.
    Events still queued when it returns or raises are flushed first. ``on_start`` is given the channels as
    soon as they are added (to report on them while it runs).
    """
    stop = asyncio.Event() if stop is None else stop
    channel_stats = channel_stats or {}
    forwarder = _Forwarder(sink, batch_size, linger)
    followed = [
        chat.add(spec.channel, forwarder.put, stream_id=spec.stream_id, stats=channel_stats.get(spec.channel))
        for spec in channels
    ]
    if on_start is not None:
        on_start(followed)
    over = asyncio.Event()  # ``stop``, or every channel ended
    try:
        async with asyncio.TaskGroup() as group:
            sender = group.create_task(forwarder.run())
            watcher = group.create_task(_until_all_ended(followed, stop, over))
            logger = group.create_task(_log_periodically(chat, followed, over, log_interval))
            pollers = [
                group.create_task(_poll_helix(one, helix, forwarder.put, over, http_transport))
                for one in followed
                if helix is not None
            ]
            cancelled = False
            try:
                await chat.run(over)
                await asyncio.gather(*pollers)
            except asyncio.CancelledError:
                cancelled = True  # no waiting on the sink: whoever cancels wants out now
                raise
            finally:  # also when the chat failed: what was read is still delivered
                for task in (*pollers, logger, watcher):
                    task.cancel()
                if not (cancelled or sender.done()):
                    await forwarder.close()
                    await sender
    except BaseExceptionGroup as errors:
        if len(errors.exceptions) == 1:
            raise errors.exceptions[0] from None
        raise
    finally:
        for one in followed:
            chat.remove(one.login)
    _raise_if_all_failed(followed, stop)
    log.info("twitch stopped", extra=_summary(chat, followed))
    return followed


async def _until_all_ended(followed: list[Channel], stop: asyncio.Event, over: asyncio.Event) -> None:
    stopping = asyncio.ensure_future(stop.wait())
    try:
        pending: set[asyncio.Future[Any]] = {stopping, *(one.ended for one in followed)}
        while stopping in pending and len(pending) > 1:
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        over.set()


def _raise_if_all_failed(followed: list[Channel], stop: asyncio.Event) -> None:
    errors = [one.error for one in followed]
    if stop.is_set() or not followed or not all(isinstance(error, TwitchError) for error in errors):
        return
    if len(errors) == 1:
        assert errors[0] is not None
        raise errors[0]
    raise TwitchError(f"all {len(errors)} channels failed: " + "; ".join(map(str, errors)))


async def follow_channel(
    chat: TwitchChat,
    channel: str,
    sink: EventSink,
    stop: asyncio.Event,
    *,
    stream_id: str | None = None,
    stats: TwitchStats | None = None,
    batch_size: int = 100,
    linger: float = 0.05,
) -> TwitchStats:
    """Forward one channel's chat to ``sink`` over ``chat`` (shared, run by the caller) until ``stop``; the
    channel is joined now and parted at the end. Raises the channel's :class:`TwitchError` if it cannot be
    read. What was read is flushed to the sink before it returns or raises (unless cancelled)."""
    forwarder = _Forwarder(sink, batch_size, linger)
    followed = chat.add(channel, forwarder.put, stream_id=stream_id, stats=stats)
    sender = asyncio.create_task(forwarder.run(), name=f"twitch-forwarder:{followed.stream_id}")
    stopping = asyncio.ensure_future(stop.wait())
    try:
        waiters: list[asyncio.Future[Any]] = [stopping, followed.ended, sender]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        chat.remove(followed.login)
    if not sender.done():
        await forwarder.close()
    await sender  # raises the sink's failure
    if isinstance(error := followed.error, TwitchError):
        raise error
    return followed.stats


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
                await wait_or_stop(self._closing, self._linger)
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
    live, ``stream_meta`` start/end on live/offline transitions, and title/category changes. A start carries
    the broadcast's VOD id (``vod_id``) when ``GET /helix/videos`` already lists its archive."""

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
        if str(stream["id"]) == self._broadcast:
            events = self._changes(stream, now)
        else:
            events = self._went_live(stream, now, await self._vod_id(stream))
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

    async def _vod_id(self, stream: dict[str, Any]) -> str | None:
        """The id of the broadcast's archive (past broadcast) video, when Twitch lists it already; None
        otherwise, and on any error: the VOD link is a convenience, never a reason to miss a poll."""
        try:
            response = await self._client.get(
                f"{self._credentials.api_url.rstrip('/')}/videos",
                params={"user_id": str(stream["user_id"]), "type": "archive", "first": "1"},
                headers={"Client-Id": self._credentials.client_id, "Authorization": f"Bearer {self._token}"},
            )
            response.raise_for_status()
            video = next(iter(response.json()["data"]), None)
        except (httpx.HTTPError, LookupError, ValueError, TypeError):
            return None
        if not isinstance(video, dict) or str(video.get("stream_id")) != str(stream["id"]):
            return None
        vod_id = str(video.get("id") or "")
        return vod_id if re.fullmatch(VOD_ID_PATTERN, vod_id) else None

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

    def _went_live(self, stream: dict[str, Any], now: float, vod_id: str | None) -> list[RawEvent]:
        started = parse_ts(stream["started_at"]) if stream.get("started_at") else now
        events = self._went_offline(now)  # a new broadcast id without an offline poll in between
        self._broadcast = str(stream["id"])
        self._title, self._category = str(stream.get("title") or ""), str(stream.get("game_name") or "")
        start = self._event("stream_meta", started, f"start:{self._broadcast}", kind="start")
        if self._title:
            start["title"] = self._title[:140]
        if self._category:
            start["category"] = self._category[:100]
        if vod_id:
            start["vod_id"] = vod_id
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
    channel: Channel,
    credentials: HelixCredentials,
    emit: Emit,
    stop: asyncio.Event,
    transport: httpx.AsyncBaseTransport | None,
) -> None:
    stats = channel.stats
    async with httpx.AsyncClient(transport=transport, timeout=10.0) as client:
        poller = HelixPoller(channel.login, credentials, client)
        while not stop.is_set() and not channel.ended.done():
            try:
                events = await poller.poll()
            except (httpx.HTTPError, LookupError, ValueError, TypeError, AttributeError) as error:
                # A failed or malformed answer costs one sample, never the chat reader.
                stats.helix_errors += 1
                log.warning(
                    "twitch helix poll failed", extra={"stream_id": channel.stream_id, "error": repr(error)}
                )
            else:
                stats.viewer_polls += 1
                for event in events:
                    event["stream_id"] = channel.stream_id
                    await emit(event)
                    stats.forwarded(event["type"])
            await wait_or_stop(stop, credentials.poll_interval)


# -- helpers -----------------------------------------------------------------------------------------------
def channel_counters(stats: TwitchStats) -> dict[str, Any]:
    """A channel's counters for the periodic log line: what came, what went out, what was left and why."""
    return {
        "lines": stats.messages,
        "events": stats.events,
        "event_types": dict(stats.event_types),
        "ignored": dict(stats.ignored),
        "reconnects": stats.reconnects,
        "duplicates": stats.duplicates,
        "parse_errors": stats.parse_errors,
    }


def _summary(chat: TwitchChat, followed: Sequence[Channel]) -> dict[str, Any]:
    """The connection's counters, and each channel's under ``channels`` (with ``stream_id`` when there is
    just one, whose counters are the connection's)."""
    extra: dict[str, Any] = asdict(chat.stats)
    if len(followed) == 1 and followed[0].stats is chat.stats:
        extra["stream_id"] = followed[0].stream_id
        return extra
    extra["channels"] = {
        one.stream_id: {**channel_counters(one.stats), "state": _state(one)} for one in followed
    }
    return extra


def _state(channel: Channel) -> str:
    if channel.error is not None:
        return "failed"
    return "joined" if channel.ever_joined else "joining"


async def _log_periodically(
    chat: TwitchChat, followed: Sequence[Channel], stop: asyncio.Event, interval: float
) -> None:
    while not await wait_or_stop(stop, interval):
        log.info("twitch stats", extra=_summary(chat, followed))
