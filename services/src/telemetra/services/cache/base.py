"""The live cache: the latest state of each stream (closed window, provisional window, recent moments) and a
fan-out of its changes to local subscribers (WebSocket handlers).

Messages carry state, never deltas: a ``moments`` message holds the whole recent list, a ``window`` message
the newest closed window. So a subscriber's mailbox can keep only the latest message of each type: a slow
consumer skips intermediate states instead of queueing them, and its memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from telemetra.records import Moment, WindowMetrics
from telemetra.services.storage.codec import record

WINDOW, LIVE, MOMENTS, STATUS = "window", "live", "moments", "status"


class CacheUnavailable(RuntimeError):
    """The cache could not be reached; the API falls back to the store and the sink keeps going."""


@dataclass(frozen=True, slots=True)
class LiveMessage:
    type: str
    stream_id: str
    text: str  # the JSON sent to WebSocket clients as it is (encoded once, shared by every subscriber)
    published_at: float = 0.0
    data: Any = None  # the decoded ``data`` (shared, read-only), so subscribers never parse ``text``


def encode_message(kind: str, stream_id: str, data: Any, published_at: float, **extra: Any) -> LiveMessage:
    body = {"type": kind, "stream_id": stream_id, "data": data, "published_at": published_at, **extra}
    return LiveMessage(kind, stream_id, orjson.dumps(body).decode(), published_at, data)


def decode_message(raw: bytes | str) -> LiveMessage:
    body = orjson.loads(raw)
    text = raw.decode() if isinstance(raw, bytes) else raw
    return LiveMessage(
        str(body["type"]),
        str(body["stream_id"]),
        text,
        float(body.get("published_at", 0.0)),
        body.get("data"),
    )


@dataclass(slots=True)
class Snapshot:
    """What a new subscriber needs first; dicts are the engine's ``to_dict()`` records."""

    stream_id: str
    window: dict[str, Any] | None = None
    live: dict[str, Any] | None = None
    moments: list[dict[str, Any]] = field(default_factory=list)  # newest first
    last_activity: float | None = None  # wall clock of the last update


def moment_order(moment: dict[str, Any]) -> tuple[str, str]:
    """Sort key for newest-first listings (RFC 3339 UTC strings of one format sort as times)."""
    return (moment["start"], moment["moment_id"])


def merge_moments(
    current: Iterable[dict[str, Any]], new: Iterable[Moment], keep: int
) -> list[dict[str, Any]]:
    """Upsert by id, newest first, at most ``keep``."""
    by_id = {m["moment_id"]: m for m in current}
    by_id.update((m.moment_id, record(m)) for m in new)
    return sorted(by_id.values(), key=moment_order, reverse=True)[:keep]


class Mailbox:
    """Bounded by construction: at most one pending message per type (the latest)."""

    __slots__ = ("_pending", "_ready", "coalesced")

    def __init__(self) -> None:
        self._pending: dict[str, LiveMessage] = {}
        self._ready = asyncio.Event()
        self.coalesced = 0  # messages replaced before they were taken (the consumer was slower)

    def put(self, message: LiveMessage) -> None:
        if self._pending.pop(message.type, None) is not None:
            self.coalesced += 1
        self._pending[message.type] = message  # re-inserted last: types leave in order of their last change
        self._ready.set()

    async def get(self) -> LiveMessage:
        while not self._pending:
            self._ready.clear()
            await self._ready.wait()
        return self._pending.pop(next(iter(self._pending)))

    def __len__(self) -> int:
        return len(self._pending)


class FanOut:
    """Per-stream sets of local mailboxes; ``publish`` never blocks and never allocates per subscriber."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Mailbox]] = {}
        self.published = 0
        self.on_coalesced: Callable[[int], None] | None = None  # metrics hook
        # Called with every message of every stream, subscribed or not (the API's query cache invalidates
        # its answers with them).
        self.listeners: list[Callable[[LiveMessage], None]] = []

    @contextlib.contextmanager
    def subscribe(self, stream_id: str) -> Iterator[Mailbox]:
        mailbox = Mailbox()
        self._subscribers.setdefault(stream_id, set()).add(mailbox)
        try:
            yield mailbox
        finally:
            mailboxes = self._subscribers.get(stream_id)
            if mailboxes is not None:
                mailboxes.discard(mailbox)
                if not mailboxes:
                    del self._subscribers[stream_id]

    def publish(self, message: LiveMessage) -> None:
        for listener in self.listeners:
            listener(message)
        mailboxes = self._subscribers.get(message.stream_id)
        if not mailboxes:
            return
        self.published += 1
        coalesced = 0
        for mailbox in mailboxes:
            before = mailbox.coalesced
            mailbox.put(message)
            coalesced += mailbox.coalesced - before
        if coalesced and self.on_coalesced is not None:
            self.on_coalesced(coalesced)

    def broadcast_status(self, healthy: bool, reason: str | None) -> None:
        """Tell every subscriber that live updates stopped or resumed (their handlers switch mode)."""
        for stream_id in list(self._subscribers):
            data = {"cache": "up" if healthy else "down", "reason": reason}
            self.publish(encode_message(STATUS, stream_id, data, time.time()))

    def subscribers(self, stream_id: str | None = None) -> int:
        if stream_id is not None:
            return len(self._subscribers.get(stream_id, ()))
        return sum(len(m) for m in self._subscribers.values())

    def mailboxes(self, stream_id: str) -> list[Mailbox]:
        return list(self._subscribers.get(stream_id, ()))


class LiveCache(Protocol):
    """Implemented by :class:`~.memory.MemoryCache` and :class:`~.redis.RedisCache`. Writes and reads raise
    :class:`CacheUnavailable` when the cache is down; the Redis cache reconnects on its own."""

    name: str
    fanout: FanOut

    @property
    def healthy(self) -> bool:
        """Whether live updates are flowing (the pub/sub subscription is up)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def put_windows(self, windows: Sequence[WindowMetrics], at: float) -> None:
        """Closed windows: the newest per stream becomes its ``window`` state and is published."""

    async def put_live(self, windows: Sequence[WindowMetrics], at: float) -> None:
        """Provisional windows: each becomes its stream's ``live`` state and is published."""

    async def put_moments(self, moments: Sequence[Moment], at: float) -> None:
        """Upsert into each stream's recent list (bounded), then publish the list."""

    async def snapshot(self, stream_id: str) -> Snapshot | None: ...

    async def snapshots(
        self, stream_ids: Sequence[str] | None = None, *, moments: bool = True
    ) -> list[Snapshot]:
        """The snapshots of ``stream_ids`` that the cache has (None: of every stream), by stream id; without
        ``moments``, their recent moments are left out (cheaper: the stream list takes the latest from the
        store)."""

    async def forget(self, stream_id: str) -> None: ...
