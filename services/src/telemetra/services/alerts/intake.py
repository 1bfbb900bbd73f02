"""Where moments enter alerting: each stream's :class:`AlertConfig`, applied to the moments the engine emits,
recorded in the outbox."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from telemetra.records import Moment, parse_ts
from telemetra.services.alerts.outbox import Offer, OfferResult, Outbox
from telemetra.services.alerts.rules import AlertConfig


class AlertIntake:
    """``await intake.moments(moments)`` after the moments are stored (what ``ServiceOutput.write_moments``
    will call). Streams without a config alert nothing. ``on_queued`` is called when something became due (an
    in-process dispatcher's :meth:`~telemetra.services.alerts.dispatcher.Dispatcher.wake`)."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        max_age_s: float | None = 900.0,
        clock: Callable[[], float] = time.time,
        on_queued: Callable[[], None] | None = None,
    ):
        self.outbox = outbox
        self._configs: dict[str, AlertConfig] = {}
        self._max_age = max_age_s
        self._clock = clock
        self._on_queued = on_queued

    def configure(self, stream_id: str, config: AlertConfig | None) -> None:
        """Set (or, with None, remove) a stream's alerting; applies to the moments offered from now on."""
        if config is None or not config.rules:
            self._configs.pop(stream_id, None)
        else:
            self._configs[stream_id] = config

    def config(self, stream_id: str) -> AlertConfig | None:
        return self._configs.get(stream_id)

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
        now = self._clock()
        offers = self.offers(moments, now)
        if not offers:
            return OfferResult()
        result = await self.outbox.offer(offers, now)
        if (result.queued or result.existing) and self._on_queued is not None:
            self._on_queued()
        return result
