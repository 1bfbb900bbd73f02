"""The dispatcher: drains the outbox over HTTP (httpx), any number of replicas side by side.

Each pass claims what it has room for (``concurrency`` sends in flight at most), sends each delivery in a task
of its own (a slow destination holds one slot, not the batch), and settles finished ones in one transaction.
An attempt ends as ``delivered`` (2xx), ``retry`` (connection error, timeout, 408/425/429/5xx, a secret not
mounted yet: again at ``now + backoff``, or the destination's ``Retry-After`` if later) or ``dead`` (a
permanent 4xx, or ``max_attempts`` reached). Between passes with nothing due it sleeps ``poll_s``, or until
:meth:`Dispatcher.wake` (an offer in the same process).

Nothing secret is logged: a destination is named by its stream and name, errors by their type and a text from
which the URL and the key were removed (:func:`describe`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx

from telemetra.services.alerts.metrics import AlertMetrics
from telemetra.services.alerts.outbox import ERROR_CHARS, Delivery, Outbox, Settlement, backoff
from telemetra.services.alerts.payloads import Answer, interpret, render
from telemetra.services.alerts.secrets import SecretMissing, SecretResolver
from telemetra.services.alerts.settings import AlertSettings
from telemetra.services.storage import StoreUnavailable

log = logging.getLogger("telemetra.services.alerts")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-]{20,}")  # webhook tokens, signatures: never in a logged error


def describe(error: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """A short reason for the delivery log: the error's type and text, without the URL or any secret."""
    text = str(error).splitlines()[0] if str(error) else ""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "…")
    text = _LONG_TOKEN.sub("…", text)
    reason = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return reason[:ERROR_CHARS]


