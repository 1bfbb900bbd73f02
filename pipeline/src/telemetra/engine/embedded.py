"""The embedded engine: reads batches from the in-process bus, keeps every stream's analytics in memory and
writes through the engine's output port. Memory is bounded by open panes and baselines.

Reading and state are all that is embedded-specific: validation, routing, folding, dead letters, stream
descriptions and the live cadence are :class:`~telemetra.engine.core.Engine`'s, as in the Spark job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Mapping, Sequence
from typing import Any

from telemetra.engine.core import Engine
from telemetra.engine.ports import OutputPort

log = logging.getLogger("telemetra.engine")


async def run_embedded(
    batches: AsyncIterable[Sequence[Mapping[str, Any]]],
    engine: Engine,
    port: OutputPort,
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """Process batches until the source ends or ``stop`` is set; flushes nothing at the end, so a restart
    continues from the stored history rather than closing half-filled windows. A dead letter's source is
    its position on the bus, ``bus:<n>`` (the n-th input this engine read)."""
    position = 0
    async for batch in batches:
        inputs = [(raw, f"bus:{position + i}") for i, raw in enumerate(batch, 1)]
        position += len(batch)
        await engine.emit(engine.process(inputs), port)
        if stop is not None and stop.is_set():
            break
    log.info("engine stopped", extra={"events": engine.stats.events, "invalid": engine.stats.invalid})
