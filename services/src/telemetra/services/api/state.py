"""What the app holds for its lifetime: settings, the backends, metrics, and the dependency probe.

The probe pings the store and the cache every ``health_interval_s`` seconds. Its results feed ``/ready`` and
the ``telemetra_dependency_up`` gauge, and it is also what reconnects a store that was down at start-up
(``Store.start`` is idempotent and retries the connection). Nothing here needs a restart to recover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telemetra.services.alerts.outbox import Outbox, open_outbox
from telemetra.services.alerts.settings import AlertSettings
from telemetra.services.api.hub import LiveHub
from telemetra.services.api.observability import Metrics
from telemetra.services.api.querycache import QueryCache
from telemetra.services.cache import CacheUnavailable, LiveCache, open_cache
from telemetra.services.settings import Settings
from telemetra.services.storage import Store, StoreUnavailable, open_store

log = logging.getLogger("telemetra.services.api")


@dataclass(slots=True)
class DependencyStatus:
    backend: str
    up: bool = False
    reason: str | None = "not checked yet"
    latency_ms: float | None = None
    checked_at: float = 0.0


class AppState:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        cache: LiveCache | None = None,
        metrics: Metrics | None = None,
        outbox: Outbox | None = None,
    ):
        self.settings = settings
        # Backends passed in belong to the caller (embedded mode shares them with the engine's sink).
        self._owns_store, self._owns_cache, self._owns_outbox = store is None, cache is None, outbox is None
        self.store = store or open_store(
            settings.store_url, pool_size=settings.store_pool_size, timeout=settings.dependency_timeout_s
        )
        self.cache = cache or open_cache(
            settings.cache_url,
            namespace=settings.cache_namespace,
            recent_moments=settings.recent_moments,
            timeout=settings.dependency_timeout_s,
        )
        # The alert outbox (stream alert configs, the delivery log): by default in the store's database.
        self.outbox = outbox or open_outbox(
            AlertSettings().outbox_for(settings.store_url), pool_size=2, timeout=settings.dependency_timeout_s
        )
        self.metrics = metrics or Metrics()
        self.store_status = DependencyStatus(self.store.name)
        self.cache_status = DependencyStatus(self.cache.name)
        self.cache.fanout.on_coalesced = self.metrics.ws_coalesced.inc
        self.queries = QueryCache(
            self.cache.fanout,
            lambda: self.cache.healthy,
            self.metrics,
            max_bytes=int(settings.query_cache_mb * 1024 * 1024),
            ttl=settings.query_cache_ttl_s,
        )
        self.hub = LiveHub(
            heartbeat=settings.ws_heartbeat_s,
            poll_every=settings.fallback_poll_s,
            send_timeout=settings.ws_send_timeout_s,
            degraded=lambda: not self.cache.healthy,
        )
        self._monitor: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self.store.start()
        except StoreUnavailable as error:
            log.warning("store unavailable at start-up; will keep trying", extra={"error": str(error)})
        await self.cache.start()
        await self.start_outbox()
        await self.probe()
        self._monitor = asyncio.create_task(self._probe_forever(), name="telemetra-dependency-probe")
        self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
        if self._owns_outbox:
            await self.outbox.close()
        if self._owns_cache:
            await self.cache.close()
        if self._owns_store:
            await self.store.close()

    async def start_outbox(self) -> bool:
        """Start (connect and migrate) the outbox; False if it is unavailable (the alert routes answer 503 and
        try again)."""
        try:
            await self.outbox.start()
        except StoreUnavailable as error:
            log.warning("alert outbox unavailable", extra={"error": str(error)[:300]})
            return False
        return True

    async def probe(self) -> None:
        async def store_check() -> None:
            await self.store.start()  # no-op once connected; reconnects a store that was down at start-up
            await self.store.ping()

        async def cache_check() -> None:
            await self.cache.ping()
            if not self.cache.healthy:
                raise CacheUnavailable("live subscription down")

        await asyncio.gather(
            self._check("store", self.store_status, store_check, StoreUnavailable),
            self._check("cache", self.cache_status, cache_check, CacheUnavailable),
        )

    async def _check(
        self,
        name: str,
        status: DependencyStatus,
        check: Callable[[], Awaitable[None]],
        unavailable: type[Exception],
    ) -> None:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(check(), self.settings.dependency_timeout_s)
        except (unavailable, TimeoutError) as error:
            reason = "timed out" if isinstance(error, TimeoutError) else "unreachable"
            if status.up or status.reason == "not checked yet":
                log.warning(
                    f"{name} unavailable", extra={"backend": status.backend, "error": str(error)[:300]}
                )
            status.up, status.reason, status.latency_ms = False, f"{name} {reason}", None
        else:
            if not status.up and status.reason != "not checked yet":
                log.info(f"{name} available again", extra={"backend": status.backend})
            status.up, status.reason = True, None
            status.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        status.checked_at = time.time()
        self.metrics.dependency_up.labels(name).set(1 if status.up else 0)

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.health_interval_s)
            with contextlib.suppress(StoreUnavailable):
                await self.outbox.start()  # no-op once started; retries an outbox that was down at start-up
            try:
                await self.probe()
            except Exception:  # the probe must outlive any surprise; it is what drives recovery
                log.exception("dependency probe failed")
