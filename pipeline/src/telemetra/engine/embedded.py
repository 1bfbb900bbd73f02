"""The embedded engine: reads batches from the in-process bus, keeps every stream's analytics in memory and
writes through the engine's output port. Memory is bounded by open panes and baselines.

Reading and state are all that is embedded-specific: validation, routing, folding, dead letters, stream
descriptions and the live cadence are :class:`~telemetra.engine.core.Engine`'s, as in the Spark job. With a
:class:`~telemetra.engine.journal.Journal`, the in-memory state survives a crash: it is rebuilt from the
journal on start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Mapping, Sequence
from typing import Any

from telemetra.engine.core import Engine, Step
from telemetra.engine.journal import Journal
from telemetra.engine.ports import OutputPort
from telemetra.records import parse_ts

log = logging.getLogger("telemetra.engine")


async def run_embedded(
    batches: AsyncIterable[Sequence[Mapping[str, Any]]],
    engine: Engine,
    port: OutputPort,
    *,
    journal: Journal | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Process batches until the source ends or ``stop`` is set; flushes nothing at the end, so a restart
    continues from the stored history (and the journal) rather than closing half-filled windows. A dead
    letter's source is its position on the bus, ``bus:<n>`` (the n-th input read, counted across restarts
    when there is a journal)."""
    position = await recover(journal, engine, port) if journal is not None else 0
    try:
        async for batch in batches:
            numbered = [(position + i, raw) for i, raw in enumerate(batch, 1)]
            position += len(batch)
            if journal is not None:
                journal.append(numbered)
            await engine.emit(engine.process((raw, f"bus:{p}") for p, raw in numbered), port)
            if stop is not None and stop.is_set():
                break
    finally:
        if journal is not None:
            journal.close()
    log.info("engine stopped", extra={"events": engine.stats.events, "invalid": engine.stats.invalid})


async def recover(journal: Journal, engine: Engine, port: OutputPort) -> int:
    """Rebuild the engine's state from the journal and emit what it could not have stored before the crash;
    the last bus position read (0 without a journal)."""
    step, position, first_ts = Step(), 0, dict[str, float]()
    for entries in journal.replay():
        for entry in entries:
            stream_id = entry.raw.get("stream_id") if isinstance(entry.raw, Mapping) else None
            if isinstance(stream_id, str) and stream_id not in first_ts:
                ts = _event_time(entry.raw)
                if ts is not None:
                    first_ts[stream_id] = ts
        step.extend(engine.process(((e.raw, f"bus:{e.position}") for e in entries), live=False))
        position = max([position, *(e.position for e in entries)])
    if not position:
        return 0
    covered = {s: ts + engine.streams[s].config.lateness for s, ts in first_ts.items() if s in engine.streams}
    baseline = {
        s: ts + a.config.thresholds.baseline_panes * a.slide
        for s, ts in covered.items()
        if (a := engine.streams[s])
    }
    step.windows = [w for w in step.windows if parse_ts(w.window_start) >= covered.get(w.stream_id, 0)]
    step.moments = [m for m in step.moments if parse_ts(m.start) >= baseline.get(m.stream_id, 0)]
    await engine.emit(step, port)
    log.info(
        "engine state recovered from the journal",
        extra={"inputs": position, "streams": len(engine.streams), "windows": len(step.windows)},
    )
    return position


def _event_time(raw: Mapping[str, Any]) -> float | None:
    try:
        return parse_ts(str(raw.get("ts")))
    except ValueError:
        return None  # an invalid event: it tells nothing of what the journal covers
