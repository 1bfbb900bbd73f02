"""The engine's output port: where its records go. The services implement it (the store writer and the live
publisher); tests use :class:`~telemetra.engine.memory.MemoryOutput`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from telemetra.records import DeadLetter, Moment, StreamDescription, WindowMetrics


class OutputPort(Protocol):
    """Writes are called in this order for each step: dead letters, closed windows, moments, stream
    descriptions, live windows. Writes may buffer; :meth:`flush` says whether everything is stored."""

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...

    async def write_windows(self, windows: Sequence[WindowMetrics]) -> None: ...

    async def write_moments(self, moments: Sequence[Moment]) -> None: ...

    async def describe_stream(self, description: StreamDescription) -> bool:
        """Record what the stream is; False while the stream is not stored yet (retried with its windows)."""
        ...

    async def publish_live(self, windows: Sequence[WindowMetrics]) -> None:
        """The provisional view of open windows, for the live dashboard (never stored)."""
        ...

    async def flush(self) -> bool:
        """Try to store everything pending; False while the store is unavailable (still pending)."""
        ...
