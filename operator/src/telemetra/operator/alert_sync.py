"""The streams' alert configs in the alert outbox's table, kept by one loop for the whole operator.

Which rows to write is :mod:`telemetra.operator.alerts`'s (pure); this is the I/O around it. The loop's input is
kopf's index of the streams with ``spec.alerts`` (kept from the watch: no requests), and it keeps the table's rows
as it last read or wrote them, so a pass over unchanged streams writes nothing and asks the database nothing. A
pass runs when a stream changes or is deleted (``wake``), and at least every ``resync_seconds`` as a *full* pass,
which reads the table again (one query: rows someone else changed are put back) and asks again whether the
Secrets the configs name exist. Those Secrets are asked by name only (:meth:`Kube.exists`: never a value), each
once however many streams name it, and on every pass while one is missing; a steady stream costs no request.

The verdicts (``AlertsReady`` per stream, with the generation judged) are read by the passes that write the
streams' statuses: a stream's own loop, or its pool's for a stream without one. A verdict that changes wakes
that loop. A verdict turning False posts one Warning Event on the stream.

The loop's first pass waits until kopf's index holds every stream (kopf calls the event handlers only then), so a
starting operator never takes a half-filled index for deleted streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from telemetra.operator import alerts
from telemetra.operator import status as st
from telemetra.operator.kube import Kube, KubeError, kind_of
from telemetra.operator.settings import OperatorSettings
from telemetra.operator.spec import API_VERSION, KIND
from telemetra.services.alerts.outbox import RESOURCE, Outbox, StoredConfig, open_outbox

log = logging.getLogger("telemetra.operator.alerts")
SECRET_KIND = kind_of("v1", "Secret")
STREAM_KIND = kind_of(API_VERSION, KIND)
OUTBOX_TIMEOUT: Final = 5.0  # seconds for one query of the alert outbox's database
SECRET_CHECKS: Final = 16  # Secret existence requests in flight at once


@dataclass(frozen=True)
class Notice:
    """A Warning Event to post on a stream (its reference, as an Event's ``involvedObject`` needs it)."""

    namespace: str
    name: str
    uid: str
    reason: str
    message: str


@dataclass
class PassResult:
    changed: list[alerts.Wanted] = field(default_factory=list)
    """Streams whose verdict changed (their status loop is to be woken)."""
    notices: list[Notice] = field(default_factory=list)
    settled: bool = True
    """Nothing to retry soon: the outbox answered, every Secret exists, every row is written."""


def describe(error: BaseException) -> str:
    """A short reason without the database's URL or credentials (drivers never echo the password; the URL is
    never part of their messages either)."""
    text = str(error).splitlines()[0] if str(error) else ""
    return (f"{type(error).__name__}: {text}" if text else type(error).__name__)[:300]


class AlertSync:
    def __init__(
        self, kube: Kube, settings: OperatorSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.kube, self.settings, self.clock = kube, settings, clock
        self.outbox: Outbox | None = None
        self.outbox_error: str | None = None
        url = settings.alerts_outbox_url.get_secret_value()
        if url:
            try:
                self.outbox = open_outbox(url, pool_size=2, timeout=OUTBOX_TIMEOUT)
            except ValueError as exc:  # an unsupported scheme: the message names the scheme only
                self.outbox_error = str(exc)
        self.rows: dict[str, StoredConfig] | None = None  # the table as last read or written
        self.secrets: dict[tuple[str, str], bool] = {}  # (namespace, name) → exists, as last asked
        self.verdicts: dict[str, tuple[int, st.Check]] = {}  # owner → (generation judged, AlertsReady)
        self.posted: dict[str, tuple[str, str]] = {}  # owner → (reason, message) of its last Warning
        self.outbox_down: str | None = None  # why the outbox failed the last pass
        self.full_at = -math.inf
        self.wakeup = asyncio.Event()
        self.indexed = asyncio.Event()

    @property
    def installed(self) -> bool:
        return self.outbox is not None or self.outbox_error is not None

    def wake(self) -> None:
        self.wakeup.set()

    async def close(self) -> None:
        if self.outbox is not None:
            with contextlib.suppress(Exception):
                await self.outbox.close()

    # -- one pass ------------------------------------------------------------------------------------------
    async def sync(self, wanted: Sequence[alerts.Wanted], full: bool) -> PassResult:
        """Write what the table lacks, check the Secrets, and judge every stream with alerts."""
        if full:
            self.full_at = time.monotonic()
        error = await self._converge(wanted, full) if self.installed else None
        missing = await self._check_secrets(wanted, full)
        _, left_out = alerts.elect(wanted)
        result = PassResult(settled=error is None)
        for w in wanted:
            if not self.installed:
                check = alerts.NOT_INSTALLED
            else:
                check = alerts.verdict(w, self.rows, left_out, missing.get(w.namespace, ()), error)
            result.settled &= check.status == "True" or check.reason in alerts.NEEDS_A_PERSON
            judged = (w.generation, check)
            if self.verdicts.get(w.owner) != judged:
                self.verdicts[w.owner] = judged
                result.changed.append(w)
                notice = self._notice(w, check)
                if notice is not None:
                    result.notices.append(notice)
        for gone in self.verdicts.keys() - {w.owner for w in wanted}:
            del self.verdicts[gone]
            self.posted.pop(gone, None)
        return result

    async def _converge(self, wanted: Sequence[alerts.Wanted], full: bool) -> str | None:
        """Read the table when needed, then write the plan's rows, in order; the first failure stops the pass
        (the rest is retried at the next)."""
        if self.outbox is None:
            return self.outbox_error
        try:
            if full or self.rows is None:
                self.rows = await self.outbox.configs()
            todo = alerts.plan(wanted, self.rows).writes
            for write in todo:
                now = self.clock()
                await self.outbox.set_config(write.stream_id, write.config, write.origin, now)
                alerts.applied(self.rows, write, now)
                self._log(write)
        except Exception as exc:  # the database unreachable, refusing the login, or a row it cannot read
            reason = describe(exc)
            if reason != self.outbox_down:  # once per outage (and per new reason), not every retry
                log.warning(
                    "alert outbox: %s (retrying every %.0f s)", reason, self.settings.progress_seconds
                )
            self.outbox_down = reason
            self.rows = None  # read again once it answers: the outage may have come with a restore
            return reason
        if self.outbox_down is not None:
            log.info("alert outbox: reachable again")
            self.outbox_down = None
        return None

    @staticmethod
    def _log(write: alerts.Write) -> None:
        owner = write.origin.removeprefix(RESOURCE)
        if write.config is None:
            log.info("alerts of stream %s removed (TelemetraStream %s)", write.stream_id, owner)
        elif write.replaces is not None:
            log.warning(
                "alerts of stream %s: TelemetraStream %s replaces the configuration of origin %s",
                write.stream_id,
                owner,
                write.replaces,
            )
        else:
            log.info("alerts of stream %s written from TelemetraStream %s", write.stream_id, owner)

    async def _check_secrets(self, wanted: Iterable[alerts.Wanted], full: bool) -> dict[str, set[str]]:
        """The Secrets the configs name that do not exist, by namespace. Asked on a full pass, and for names not
        known to exist; what is no longer named is forgotten. A failed request keeps what was known."""
        named = {(w.namespace, name) for w in wanted for name, _ in w.secrets()}
        for stale in self.secrets.keys() - named:
            del self.secrets[stale]
        ask = sorted(key for key in named if full or not self.secrets.get(key))
        limit = asyncio.Semaphore(SECRET_CHECKS)

        async def exists(namespace: str, name: str) -> None:
            async with limit:
                try:
                    self.secrets[(namespace, name)] = await self.kube.exists(SECRET_KIND, namespace, name)
                except KubeError as exc:
                    log.warning("cannot tell whether Secret %s/%s exists: %s", namespace, name, exc)

        await asyncio.gather(*(exists(namespace, name) for namespace, name in ask))
        missing: dict[str, set[str]] = {}
        for (namespace, name), there in self.secrets.items():
            if not there:
                missing.setdefault(namespace, set()).add(name)
        return missing

    def _notice(self, w: alerts.Wanted, check: st.Check) -> Notice | None:
        """One Warning when a stream's alerts turn not ready (or why changes); not again for the same reason,
        nor for what the stream's status already said before this process started."""
        if check.status != "False":
            self.posted.pop(w.owner, None)
            return None
        said = (check.reason, check.message)
        if self.posted.get(w.owner) == said or w.reported == ("False", *said):
            self.posted[w.owner] = said
            return None
        self.posted[w.owner] = said
        namespace, name = w.owner.split("/", 1)
        return Notice(namespace, name, w.uid, check.reason, check.message)

    # -- the loop ------------------------------------------------------------------------------------------
    async def until_indexed(self) -> None:
        """Return once kopf's index of streams is complete: kopf has called an event handler (it does so only
        after every stream was indexed), or there is no stream at all (one request for at most one)."""
        namespace = self.settings.watch_namespace or None
        while not self.indexed.is_set():
            try:
                answer = await self.kube.request("GET", STREAM_KIND.path(namespace), params={"limit": "1"})
            except KubeError as exc:
                log.warning("cannot list TelemetraStreams: %s", exc)
            else:
                if not answer.get("items"):
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.indexed.wait(), timeout=self.settings.progress_seconds)

    async def run(
        self,
        wanted: Callable[[], list[alerts.Wanted]],
        on_pass: Callable[[PassResult], None],
    ) -> None:
        """Pass after pass, for as long as the operator runs: after a change (gathered for
        ``pool_sync_seconds``), soon while something is not settled, and every ``resync_seconds`` in full."""
        await self.until_indexed()
        settings = self.settings
        while True:
            self.wakeup.clear()
            full = time.monotonic() - self.full_at >= settings.resync_seconds
            try:
                result = await self.sync(wanted(), full)
                on_pass(result)
            except Exception:  # a bug: logged, and the loop goes on
                log.exception("alerts pass failed (retrying in %.0f s)", settings.resync_seconds)
                interval = settings.resync_seconds
            else:
                interval = settings.resync_seconds if result.settled else settings.progress_seconds
            interval = max(0.0, min(interval, self.full_at + settings.resync_seconds - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=interval)
            await asyncio.sleep(settings.pool_sync_seconds)  # let changes that come together gather
