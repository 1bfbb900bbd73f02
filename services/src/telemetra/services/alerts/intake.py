"""Where moments enter alerting: each stream's :class:`AlertConfig`, applied to the moments the engine emits,
recorded in the outbox.

The configs are the outbox's (table ``alert_configs``: written by the admin API, by the operator from a
TelemetraStream's ``spec.alerts``, by ``telemetra demo --alerts FILE``): an intake keeps a copy, read again
every ``refresh_s`` while it runs, so a change reaches every process that offers moments within that time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from telemetra.records import Moment, parse_ts
from telemetra.services.alerts.outbox import Offer, OfferResult, Outbox
from telemetra.services.alerts.rules import AlertConfig
from telemetra.services.storage import StoreUnavailable

log = logging.getLogger("telemetra.services.alerts")


class AlertIntake:
    """``await intake.moments(moments)`` after the moments are stored (``ServiceOutput.write_moments`` does,
    and starts and closes the intake with itself). Streams without a config alert nothing, at no cost (no
    outbox write). ``on_queued`` is called when something became due (an in-process dispatcher's
    :meth:`~telemetra.services.alerts.dispatcher.Dispatcher.wake`).

    :meth:`start` reads the configs and keeps reading them every ``refresh_s`` until :meth:`close`. The outbox's
    lifecycle is its owner's (the intake neither starts nor closes it)."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        max_age_s: float | None = 900.0,
        refresh_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        on_queued: Callable[[], None] | None = None,
    ):
        self.outbox = outbox
        self.refresh_s = refresh_s
        self._configs: dict[str, AlertConfig] = {}
        self._stamps: dict[str, float] = {}  # when each stored config was set, as last read
        self._max_age = max_age_s
        self._clock = clock
        self._on_queued = on_queued
        self._refresher: asyncio.Task[None] | None = None
        self._failing = False  # the last refresh failed (logged once per outage)
        self.refreshed = False  # configs were read at least once

    # -- configs -----------------------------------------------------------------------------------------
    @property
    def configs(self) -> Mapping[str, AlertConfig]:
        """The configs in use, by stream id (streams with rules only)."""
        return self._configs

    def config(self, stream_id: str) -> AlertConfig | None:
        return self._configs.get(stream_id)

    async def refresh(self) -> bool:
        """Replace the configs by the outbox's, reading again only those set since the last refresh. If the
        outbox cannot be read, keep the previous ones and return False (a warning once per outage; the recovery
        is logged once too)."""
        try:
            stamps = await self.outbox.config_stamps()
            changed = [s for s, at in stamps.items() if self._stamps.get(s) != at]
            stored = await self.outbox.configs(changed) if changed else {}
        except (StoreUnavailable, ValueError) as error:  # ValueError: a stored config this version rejects
            if not self._failing:
                self._failing = True
                log.warning(
                    "alert configs cannot be read; keeping the previous ones",
                    extra={"error": _first_line(error), "streams": len(self._configs)},
                )
            return False
        kept = {s: c for s, c in self._configs.items() if s in stamps and s not in stored}
        self._configs = kept | {s: c.config for s, c in stored.items() if c.config.rules}
        self._stamps = stamps | {s: c.updated_at for s, c in stored.items()}
        self.refreshed = True
        if self._failing:
            self._failing = False
            log.info("alert configs read again", extra={"streams": len(self._configs)})
        return True

    async def start(self) -> None:
        """Read the configs (an outbox that is down is retried by the refresh) and keep them fresh."""
        if self._refresher is not None:
            return
        await self.refresh()
        self._refresher = asyncio.create_task(self._keep_fresh(), name="telemetra-alert-configs")

    async def close(self) -> None:
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            await self.refresh()

    # -- moments -----------------------------------------------------------------------------------------
    def offers(self, moments: Sequence[Moment], now: float) -> list[Offer]:
        """What ``moments`` should alert at ``now`` (pure)."""
        offers: list[Offer] = []
        for moment in moments:
            config = self._configs.get(moment.stream_id)
            if config is None:
                continue
            if self._max_age is not None and now - parse_ts(moment.detected_at) > self._max_age:
                continue
            offers.extend(Offer(moment, target) for target in config.targets(moment, now))
        return offers

    async def moments(self, moments: Sequence[Moment]) -> OfferResult:
        if not self._configs:
            return OfferResult()
        now = self._clock()
        offers = self.offers(moments, now)
        if not offers:
            return OfferResult()
        result = await self.outbox.offer(offers, now)
        if (result.queued or result.existing) and self._on_queued is not None:
            self._on_queued()
        return result


def _first_line(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
