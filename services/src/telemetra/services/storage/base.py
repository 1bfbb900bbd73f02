"""The store interface: closed window metrics and moments, upserted by their natural keys, and the history
queries the API needs. Times cross this interface as epoch seconds (UTC)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from telemetra.analytics.moments import Moment
from telemetra.analytics.windows import WindowMetrics


class StoreUnavailable(RuntimeError):
    """The store could not be reached (connection refused, timed out, dropped). The API answers 503 and the
    sink buffers; programming errors (bad SQL) are not wrapped, so they surface as bugs."""


@dataclass(frozen=True, slots=True)
class StreamRecord:
    stream_id: str
    title: str | None
    category: str | None
    first_seen: float
    last_activity: float  # wall-clock time the engine last reported the stream
    latest_window: WindowMetrics | None
    latest_moment: Moment | None


@dataclass(frozen=True, slots=True)
class MomentPosition:
    """Keyset position in the newest-first moment listing."""

    start: float
    moment_id: str


class Store(Protocol):
    """Implemented by :class:`~telemetra.services.storage.sqlite.SqliteStore` and
    :class:`~telemetra.services.storage.postgres.PostgresStore`. Every method may raise
    :class:`StoreUnavailable`; the stores reconnect on their own on a later call."""

    name: str  # "sqlite" or "postgres", for logs and /ready

    async def start(self) -> None:
        """Connect and apply pending migrations; raises StoreUnavailable if the store cannot be reached (a
        later call retries)."""

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def upsert_windows(self, windows: Sequence[WindowMetrics], seen_at: float) -> None: ...

    async def upsert_moments(self, moments: Sequence[Moment], seen_at: float) -> None: ...

    async def list_streams(self) -> list[StreamRecord]: ...

    async def get_stream(self, stream_id: str) -> StreamRecord | None: ...

    async def windows(
        self, stream_id: str, *, start: float, end: float, align: int, limit: int
    ) -> list[WindowMetrics]:
        """Windows with ``start <= window_start < end`` whose start is a multiple of ``align`` seconds
        (``align`` 0: all), oldest first, at most ``limit``."""

    async def moments(
        self,
        stream_id: str,
        *,
        kinds: Sequence[str],
        start: float,
        end: float,
        before: MomentPosition | None,
        limit: int,
    ) -> list[Moment]:
        """Moments overlapping ``[start, end)`` (any kind when ``kinds`` is empty), newest first, strictly
        after ``before`` in that order."""

    async def recent_moments(self, stream_id: str, limit: int) -> list[Moment]: ...

    async def set_stream_meta(self, stream_id: str, title: str | None, category: str | None) -> bool:
        """Set the title and category; False when the stream is unknown."""

    async def delete_stream(self, stream_id: str) -> bool:
        """Forget a stream's history; False when it was unknown."""
