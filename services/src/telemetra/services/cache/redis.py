"""Redis live cache: each stream's latest state in keys, and a pub/sub channel per stream for its changes.

Keys (``NS`` is the namespace setting): ``NS:streams`` (set of ids), ``NS:snap:ID`` (hash: ``window``,
``live``, ``last_activity``), ``NS:moments:ID`` (hash: moment id → record, trimmed to the newest N);
channel ``NS:live:ID``. Each API process holds one pattern subscription (``NS:live:*``) and fans messages out
to its local WebSocket handlers, so a message is decoded once per process, not once per client.

The subscription runs in a task that reconnects with backoff; while it is down ``healthy`` is False and the
local subscribers are told (a ``status`` message), so they fall back to reading the store. A Redis that hangs
(stopped, not dead: its sockets stay open) is noticed too: the subscription pings every ``timeout`` seconds and
gives up when no answer comes back within another ``timeout``; and a command that times out opens a breaker,
so for ``timeout`` seconds commands fail at once (the API reads the store) instead of each waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from telemetra.records import Moment, WindowMetrics
from telemetra.services.cache.base import (
    LIVE,
    MOMENTS,
    WINDOW,
    CacheUnavailable,
    FanOut,
    Snapshot,
    decode_message,
    encode_message,
    merge_moments,
)
from telemetra.services.storage.codec import newest_per_stream, record

log = logging.getLogger("telemetra.services.cache")

# State update, atomically: keep the newest window (a re-emitted older one must not move the snapshot back),
# advance last_activity monotonically, register the stream, publish.
# KEYS: snapshot hash, streams set, channel. ARGV: field, window json, window_start, at, message, stream id.
_PUT_STATE = """
local current = redis.call('HGET', KEYS[1], ARGV[1] .. '_start')
if current and current > ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], ARGV[1] .. '_start', ARGV[3])
local seen = tonumber(redis.call('HGET', KEYS[1], 'last_activity') or '0')
if tonumber(ARGV[4]) > seen then redis.call('HSET', KEYS[1], 'last_activity', ARGV[4]) end
redis.call('SADD', KEYS[2], ARGV[6])
redis.call('PUBLISH', KEYS[3], ARGV[5])
return 1
"""
# KEYS: snapshot hash, streams set. ARGV: at, stream id.
_TOUCH = """
local seen = tonumber(redis.call('HGET', KEYS[1], 'last_activity') or '0')
if tonumber(ARGV[1]) > seen then redis.call('HSET', KEYS[1], 'last_activity', ARGV[1]) end
redis.call('SADD', KEYS[2], ARGV[2])
return 1
"""
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)
SNAPSHOT_FIELDS = ("window", "live", "last_activity")  # of a snapshot hash, in _snapshot's order


class RedisCache:
    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "telemetra",
        recent_moments: int = 20,
        timeout: float = 2.0,
        subscribe: bool = True,
    ):
        self.url = url
        self.subscribe = subscribe
        self.ns = namespace
        self.fanout = FanOut()
        self._keep = recent_moments
        self._timeout = timeout
        # One quick retry, for a dropped connection only: the first command after a Redis restart meets a dead
        # pooled connection. A timeout is not retried: a hanging Redis would make every read wait twice.
        self._client: aioredis.Redis = aioredis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._closed_until = 0.0  # the breaker: commands fail at once until then (monotonic time)
        self._put_state_script = self._client.register_script(_PUT_STATE)
        self._touch_script = self._client.register_script(_TOUCH)
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._healthy = False
        self.reconnects = 0

    @property
    def healthy(self) -> bool:
        return self._healthy

    # -- keys ------------------------------------------------------------------------------------------
    def _snap(self, stream_id: str) -> str:
        return f"{self.ns}:snap:{stream_id}"

    def _moments(self, stream_id: str) -> str:
        return f"{self.ns}:moments:{stream_id}"

    def _channel(self, stream_id: str) -> str:
        return f"{self.ns}:live:{stream_id}"

    @property
    def _streams(self) -> str:
        return f"{self.ns}:streams"

    # -- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the subscription task; waits briefly for it, but a Redis that is down does not fail
        start-up: the task keeps trying and ``healthy`` says how it goes. A publisher only does nothing."""
        if not self.subscribe:
            self._healthy = True  # each write reports its own failure
            return
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_forever(), name="telemetra-redis-pubsub")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), self._timeout)

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        await self._client.aclose()

    async def ping(self) -> None:
        await self._call(self._client.ping())

    async def _call(self, awaitable: Any) -> Any:
        if time.monotonic() < self._closed_until:
            if inspect.iscoroutine(awaitable):
                awaitable.close()  # never awaited: the breaker is open
            raise CacheUnavailable("redis: not answering (retrying shortly)")
        try:
            return await awaitable
        except UNAVAILABLE as error:
            if isinstance(error, RedisTimeoutError | TimeoutError):
                self._closed_until = time.monotonic() + self._timeout
            raise CacheUnavailable(f"redis: {type(error).__name__}: {error}"[:200]) from error

    # -- subscription ----------------------------------------------------------------------------------
    async def _read_forever(self) -> None:
        """Keep the subscription up for the life of the cache, whatever happens to Redis."""
        delay = 0.2
        while True:
            subscriptions = self.reconnects
            try:
                await self._read_until_error()
            except Exception as error:  # not only outages: this task must never die (it is live delivery)
                self._set_health(False, type(error).__name__)
                if self.reconnects != subscriptions:
                    delay = 0.2  # it had worked: a new outage starts a new back-off
                log.warning(
                    "redis subscription lost; retrying", extra={"retry_in_s": delay, "error": str(error)}
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _read_until_error(self) -> None:
        # No socket timeout on this connection: an idle channel is normal; a dead server is noticed by the
        # connection's health checks and by the socket closing.
        client: aioredis.Redis = aioredis.from_url(
            self.url,
            socket_connect_timeout=self._timeout,
            health_check_interval=5,
            retry=Retry(NoBackoff(), 0),
        )
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.psubscribe(f"{self.ns}:live:*")
            if self.reconnects:
                log.info("redis subscription restored", extra={"reconnects": self.reconnects})
            self.reconnects += 1
            self._set_health(True, None)
            self._subscribed.set()
            answered = pinged = time.monotonic()
            while True:
                message = await pubsub.get_message(timeout=min(1.0, self._timeout))
                now = time.monotonic()
                if message is not None:
                    answered = now
                    if message.get("type") == "pmessage":
                        self._dispatch(message["data"])
                if now - answered > 2 * self._timeout:
                    raise TimeoutError(f"no answer on the subscription for {now - answered:.1f} s")
                if now - pinged >= self._timeout:
                    pinged = now
                    await asyncio.wait_for(pubsub.ping(), self._timeout)  # its pong counts as an answer
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
            with contextlib.suppress(Exception):
                await client.aclose()

    def _dispatch(self, raw: bytes) -> None:
        try:
            self.fanout.publish(decode_message(raw))
        except (ValueError, KeyError, TypeError):
            log.warning("malformed live message ignored", extra={"bytes": len(raw)})

    def _set_health(self, healthy: bool, reason: str | None) -> None:
        if healthy != self._healthy:
            self._healthy = healthy
            self.fanout.broadcast_status(healthy, reason)

    # -- writes ----------------------------------------------------------------------------------------
    async def put_windows(self, windows: Sequence[WindowMetrics], at: float) -> None:
        await self._put_state(WINDOW, windows, at)

    async def put_live(self, windows: Sequence[WindowMetrics], at: float) -> None:
        await self._put_state(LIVE, windows, at)

    async def _put_state(self, kind: str, windows: Sequence[WindowMetrics], at: float) -> None:
        newest = newest_per_stream(windows)
        if not newest:
            return
        pipe = self._client.pipeline(transaction=False)
        for stream_id, window in newest.items():
            data = record(window)
            message = encode_message(kind, stream_id, data, at)
            keys = [self._snap(stream_id), self._streams, self._channel(stream_id)]
            args: list[str | bytes] = [
                kind,
                orjson.dumps(data),
                window.window_start,
                repr(at),
                message.text,
                stream_id,
            ]
            await self._put_state_script(keys=keys, args=args, client=pipe)  # queued on the pipeline
        await self._call(pipe.execute())

    async def put_moments(self, moments: Sequence[Moment], at: float) -> None:
        by_stream: dict[str, list[Moment]] = {}
        for moment in moments:
            by_stream.setdefault(moment.stream_id, []).append(moment)
        for stream_id, new in by_stream.items():
            await self._put_stream_moments(stream_id, new, at)

    async def _put_stream_moments(self, stream_id: str, new: list[Moment], at: float) -> None:
        key = self._moments(stream_id)
        pipe = self._client.pipeline(transaction=False)
        pipe.hset(key, mapping={m.moment_id: orjson.dumps(m) for m in new})
        pipe.hgetall(key)
        stored = (await self._call(pipe.execute()))[1]
        current = [orjson.loads(value) for value in stored.values()]
        recent = merge_moments(current, (), self._keep)
        extra = {m["moment_id"] for m in current} - {m["moment_id"] for m in recent}
        changed = sorted({m.moment_id for m in new})
        message = encode_message(MOMENTS, stream_id, recent, at, changed=changed)
        pipe = self._client.pipeline(transaction=False)
        if extra:
            pipe.hdel(key, *extra)
        await self._touch_script(
            keys=[self._snap(stream_id), self._streams], args=[repr(at), stream_id], client=pipe
        )
        pipe.publish(self._channel(stream_id), message.text)
        await self._call(pipe.execute())

    async def forget(self, stream_id: str) -> None:
        pipe = self._client.pipeline(transaction=False)
        pipe.delete(self._snap(stream_id), self._moments(stream_id))
        pipe.srem(self._streams, stream_id)
        await self._call(pipe.execute())

    # -- reads -----------------------------------------------------------------------------------------
    async def snapshot(self, stream_id: str) -> Snapshot | None:
        found = await self._read_snapshots([stream_id])
        return found[0] if found else None

    async def snapshots(
        self, stream_ids: Sequence[str] | None = None, *, moments: bool = True
    ) -> list[Snapshot]:
        if stream_ids is None:
            members = await self._call(self._client.smembers(self._streams))
            stream_ids = [m.decode() for m in members]
        return await self._read_snapshots(sorted(stream_ids), moments=moments)

    async def _read_snapshots(self, stream_ids: list[str], *, moments: bool = True) -> list[Snapshot]:
        if not stream_ids:
            return []
        pipe = self._client.pipeline(transaction=False)
        for stream_id in stream_ids:
            pipe.hmget(self._snap(stream_id), SNAPSHOT_FIELDS)  # not the *_start fields (the script's)
            if moments:
                pipe.hgetall(self._moments(stream_id))
        replies = iter(await self._call(pipe.execute()))
        snapshots = []
        for stream_id in stream_ids:
            state, recent = next(replies), next(replies) if moments else {}
            if any(state) or recent:
                snapshots.append(_snapshot(stream_id, state, recent, self._keep))
        return snapshots


def _snapshot(stream_id: str, state: list[bytes | None], moments: dict[bytes, bytes], keep: int) -> Snapshot:
    window, live, activity = state
    return Snapshot(
        stream_id=stream_id,
        window=orjson.loads(window) if window else None,
        live=orjson.loads(live) if live else None,
        moments=merge_moments((orjson.loads(v) for v in moments.values()), (), keep),
        last_activity=float(activity) if activity else None,
    )
