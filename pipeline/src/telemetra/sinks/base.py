"""What every event sink promises: batches in, backpressure when full, and no silent drops."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

RawEvent = dict[str, Any]  # a contract event as JSON-ready data (``ts`` already an RFC 3339 string)


@dataclass
class SinkStats:
    sent: int = 0  # acknowledged by the destination
    failed: int = 0  # could not be delivered, after retries
    errors: dict[str, int] = field(default_factory=dict)  # failure reason → count

    def fail(self, reason: str, count: int = 1) -> None:
        self.failed += count
        self.errors[reason] = self.errors.get(reason, 0) + count


class DeliveryError(RuntimeError):
    """Raised by ``close()`` when some events were not delivered; says how many and why."""

    def __init__(self, stats: SinkStats):
        self.stats = stats
        reasons = ", ".join(f"{reason} ×{count}" for reason, count in stats.errors.items())
        super().__init__(f"{stats.failed} event(s) not delivered ({reasons}); {stats.sent} delivered")


class EventSink(Protocol):
    """Producers write to a sink. ``send`` awaits while the destination is saturated (backpressure);
    ``close`` flushes everything and raises :class:`DeliveryError` if anything could not be delivered."""

    stats: SinkStats

    async def start(self) -> None: ...

    async def send(self, events: Sequence[RawEvent]) -> None: ...

    async def close(self) -> None: ...
