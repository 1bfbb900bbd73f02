"""Storage of closed window metrics, moments and dead letters behind one interface, chosen by URL."""

from __future__ import annotations

from telemetra.services.storage.base import (
    DEFAULT_SLIDE_SECONDS,
    DEFAULT_WINDOW_SECONDS,
    HypeInputs,
    MomentPosition,
    Store,
    StoredDeadLetter,
    StoreUnavailable,
    StreamPosition,
    StreamQuery,
    StreamRecord,
    StreamSort,
    StreamsPage,
)

__all__ = [
    "DEFAULT_SLIDE_SECONDS",
    "DEFAULT_WINDOW_SECONDS",
    "HypeInputs",
    "MomentPosition",
    "Store",
    "StoreUnavailable",
    "StoredDeadLetter",
    "StreamPosition",
    "StreamQuery",
    "StreamRecord",
    "StreamSort",
    "StreamsPage",
    "open_store",
]


def open_store(url: str, *, pool_size: int = 8, timeout: float = 2.0) -> Store:
    """``sqlite:///PATH`` or ``postgresql://…`` (also ``postgres://``). Not connected yet: call ``start()``."""
    if url.startswith("sqlite:"):
        from telemetra.services.settings import sqlite_path
        from telemetra.services.storage.sqlite import SqliteStore

        return SqliteStore(sqlite_path(url), timeout=max(timeout, 5.0))
    if url.startswith(("postgresql://", "postgres://")):
        from telemetra.services.storage.postgres import PostgresStore

        return PostgresStore(url, pool_size=pool_size, timeout=timeout)
    scheme = url.partition(":")[0] or url
    raise ValueError(f"unsupported store URL scheme {scheme!r}: use sqlite:///PATH or postgresql://…")
