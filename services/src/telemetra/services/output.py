"""The services' implementation of the engine's output port: the store writer and the live publisher.

* Closed windows and moments go to the store first (history is the record), then to the cache (latest
  state + publish); provisional windows go to the cache only, but a stream's first one also makes the stream
  known to the store (the listing pages the store's streams); dead letters and stream descriptions go to the
  store only.
* Cache down: the store keeps receiving everything; cache writes are skipped for ``retry_after`` seconds
  after a failure (a hanging cache must not stall the engine) and counted.
* Store down: the cache stays fresh, and the records wait in a buffer keyed by their natural keys (so a
  re-emitted window or a growing moment replaces its pending version instead of queueing twice), bounded by
  ``buffer_limit``; a background task retries until the store is back. If the buffer overflows, the oldest
  records are dropped, counted and logged as errors: nothing is lost silently.
* Alerts (with an :class:`~telemetra.services.alerts.AlertIntake`): a moment is offered to alerting once it is
  history (after its store write), and retried like a store write while the outbox is unavailable; offers are
  idempotent, so a retry never doubles an alert. A growing moment is offered again and updates its alert.
  The output starts and closes its intake (which keeps the stream configs fresh from the outbox); an owned
  output also starts and closes the intake's outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from telemetra.records import DeadLetter, Moment, StreamDescription, WindowMetrics
from telemetra.services.alerts.intake import AlertIntake
from telemetra.services.alerts.settings import AlertSettings
from telemetra.services.cache import CacheUnavailable, LiveCache, open_cache
from telemetra.services.settings import Settings
from telemetra.services.storage import Store, StoreUnavailable, open_store

log = logging.getLogger("telemetra.services.output")
K = TypeVar("K", bound=Hashable)
R = TypeVar("R")
CHUNK = 1000  # records per store transaction when catching up after an outage


@dataclass(slots=True)
class OutputStats:
    windows_stored: int = 0
    moments_stored: int = 0
    dead_letters_stored: int = 0
    live_published: int = 0
    store_failures: int = 0  # failed store write attempts (each retried later)
    cache_failures: int = 0  # failed cache writes
    cache_skipped: int = 0  # cache writes skipped while backing off after a failure
    dropped: int = 0  # records given up because the buffer was full (logged as errors)
    buffered: int = 0  # records waiting for the store right now
    alerts_offered: int = 0  # moments offered to alerting


class ServiceOutput:
    """Implements the engine's :class:`~telemetra.engine.ports.OutputPort` over a :class:`Store` and a
    :class:`LiveCache`. With ``owned``, :meth:`start` and :meth:`close` also start and close them and the
    alerts' outbox (a process that only writes, like the Spark job); otherwise their owner (the API, the demo)
    does. An ``alerts`` intake is started and closed by :meth:`start` and :meth:`close` either way."""

    def __init__(
        self,
        store: Store,
        cache: LiveCache,
        *,
        buffer_limit: int = 50_000,
        retry_after: float = 1.0,
        clock: Callable[[], float] = time.time,
        owned: bool = False,
        alerts: AlertIntake | None = None,
    ):
        self.store, self.cache = store, cache
        self.owned = owned
        self.alerts = alerts
        self.stats = OutputStats()
        self._limit = buffer_limit
        self._retry_after = retry_after
        self._clock = clock
        self._windows: dict[tuple[str, str], WindowMetrics] = {}
        self._moments: dict[str, Moment] = {}
        self._letters: dict[str, DeadLetter] = {}
        self._alerting: dict[str, Moment] = {}  # stored moments not yet offered to alerting
        self._registered: set[str] = set()  # streams this output made known to the store
        self._store_retry_at = 0.0
        self._cache_retry_at = 0.0
        self._store_down = self._cache_down = False
        self._lock = asyncio.Lock()  # one store write at a time, so records land in the order they came
        self._retrier: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(
        cls,
        store: Store,
        cache: LiveCache,
        settings: Settings,
        *,
        owned: bool = False,
        alerts: AlertIntake | None = None,
    ) -> ServiceOutput:
        return cls(
            store,
            cache,
            buffer_limit=settings.output_buffer_limit,
            retry_after=settings.output_retry_s,
            owned=owned,
            alerts=alerts,
        )

    # -- OutputPort --------------------------------------------------------------------------------------
    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            self._letters.update((d.letter_id, d) for d in letters)
            await self._after_queue()

    async def write_windows(self, windows: Sequence[WindowMetrics]) -> None:
        closed = [w for w in windows if w.final]  # provisional views belong to publish_live
        if not closed:
            return
        self._windows.update(((w.stream_id, w.window_start), w) for w in closed)
        await self._after_queue()
        await self._to_cache(self.cache.put_windows, closed)

    async def write_moments(self, moments: Sequence[Moment]) -> None:
        if not moments:
            return
        self._moments.update((m.moment_id, m) for m in moments)
        await self._after_queue()
        await self._to_cache(self.cache.put_moments, moments)

    async def publish_live(self, windows: Sequence[WindowMetrics]) -> None:
        if windows and await self._to_cache(self.cache.put_live, windows):
            self.stats.live_published += len(windows)
        await self._register({w.stream_id for w in windows})

    async def _register(self, stream_ids: set[str]) -> None:
        """Make new streams known to the store at their first provisional window, some 20 s before their first
        closed window, so the stream listing has them at once. Skipped while the store is down (the next
        provisional window tries again)."""
        new = stream_ids - self._registered
        if not new or self._store_down:
            return
        try:
            await self.store.register_streams(sorted(new), self._clock())
        except StoreUnavailable as error:
            self._store_failed(error)  # a store that hangs must not hold up every provisional window
            return
        self._registered |= new

    async def describe_stream(self, description: StreamDescription) -> bool:
        if self._store_down:  # never stall the engine on a store known to be down; retried after recovery
            return False
        try:
            return await self.store.describe_stream(description)
        except StoreUnavailable:
            return False  # retried with the stream's next windows

    # -- store -------------------------------------------------------------------------------------------
    async def _after_queue(self) -> None:
        self._enforce_limit()
        self.stats.buffered = self._pending()
        if time.monotonic() >= self._store_retry_at:
            await self.flush()
        self._ensure_retrier()

    def _pending(self) -> int:
        return len(self._windows) + len(self._moments) + len(self._letters)

    def _stored_moments(self, moments: list[Moment]) -> None:
        if self.alerts is not None:
            self._alerting.update((m.moment_id, m) for m in moments)

    async def _offer_alerts(self, alerts: AlertIntake) -> None:
        """Offer the stored moments to alerting (raises StoreUnavailable, and keeps them, if the outbox is down)."""
        while self._alerting:
            moments = list(self._alerting.values())[:CHUNK]
            await alerts.moments(moments)
            for moment in moments:
                if self._alerting.get(moment.moment_id) is moment:
                    del self._alerting[moment.moment_id]
            self.stats.alerts_offered += len(moments)

    def _enforce_limit(self) -> None:
        excess = self._pending() - self._limit
        if excess <= 0:
            return
        # Windows are dropped before moments: a moment is a rarer, more valuable record.
        dropped_windows = [self._windows.pop(k) for k in list(self._windows)[:excess]]
        remaining = excess - len(dropped_windows)
        for key in list(self._moments)[:remaining]:
            del self._moments[key]
            remaining -= 1
        for key in list(self._letters)[:remaining]:
            del self._letters[key]
        self.stats.dropped += excess
        log.error(
            "store buffer full: records dropped",
            extra={"dropped": excess, "dropped_total": self.stats.dropped, "limit": self._limit},
        )

    async def flush(self) -> bool:
        """Write everything pending to the store; False (and still pending) if the store is unavailable."""
        async with self._lock:
            try:
                self.stats.windows_stored += await self._drain(self._windows, self.store.upsert_windows)
                self.stats.moments_stored += await self._drain(
                    self._moments, self.store.upsert_moments, self._stored_moments
                )
                if self.alerts is not None:
                    await self._offer_alerts(self.alerts)
                self.stats.dead_letters_stored += await self._drain(
                    self._letters, self.store.upsert_dead_letters
                )
            except StoreUnavailable as error:
                self._store_failed(error)
                return False
            finally:
                self.stats.buffered = self._pending()
        if self._store_down:
            self._store_down = False
            log.info("store writes resumed", extra={"store": self.store.name})
        return True

    async def _drain(
        self,
        pending: dict[K, R],
        upsert: Callable[[list[R], float], Awaitable[None]],
        on_stored: Callable[[list[R]], None] | None = None,
    ) -> int:
        """Upsert ``pending`` in chunks, removing each chunk once stored; returns how many were stored."""
        stored = 0
        while pending:
            keys = list(pending)[:CHUNK]
            records = [pending[k] for k in keys]
            await upsert(records, self._clock())
            if on_stored is not None:
                on_stored(records)
            for key, record in zip(keys, records, strict=True):
                if pending.get(key) is record:  # not replaced by a newer version meanwhile
                    del pending[key]
            stored += len(records)
        return stored

    def _store_failed(self, error: StoreUnavailable) -> None:
        self.stats.store_failures += 1
        self._store_retry_at = time.monotonic() + self._retry_after
        if not self._store_down:
            self._store_down = True
            log.warning(
                "store unavailable: buffering writes",
                extra={"store": self.store.name, "error": str(error), "buffered": self.stats.buffered},
            )

    def _ensure_retrier(self) -> None:
        if self._waiting() and (self._retrier is None or self._retrier.done()):
            self._retrier = asyncio.create_task(self._retry_until_flushed(), name="telemetra-sink-retry")

    def _waiting(self) -> int:
        return self._pending() + len(self._alerting)

    async def _retry_until_flushed(self) -> None:
        while self._waiting():
            await asyncio.sleep(max(self._store_retry_at - time.monotonic(), 0.05))
            await self.flush()

    # -- cache -------------------------------------------------------------------------------------------
    async def _to_cache(
        self, put: Callable[[Sequence[R], float], Awaitable[None]], records: Sequence[R]
    ) -> bool:
        if time.monotonic() < self._cache_retry_at:
            self.stats.cache_skipped += 1
            return False
        try:
            await put(records, self._clock())
        except CacheUnavailable as error:
            self.stats.cache_failures += 1
            self._cache_retry_at = time.monotonic() + self._retry_after
            if not self._cache_down:
                self._cache_down = True
                log.warning("cache unavailable: live updates paused", extra={"error": str(error)})
            return False
        if self._cache_down:
            self._cache_down = False
            log.info("cache writes resumed", extra={"cache": self.cache.name})
        return True

    # -- lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start an owned store and cache (and outbox), then the alert intake; a store or outbox that is down
        is waited for by the writes (and the intake's refresh), not here."""
        if self.owned:
            try:
                await self.store.start()
            except StoreUnavailable as error:
                log.warning("store unavailable at start-up; writes wait for it", extra={"error": str(error)})
            await self.cache.start()
            if self.alerts is not None:
                try:
                    await self.alerts.outbox.start()
                except StoreUnavailable as error:
                    log.warning(
                        "alert outbox unavailable at start-up; offers wait for it",
                        extra={"error": str(error)},
                    )
        if self.alerts is not None:
            await self.alerts.start()

    async def close(self, grace: float = 5.0) -> None:
        """Try to flush what is pending (for up to ``grace`` seconds), then stop retrying."""
        deadline = time.monotonic() + grace
        while self._waiting() and time.monotonic() < deadline:
            if not await self.flush():
                await asyncio.sleep(min(self._retry_after, max(deadline - time.monotonic(), 0)))
        retrier, self._retrier = self._retrier, None
        if retrier is not None:
            retrier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retrier
        if self._waiting():
            lost = self._waiting()
            self.stats.dropped += lost
            log.error("output closed with records never stored", extra={"dropped": lost})
        if self.alerts is not None:
            await self.alerts.close()
        if self.owned:
            if self.alerts is not None:
                await self.alerts.outbox.close()
            await self.cache.close()
            await self.store.close()


def open_output(settings: Settings, alerts: AlertSettings | None = None) -> ServiceOutput:
    """The output of a process that only writes (the Spark job): the store, and the cache as a publisher
    only (no subscription to the live channel it never reads); with ``alerts`` (enabled), an intake over the
    outbox (by default in the store's database) that offers the moments of streams with an alert config."""
    store = open_store(
        settings.store_url, pool_size=settings.store_pool_size, timeout=settings.dependency_timeout_s
    )
    cache = open_cache(
        settings.cache_url,
        namespace=settings.cache_namespace,
        recent_moments=settings.recent_moments,
        timeout=settings.dependency_timeout_s,
        subscribe=False,
    )
    intake = None
    if alerts is not None and alerts.enabled:
        from telemetra.services.alerts.outbox import open_outbox

        outbox = open_outbox(
            alerts.outbox_for(settings.store_url), pool_size=2, timeout=settings.dependency_timeout_s
        )
        intake = AlertIntake(outbox, max_age_s=alerts.max_age_s, refresh_s=alerts.rules_refresh_s)
    return ServiceOutput.from_settings(store, cache, settings, owned=True, alerts=intake)
