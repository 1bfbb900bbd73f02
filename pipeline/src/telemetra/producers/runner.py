"""Drives a generator of timed batches into a sink: paced to the simulated clock, with progress lines."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from telemetra.sinks.base import EventSink, RawEvent

log = logging.getLogger("telemetra.produce")
PROGRESS_EVERY = 5.0  # seconds of wall time between progress lines


@dataclass
class ProduceReport:
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def pump(
    batches: Iterable[tuple[float, list[RawEvent]]],
    sink: EventSink,
    *,
    speed: float = 1.0,
    stop: asyncio.Event | None = None,
) -> ProduceReport:
    """Send every batch; with ``speed > 0`` a batch stamped ``t`` waits until ``(t - t0) / speed`` has passed.

    ``speed=0`` sends as fast as the sink accepts. The sink is closed at the end, which raises
    :class:`~telemetra.sinks.DeliveryError` if anything could not be delivered.
    """
    started = time.monotonic()
    first: float | None = None
    sent = 0
    next_progress = started + PROGRESS_EVERY
    await sink.start()
    try:
        for stamp, batch in batches:
            if stop is not None and stop.is_set():
                break
            first = stamp if first is None else first
            if speed > 0:
                delay = started + (stamp - first) / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await sink.send(batch)
            sent += len(batch)
            if (now := time.monotonic()) >= next_progress:
                next_progress = now + PROGRESS_EVERY
                log.info("producing", extra={"events": sent, "events_per_s": round(sent / (now - started))})
    finally:
        await sink.close()
    report = ProduceReport(events=sent, seconds=time.monotonic() - started)
    log.info(
        "produced", extra={"events": sent, "events_per_s": round(report.rate), "sink_stats": vars(sink.stats)}
    )
    return report