@dataclass(slots=True)
class DispatcherStats:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    lost_claims: int = 0  # settlements that no longer held their row's claim (the lease had expired)
    outbox_failures: int = 0


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        secrets: SecretResolver,
        settings: AlertSettings | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        owner: str | None = None,
        metrics: AlertMetrics | None = None,
    ):
        self.outbox, self.secrets = outbox, secrets
        self.metrics = metrics
        self.settings = settings or AlertSettings()
        self.owner = owner or f"{socket.gethostname()}/{uuid.uuid4().hex[:8]}"
        self.stats = DispatcherStats()
        self._clock = clock
        self._rng = rng or random.Random()
        s = self.settings
        self._client = client or httpx.AsyncClient(
            timeout=s.request_timeout_s,
            limits=httpx.Limits(max_connections=s.concurrency, max_keepalive_connections=s.concurrency),
            follow_redirects=False,  # never re-send a signed body somewhere else
        )
        self._owns_client = client is None
        self._in_flight: set[asyncio.Task[Settlement]] = set()
        self._done: list[Settlement] = []
        self._wake = asyncio.Event()
        self._outbox_down = False

    @property
    def outbox_up(self) -> bool:
        """False from a failed outbox call until the next one that succeeds."""
        return not self._outbox_down

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self._wake.set()

    async def close(self) -> None:
        for task in self._in_flight:
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._owns_client:
            await self._client.aclose()

    # -- the loop ------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until ``stop`` is set; then let the sends in flight finish (within the request timeout)
        and settle them, so a clean shutdown leaves nothing leased."""
        while not stop.is_set():
            claimed = await self.step()
            if claimed == 0:
                await self._idle(stop)
        if self._in_flight:
            await asyncio.wait(self._in_flight)
            self._collect()
        await self._flush()

    async def step(self) -> int:
        """One pass: settle what finished, claim what there is room for and start sending it."""
        self._wake.clear()  # a wake-up from here on makes the next idle wait return at once
        self._collect()
        await self._flush()
        room = self.settings.concurrency - len(self._in_flight)
        if room <= 0:
            return 0
        s = self.settings
        try:
            claimed = await self.outbox.claim(self.owner, min(room, s.batch), self._clock(), s.lease_s)
        except StoreUnavailable as error:
            self._outbox_failed(error)
            return 0
        self._outbox_answered()
        self.stats.claimed += len(claimed)
        for delivery in claimed:
            task = asyncio.create_task(self.send(delivery))
            self._in_flight.add(task)
            task.add_done_callback(lambda _: self._wake.set())
        return len(claimed)

    async def drain(self) -> None:
        """Send until nothing is due or in flight (tests, the benchmark's end; bound it with
        ``asyncio.timeout``). Deliveries waiting for a retry later than now are not waited for."""
        while True:
            claimed = await self.step()
            if not claimed and not self._in_flight and not self._done:
                return
            if self._in_flight:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)

    async def _idle(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=self.settings.poll_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _collect(self) -> None:
        for task in [t for t in self._in_flight if t.done()]:
            self._in_flight.discard(task)
            if not task.cancelled():
                self._done.append(task.result())

    async def _flush(self) -> None:
        if not self._done:
            return
        done, self._done = self._done, []
        try:
            changed = await self.outbox.settle(done)
        except StoreUnavailable as error:
            self._done = done + self._done  # settled later; a lease that expires meanwhile sends again
            self._outbox_failed(error)
            return
        self._outbox_answered()
        self.stats.lost_claims += len(done) - changed
        for settlement in done:
            self._count(settlement)

    def _outbox_failed(self, error: StoreUnavailable) -> None:
        """Counted every time, logged once per outage (the dispatcher keeps trying every ``poll_s``)."""
        self.stats.outbox_failures += 1
        if not self._outbox_down:
            self._outbox_down = True
            log.warning("alert outbox unavailable", extra={"error": str(error), "unsettled": len(self._done)})

    def _outbox_answered(self) -> None:
        if self._outbox_down:
            self._outbox_down = False
            log.info("alert outbox available again")

    def _count(self, s: Settlement) -> None:
        d = s.delivery
        if self.metrics is not None:
            self.metrics.settled(s)
        if s.outcome == "delivered":
            self.stats.delivered += 1
            return
        where = {
            "moment_id": d.moment.moment_id,
            "stream_id": d.moment.stream_id,
            "destination": d.destination.name,
        }
        if s.outcome == "retry":
            self.stats.retried += 1
            log.info(
                "alert delivery failed; will retry", extra=where | {"error": s.error, "retry_at": s.retry_at}
            )
        else:
            self.stats.dead += 1
            log.warning("alert delivery gave up (dead letter)", extra=where | {"error": s.error})

    # -- one delivery --------------------------------------------------------------------------------------
    async def send(self, delivery: Delivery) -> Settlement:
        """Attempt ``delivery`` once and decide what happens next (nothing is written here)."""
        started, destination = time.monotonic(), delivery.destination
        url = key = None
        try:
            url = (
                await self.secrets.resolve(destination.url_from) if destination.url_from else destination.url
            )
            if destination.signing_secret_from is not None:
                key = await self.secrets.resolve(destination.signing_secret_from)
            assert url is not None  # Destination's validator: url or urlFrom
            request = render(delivery.alert(), url, key, self._clock())
            response = await self._client.request(
                request.method, request.url, headers=request.headers, content=request.body
            )
            answer = interpret(delivery.alert(), response.status_code, response.headers, response.content)
            status: int | None = response.status_code
        except SecretMissing as error:  # perhaps not mounted yet: retried like a network error
            answer, status = Answer(False, True, str(error)), None
        except (httpx.HTTPError, OSError) as error:
            answer, status = Answer(False, True, describe(error, (url, key))), None
        except Exception as error:  # a bug must not stop the dispatcher: retried, then a dead letter
            reason = describe(error, (url, key))  # no traceback: its text could hold the URL
            log.error(
                "alert delivery failed unexpectedly",
                extra={"moment_id": delivery.moment.moment_id, "error": reason},
            )
            answer, status = Answer(False, True, reason), None
        return self._settlement(delivery, answer, status, time.monotonic() - started)

    def _settlement(self, d: Delivery, answer: Answer, status: int | None, duration: float) -> Settlement:
        now, s = self._clock(), self.settings
        if answer.ok:
            return Settlement(d, "delivered", now, duration, status, remote_id=answer.remote_id)
        attempt = d.attempts + 1
        if not answer.retryable or attempt >= s.max_attempts:
            error = (
                answer.error if not answer.retryable else f"{answer.error} (gave up after {attempt} attempts)"
            )
            return Settlement(d, "dead", now, duration, status, error)
        delay = backoff(attempt, self._rng, base=s.backoff_base_s, cap=s.backoff_cap_s)
        if answer.retry_after is not None:
            delay = max(delay, min(answer.retry_after, s.retry_after_cap_s))
        return Settlement(d, "retry", now, duration, status, answer.error, retry_at=now + delay)


async def run_dispatcher(
    settings: AlertSettings, stop: asyncio.Event, *, metrics: AlertMetrics | None = None
) -> None:
    """A standalone dispatcher (its own process or pod): open the outbox, dispatch until ``stop``. With
    ``metrics``, they are kept up to date (the outbox's row counts every ``COUNTS_S``). Raises ValueError for
    settings that cannot work (an unsupported outbox URL, the kubernetes secrets source outside a pod); an
    outbox that is down is waited for."""
    from telemetra.services.alerts.outbox import open_outbox

    outbox = open_outbox(settings.outbox_url)
    secrets = SecretResolver.from_settings(settings)
    dispatcher = Dispatcher(outbox, secrets, settings, metrics=metrics)
    counting = None
    try:
        if metrics is not None:
            counting = asyncio.create_task(_count_rows(dispatcher, metrics, stop), name="alert-outbox-counts")
        while not stop.is_set():  # an outbox that is down at start-up is waited for
            try:
                await outbox.start()
                break
            except StoreUnavailable as error:
                dispatcher._outbox_failed(error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        log.info("alert dispatcher running", extra={"owner": dispatcher.owner, "outbox": outbox.name})
        await dispatcher.run(stop)
    finally:
        if counting is not None:
            counting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await counting
        if metrics is not None:
            metrics.up.set(0)
        with contextlib.suppress(Exception):
            await dispatcher.close()
        await outbox.close()
        await secrets.close()


COUNTS_S = 5.0  # how often the outbox's rows are counted for the metrics


async def _count_rows(dispatcher: Dispatcher, metrics: AlertMetrics, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            metrics.counts(await dispatcher.outbox.counts())
            reachable = True
        except StoreUnavailable:
            reachable = False
        metrics.up.set(1 if reachable and dispatcher.outbox_up else 0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), COUNTS_S)
