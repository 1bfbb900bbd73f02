"""The latest-state cache and live fan-out behind one interface, chosen by URL."""

from __future__ import annotations

from telemetra.services.cache.base import (
    CacheUnavailable,
    FanOut,
    LiveCache,
    LiveMessage,
    Mailbox,
    Snapshot,
)

__all__ = ["CacheUnavailable", "FanOut", "LiveCache", "LiveMessage", "Mailbox", "Snapshot", "open_cache"]


def open_cache(
    url: str,
    *,
    namespace: str = "telemetra",
    recent_moments: int = 20,
    timeout: float = 2.0,
    subscribe: bool = True,
) -> LiveCache:
    """``memory://`` (this process only) or ``redis://HOST:PORT/DB`` (also ``rediss://``, ``unix://``).
    Without ``subscribe`` the cache only writes and publishes (it never reads the live channel)."""
    if url.startswith("memory:"):
        from telemetra.services.cache.memory import MemoryCache

        return MemoryCache(recent_moments=recent_moments)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from telemetra.services.cache.redis import RedisCache

        return RedisCache(
            url, namespace=namespace, recent_moments=recent_moments, timeout=timeout, subscribe=subscribe
        )
    scheme = url.partition(":")[0] or url
    raise ValueError(f"unsupported cache URL scheme {scheme!r}: use memory:// or redis://HOST:PORT/DB")
