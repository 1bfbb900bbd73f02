"""Encoded answers of history queries (metrics and moments pages), kept in memory and invalidated by the live
cache's change messages.

The store is the record, but a dashboard asks the same few questions many times a second while history only
changes when a window closes (every 10 s per stream) or a moment is reported. Every such change is published
on the live cache, so this process hears about it: a ``window`` or ``moments`` message bumps the stream's
generation, and an answer computed under an older generation is never served. An answer whose computation
overlapped a change is not kept (its generation moved), so a stale read cannot be cached.

It is only used while the live cache is healthy: without change messages there is no invalidation, so answers
then come straight from the store; after the cache comes back (a ``status`` message) everything is dropped,
since changes may have been missed. Memory is bounded by ``max_bytes`` (least recently used go first); a TTL
bounds the age of an answer whose change was never published (e.g. a deleted stream on another replica).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from telemetra.services.api.observability import Metrics
from telemetra.services.cache import FanOut, LiveMessage
from telemetra.services.cache.base import MOMENTS, STATUS, WINDOW


@dataclass(slots=True)
class _Entry:
    body: bytes
    generation: int
    expires: float


class QueryCache:
    def __init__(
        self,
        fanout: FanOut,
        healthy: Callable[[], bool],
        metrics: Metrics,
        *,
        max_bytes: int = 32 * 1024 * 1024,
        ttl: float = 30.0,
    ):
        self._healthy, self._metrics = healthy, metrics
        self._max_bytes, self._ttl = max_bytes, ttl
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0
        self._generations: dict[str, int] = {}
        self._inflight: dict[Hashable, asyncio.Future[bytes]] = {}
        fanout.listeners.append(self._on_message)

    @property
    def size(self) -> tuple[int, int]:
        """(entries, bytes)."""
        return len(self._entries), self._bytes

    def _on_message(self, message: LiveMessage) -> None:
        if message.type in (WINDOW, MOMENTS):
            self._generations[message.stream_id] = self._generations.get(message.stream_id, 0) + 1
        elif message.type == STATUS:
            self.clear()

    def invalidate(self, stream_id: str) -> None:
        self._generations[stream_id] = self._generations.get(stream_id, 0) + 1

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    async def get(self, stream_id: str, key: Hashable, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        """The cached answer for ``key`` (of ``stream_id``), or ``compute()``'s, kept if still current."""
        if self._max_bytes <= 0 or not self._healthy():
            self._metrics.cache_hit(False, "query")
            return await compute()
        full_key = (stream_id, key)
        generation = self._generations.get(stream_id, 0)
        entry = self._entries.get(full_key)
        if entry is not None and entry.generation == generation and entry.expires > time.monotonic():
            self._entries.move_to_end(full_key)
            self._metrics.cache_hit(True, "query")
            return entry.body
        self._metrics.cache_hit(False, "query")
        return await self._compute_once(stream_id, full_key, generation, compute)

    async def _compute_once(
        self, stream_id: str, key: Hashable, generation: int, compute: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """Concurrent misses of one key share one computation (no stampede after each change)."""
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            body = await compute()
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise
        finally:
            del self._inflight[key]
        future.set_result(body)
        if self._generations.get(stream_id, 0) == generation and self._healthy():
            self._put(key, _Entry(body, generation, time.monotonic() + self._ttl))
        return body

    def _put(self, key: Hashable, entry: _Entry) -> None:
        if len(entry.body) > self._max_bytes // 8:
            return  # one huge answer must not flush everything else
        previous = self._entries.pop(key, None)
        if previous is not None:
            self._bytes -= len(previous.body)
        self._entries[key] = entry
        self._bytes += len(entry.body)
        while self._bytes > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted.body)
