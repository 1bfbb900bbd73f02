"""The embedded engine: consumes the in-process bus for many streams and writes through an output sink.

Closed windows and moments are written as they happen; a provisional view of each active stream's open window
is published about once a second for the live dashboard. Memory is bounded by open panes and baselines.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, Sequence
from typing import Protocol

from telemetra.analytics.moments import Moment
from telemetra.analytics.stream import Output
from telemetra.analytics.windows import WindowMetrics
from telemetra.engine.core import Engine
from telemetra.sinks.base import RawEvent

log = logging.getLogger("telemetra.engine")


class OutputSink(Protocol):
    """Where the engine's results go (the store and the live cache, in the service)."""

    async def write_windows(self, windows: Sequence[WindowMetrics]) -> None: ...

    async def write_moments(self, moments: Sequence[Moment]) -> None: ...

    async def publish_live(self, windows: Sequence[WindowMetrics]) -> None: ...

    async def describe_stream(self, stream_id: str, title: str | None, category: str | None) -> bool:
        """Record the broadcast's title and category; False while the stream is not stored yet."""
        ...


async def run_embedded(
    batches: AsyncIterable[list[RawEvent]],
    engine: Engine,
    sink: OutputSink,
    *,
    live_every: float = 1.0,
    stop: asyncio.Event | None = None,
) -> None:
    """Process batches until the source ends or ``stop`` is set; flushes nothing at the end, so a restart
    continues from the stored history rather than closing half-filled windows."""
    touched: set[str] = set()
    described: dict[str, tuple[str | None, str | None]] = {}
    next_live = time.monotonic() + live_every
    async for batch in batches:
        out = Output()
        in_batch: set[str] = set()
        for raw in batch:
            out.extend(engine.process_raw(raw, source="bus"))
            in_batch.add(str(raw.get("stream_id")))
        touched |= in_batch
        if out.windows:
            await sink.write_windows(out.windows)
        if out.moments:
            await sink.write_moments(out.moments)
        await _describe_streams(engine, sink, in_batch, described, {w.stream_id for w in out.windows})
        if time.monotonic() >= next_live:
            next_live = time.monotonic() + live_every
            live = [
                w for s in sorted(touched) if s in engine.streams and (w := engine.streams[s].live_window())
            ]
            touched.clear()
            if live:
                await sink.publish_live(live)
        if stop is not None and stop.is_set():
            break
    log.info("engine stopped", extra={"events": engine.stats.events, "invalid": engine.stats.invalid})


async def _describe_streams(
    engine: Engine,
    sink: OutputSink,
    in_batch: set[str],
    described: dict[str, tuple[str | None, str | None]],
    with_new_windows: set[str],
) -> None:
    """Pass on changed titles and categories. A stream is stored with its first closed window, so metadata
    that arrives earlier (the start event) is retried when that stream's windows are written."""
    for stream_id in in_batch:
        analytics = engine.streams.get(stream_id)
        if analytics is None:  # only dead letters so far
            continue
        meta = (analytics.title, analytics.category)
        if meta == (None, None) or described.get(stream_id) == meta:
            continue
        known = stream_id in described or stream_id in with_new_windows
        if known and await sink.describe_stream(stream_id, *meta):
            described[stream_id] = meta
