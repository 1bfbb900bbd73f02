"""The history-answer cache and the live ticker (pure logic over the in-process fan-out)."""

from __future__ import annotations

import asyncio
import time

import pytest

from telemetra.services.api.hub import HEARTBEAT_TICK, POLL_TICK, LiveHub, Session
from telemetra.services.api.observability import Metrics
from telemetra.services.api.querycache import QueryCache
from telemetra.services.cache import FanOut, Mailbox
from telemetra.services.cache.base import encode_message


class Computations:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> bytes:
        self.count += 1
        await asyncio.sleep(0.01)
        return f"answer {self.count}".encode()


def cache_with(healthy: list[bool], **options: float) -> tuple[QueryCache, FanOut]:
    fanout = FanOut()
    return QueryCache(fanout, lambda: healthy[0], Metrics(), **options), fanout  # type: ignore[arg-type]


async def test_answers_are_reused_until_the_stream_changes() -> None:
    cache, fanout = cache_with([True])
    compute = Computations()
    assert await cache.get("a", "q", compute) == b"answer 1"
    assert await cache.get("a", "q", compute) == b"answer 1"
    fanout.publish(encode_message("live", "a", {}, 1.0))  # provisional views do not change history
    assert await cache.get("a", "q", compute) == b"answer 1"
    fanout.publish(encode_message("window", "b", {}, 1.0))  # another stream
    assert await cache.get("a", "q", compute) == b"answer 1"
    fanout.publish(encode_message("window", "a", {}, 1.0))
    assert await cache.get("a", "q", compute) == b"answer 2"
    fanout.publish(encode_message("moments", "a", [], 1.0))
    assert await cache.get("a", "q", compute) == b"answer 3"


async def test_concurrent_misses_share_one_computation() -> None:
    cache, _ = cache_with([True])
    compute = Computations()
    answers = await asyncio.gather(*(cache.get("a", "q", compute) for _ in range(50)))
    assert set(answers) == {b"answer 1"} and compute.count == 1


async def test_an_answer_overlapping_a_change_is_not_kept() -> None:
    cache, fanout = cache_with([True])
    compute = Computations()
    pending = asyncio.create_task(cache.get("a", "q", compute))
    await asyncio.sleep(0)  # the computation has started, with the old generation
    fanout.publish(encode_message("window", "a", {}, 1.0))
    assert await pending == b"answer 1"  # served to the caller that asked before the change…
    assert await cache.get("a", "q", compute) == b"answer 2"  # …but not to anyone after it


async def test_no_caching_while_the_live_cache_is_down_and_a_clean_slate_after() -> None:
    healthy = [False]
    cache, fanout = cache_with(healthy)
    compute = Computations()
    assert await cache.get("a", "q", compute) == b"answer 1"
    assert await cache.get("a", "q", compute) == b"answer 2"
    healthy[0] = True
    assert await cache.get("a", "q", compute) == b"answer 3"
    fanout.broadcast_status(True, None)  # reaches only subscribers…
    with fanout.subscribe("a"):
        fanout.broadcast_status(True, None)  # …and listeners: changes may have been missed
    assert await cache.get("a", "q", compute) == b"answer 4"


async def test_memory_is_bounded_and_errors_are_not_cached() -> None:
    cache, _ = cache_with([True], max_bytes=800)
    for i in range(100):
        body = bytes(90)

        async def answer(body: bytes = body) -> bytes:
            return body

        await cache.get("a", i, answer)
    entries, size = cache.size
    assert size <= 800 and entries == 8

    async def failing() -> bytes:
        raise RuntimeError("store exploded")

    with pytest.raises(RuntimeError):
        await cache.get("a", "bad", failing)
    assert cache.size[0] == 8


async def test_answers_expire() -> None:
    cache, _ = cache_with([True], ttl=0.05)
    compute = Computations()
    await cache.get("a", "q", compute)
    await asyncio.sleep(0.06)
    assert await cache.get("a", "q", compute) == b"answer 2"


def test_ticker_schedules_heartbeats_polls_and_send_deadlines() -> None:
    degraded = [False]
    hub = LiveHub(heartbeat=1.0, poll_every=0.5, send_timeout=2.0, degraded=lambda: degraded[0])
    idle, busy, stuck = (Session("s", Mailbox()) for _ in range(3))
    now = time.monotonic()
    idle.last_sent = now - 1.5
    busy.last_sent = now
    stuck.sending_since = now - 3.0

    class Task:
        cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    stuck.task = Task()  # type: ignore[assignment]
    for session in (idle, busy, stuck):
        hub.sessions.add(session)
    hub.visit(now)
    assert [len(s.mailbox) for s in (idle, busy, stuck)] == [1, 0, 0]
    assert stuck.too_slow and stuck.task.cancelled  # type: ignore[attr-defined]
    degraded[0] = True
    busy.last_poll = idle.last_poll = now - 1.0
    hub.visit(now)
    assert busy.mailbox._pending.keys() == {POLL_TICK}
    assert idle.mailbox._pending.keys() == {HEARTBEAT_TICK, POLL_TICK}
