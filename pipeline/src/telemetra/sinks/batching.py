"""One sink for many writers: what they send is gathered and handed on in big batches.

Thousands of sources in one process (a pool's producer) each send a few events at a time. Sent one by one to
the Kafka sink, every call would make small record batches of its own; through a :class:`BatchingSink` they
share one buffer that a single task hands to the inner sink every ``linger`` seconds (at once when ``max_batch``
events are waiting), so the inner sink sees a few large calls a second whatever the number of writers.

``send`` only buffers, and returns at once; it awaits while ``max_buffered`` events are waiting, which is how
the inner sink's backpressure reaches the writers. When the inner sink fails (it raises, e.g.
:class:`~telemetra.sinks.base.DeliveryError`), every later ``send`` raises that error and ``close`` does too;
:attr:`failure` tells a supervisor at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from telemetra.sinks.base import EventSink, RawEvent, SinkStats


class BatchingSink:
    """An :class:`~telemetra.sinks.base.EventSink` that coalesces its writers' events for ``inner``."""

    def __init__(
        self,
        inner: EventSink,
        *,
        linger: float = 0.05,
        max_batch: int = 20_000,
        max_buffered: int = 100_000,
    ):
        if linger < 0 or max_batch < 1 or max_buffered < max_batch:
            raise ValueError("linger ≥ 0, max_batch ≥ 1 and max_buffered ≥ max_batch are required")
        self.inner = inner
        self.stats: SinkStats = inner.stats  # the inner sink's: what was delivered, what failed
        self.linger, self.max_batch, self.max_buffered = linger, max_batch, max_buffered
        self.accepted = 0  # events buffered so far (handed on or still waiting)
        self._buffer: list[RawEvent] = []
        self._wake = asyncio.Event()  # a full batch is waiting, or close() was called
        self._room = asyncio.Event()  # the buffer was emptied
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self.failed = asyncio.Event()  # set when the inner sink failed; see ``failure``

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def failure(self) -> BaseException | None:
        return self._failure

    async def start(self) -> None:
        if self._task is None:
            await self.inner.start()
            self._task = asyncio.create_task(self._run(), name="batching-sink")

    async def send(self, events: Sequence[RawEvent]) -> None:
        while True:
            if self._failure is not None:
                raise self._failure
            if self._task is None or self._closing:
                raise RuntimeError("BatchingSink.send() before start() or after close()")
            if len(self._buffer) < self.max_buffered:
                break
            self._room.clear()
            await self._room.wait()
        self._buffer.extend(events)
        self.accepted += len(events)
        if len(self._buffer) >= self.max_batch:
            self._wake.set()

    async def close(self) -> None:
        """Hand on what is buffered, then close the inner sink (which waits for every delivery)."""
        task = self._task
        if task is not None and not self._closing:
            self._closing = True
            self._wake.set()
            with contextlib.suppress(Exception):  # the failure is kept; the inner sink is closed regardless
                await task
            await self.inner.close()
        if self._failure is not None:
            raise self._failure

    async def _run(self) -> None:
        try:
            while True:
                if not self._closing and len(self._buffer) < self.max_batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.linger)
                self._wake.clear()
                batch, self._buffer = self._buffer, []
                self._room.set()
                if batch:
                    await self.inner.send(batch)
                elif self._closing:
                    return
        except Exception as error:
            self._failure = error
            self.failed.set()
            self._room.set()  # writers waiting for room see the failure
            raise
