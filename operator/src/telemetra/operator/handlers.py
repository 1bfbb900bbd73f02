"""kopf handlers: thin, each calls the reconciler (``reconcile.py``), which calls the pure builders.

* a per-stream daemon loops: reconcile, then sleep for ``resync_seconds`` (``progress_seconds`` while the
  stream is still converging); a change of the spec wakes it at once, and so does a watch event on one of its
  children (``child_changed``, :mod:`telemetra.operator.watch`): a failed job or an edited or deleted child
  shows in status, or is restored, within moments. The resync is the level-based safety net for whatever a
  watch missed.
* a per-pool daemon loops the same way over a TelemetraPool: its topics, shared producer and Spark job, and
  its members' records in its control and sources topics. Its members come from an index of the streams by
  pool (kept by kopf from the watch, no requests); a stream that joins, changes or leaves wakes its pool, which
  waits ``pool_sync_seconds`` for others and writes their records together, then wakes the streams it wrote,
  whose next pass reports their place in the pool.
* the delete handler (a finalizer) removes the topics of a dedicated stream or a pool: KafkaTopics, which live
  in the Kafka namespace where no owner reference can reach, or (``admin`` mode) the Kafka topics themselves;
  everything in the owner's namespace is garbage-collected through owner references. A pooled stream has no
  topics of its own: its pool writes its tombstones when the index loses it.
* the liveness probe fails when streams exist but no reconciliation finished for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Container
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

import kopf

from telemetra.operator import alerts, members, pool_spec
from telemetra.operator import status as st
from telemetra.operator.alert_sync import PassResult
from telemetra.operator.kafka_admin import KafkaAdminError
from telemetra.operator.kube import Kube, KubeError
from telemetra.operator.leader import Elector, exit_now
from telemetra.operator.metrics import Metrics, Progress
from telemetra.operator.owner import key_of
from telemetra.operator.pool import Pool
from telemetra.operator.reconcile import Event, Memory, PoolMemory, Reconciler
from telemetra.operator.settings import OperatorSettings, get_settings
from telemetra.operator.spec import GROUP, KIND, PLURAL, VERSION
from telemetra.operator.stream import Stream
from telemetra.operator.watch import CHILD_LABELS, Loops

FINALIZER = "telemetra.io/finalizer"
T = TypeVar("T")


@dataclass
class Runtime:
    """What every handler shares (kept in kopf's operator-wide memo)."""

    settings: OperatorSettings
    kube: Kube
    metrics: Metrics
    progress: Progress
    reconciler: Reconciler
    loops: Loops
    elector: Elector | None = None
    keeper: asyncio.Task[None] | None = None
    alerts: asyncio.Task[None] | None = None
    # kopf posts Events from a queue that only its handlers' context knows: the alerts loop, started before any
    # handler ran, posts through the context of the first event handler (there is no stream to post on before).
    handler_context: contextvars.Context | None = None


def _runtime(memo: kopf.Memo) -> Runtime:
    runtime: Runtime = memo.runtime
    return runtime


def _wakeup(memo: kopf.Memo) -> asyncio.Event:
    if "wakeup" not in memo:
        memo.wakeup = asyncio.Event()
    event: asyncio.Event = memo.wakeup
    return event


def _post(body: kopf.Body, events: list[Event]) -> None:
    for event in events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message[:1024])


@kopf.on.startup()
async def configure(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any
) -> None:
    own = get_settings()
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="telemetra.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="telemetra.io", key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # our own events are posted explicitly, on transitions
    settings.networking.request_timeout = own.api_timeout_seconds
    # The CRDs are installed with the chart, before the operator: no need to watch CRDs cluster-wide (which
    # would need a ClusterRole) for resources appearing later.
    settings.scanning.disabled = True
    # A stream's loop exits within moments of being cancelled: wait for that, instead of the default of
    # re-checking after the whole cancellation timeout, so a deleted stream loses its finalizer at once.
    settings.background.instant_exit_timeout = 2.0
    kube = Kube.login(timeout=own.api_timeout_seconds)
    metrics = Metrics()
    if own.metrics_port:
        metrics.serve(own.metrics_port)
    progress = Progress(stall_after=own.stall_factor * own.resync_seconds)
    reconciler = Reconciler(kube, own, metrics)
    await reconciler.claim_existing()
    runtime = memo.runtime = Runtime(own, kube, metrics, progress, reconciler, Loops())
    if "leader_identity" in memo:  # this replica holds the Lease (__main__ stood by for it): keep it
        me = memo.leader_identity
        runtime.elector = Elector(kube, own.lease_scope, own.lease_name, own.lease_duration_seconds, me=me)
        runtime.keeper = asyncio.create_task(runtime.elector.keep(exit_now))
    index: kopf.Index[str, alerts.Wanted] = kwargs["stream_alerts"]  # live: kopf keeps it from the watch
    runtime.alerts = asyncio.create_task(
        reconciler.alerts.run(
            lambda: [w for store in index.values() for w in store], partial(_alerts_pass, runtime)
        )
    )
    logger.info(
        "Telemetra operator: resync every %.1f s, metrics on :%s, topics through %s",
        own.resync_seconds,
        own.metrics_port,
        f"the Kafka Admin API at {own.default_bootstrap}" if own.topics == "admin" else "Strimzi KafkaTopics",
    )


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    if runtime.alerts is not None:
        runtime.alerts.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runtime.alerts
    await runtime.reconciler.close()
    if runtime.keeper is not None:
        runtime.keeper.cancel()
    if runtime.elector is not None:
        await runtime.elector.release()  # a standby takes over at once
    await runtime.kube.close()


@kopf.on.event(GROUP, VERSION, PLURAL)
@kopf.on.event(GROUP, VERSION, pool_spec.PLURAL)
def wake(body: kopf.Body, memo: kopf.Memo, type: str | None, **_: Any) -> None:
    """A new generation (a spec change) wakes the loop of the stream or pool; status writes do not. A stream's
    pool is woken too, and when the stream is deleted."""
    generation = body.get("metadata", {}).get("generation")
    changed = generation != memo.get("seen_generation")
    if changed:
        memo.seen_generation = generation
        _wakeup(memo).set()
    runtime: Runtime | None = memo.get("runtime")
    if runtime is None:
        return
    runtime.reconciler.alerts.indexed.set()  # kopf calls event handlers once every object is indexed
    if runtime.handler_context is None:
        runtime.handler_context = contextvars.copy_context()
    if body.get("kind") == KIND and (changed or type == "DELETED"):
        runtime.reconciler.alerts.wake()
        stream = Stream.from_body(body, runtime.settings)
        if stream.pool is not None:
            runtime.loops.wake(key_of(pool_spec.KIND, stream.namespace, stream.pool))


@kopf.index(GROUP, VERSION, pool_spec.PLURAL)
def pool_names(body: kopf.Body, **_: Any) -> dict[tuple[str, str], bool]:
    """The pools there are, by ``(namespace, name)`` (kopf fills its indices before any daemon starts)."""
    return {(body["metadata"]["namespace"], body["metadata"]["name"]): True}


@kopf.index(GROUP, VERSION, PLURAL)
def pool_members(body: kopf.Body, **_: Any) -> dict[tuple[str, str], members.Member]:
    """The streams by pool, ``(namespace, pool) → Member``, as each pool's pass needs them."""
    stream = Stream.from_body(body, get_settings())
    if stream.pool is None:
        return {}
    return {(stream.namespace, stream.pool): members.member_of(stream, body)}


@kopf.index(GROUP, VERSION, PLURAL)
def stream_alerts(body: kopf.Body, **_: Any) -> dict[str, alerts.Wanted]:
    """The streams with ``spec.alerts``, by owner, for the operator's alerts loop
    (:mod:`telemetra.operator.alert_sync`)."""
    stream = Stream.from_body(body, get_settings())
    wanted = alerts.wanted_of(stream, body)
    return {} if wanted is None else {stream.owner: wanted}


def _alerts_pass(runtime: Runtime, result: PassResult) -> None:
    """After a pass of the alerts loop: wake the loops that write the statuses whose AlertsReady changed (the
    stream's own, else its pool's), and post the Warnings."""
    for wanted in result.changed:
        if not runtime.loops.wake(wanted.owner) and wanted.loop is not None:
            runtime.loops.wake(wanted.loop)
    context = runtime.handler_context
    if context is None:
        return
    for notice in result.notices:
        ref = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"namespace": notice.namespace, "name": notice.name, "uid": notice.uid},
        }
        events = [Event("Warning", notice.reason, notice.message)]
        context.run(_post, cast(kopf.Body, ref), events)


def has_own_loop(body: kopf.Body, **kwargs: Any) -> bool:
    """Whether the stream gets a loop of its own (:func:`telemetra.operator.members.needs_own_loop`); kopf
    starts and stops it as this changes with the stream's events."""
    pool_names: kopf.Index[tuple[str, str], bool] = kwargs["pool_names"]
    stream = Stream.from_body(body, get_settings())
    exists = stream.pool is not None and (stream.namespace, stream.pool) in pool_names
    return members.needs_own_loop(stream, body.get("status") or {}, exists)


@kopf.on.event("apps", "v1", "deployments", labels=CHILD_LABELS)
@kopf.on.event("v1", "configmaps", labels=CHILD_LABELS)
@kopf.on.event("sparkoperator.k8s.io", "v1beta2", "sparkapplications", labels=CHILD_LABELS)
def child_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A child was created, changed (its status too) or deleted: its stream's loop re-reads it at once."""
    runtime: Runtime | None = memo.get("runtime")
    if runtime is not None:
        runtime.loops.notify(body)


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10, when=has_own_loop)
async def converge(
    body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped, logger: kopf.Logger, **kwargs: Any
) -> None:
    """The level-based loop of one stream: reconcile, sleep (or wake on a spec change), repeat. A pooled
    stream without children of its own has none (:func:`has_own_loop`): its pool's loop writes its status,
    and takes over when this loop ends."""
    runtime = _runtime(memo)
    key = f"{body['metadata']['namespace']}/{body['metadata']['name']}"
    wakeup = _wakeup(memo)
    memory = Memory()
    runtime.progress.started(key)
    runtime.loops.register(key, wakeup, memory)
    try:
        while not stopped:
            wakeup.clear()
            interval = await reconcile_once(runtime, body, memory, key, logger, kwargs["pool_names"])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=interval)
    finally:
        runtime.loops.unregister(key)
        runtime.progress.stopped(key)
        runtime.reconciler.forget(body)
        pool = Stream.from_body(body, runtime.settings).pool
        if pool is not None:
            runtime.loops.wake(key_of(pool_spec.KIND, body["metadata"]["namespace"], pool))


# A deleted pool's loop tells its streams without a loop of their own that it is gone: 10,000 status writes take
# about half a minute here.
@kopf.daemon(GROUP, VERSION, pool_spec.PLURAL, cancellation_timeout=60)
async def converge_pool(
    body: kopf.Body,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    """The level-based loop of one pool: reconcile, write what its members changed, then the statuses of the
    members without a loop of their own, wake the others, repeat."""
    pool_members: kopf.Index[tuple[str, str], members.Member] = kwargs["pool_members"]  # the index, live
    runtime = _runtime(memo)
    meta = body["metadata"]
    key = key_of(pool_spec.KIND, meta["namespace"], meta["name"])
    wakeup = _wakeup(memo)
    memory = PoolMemory()
    runtime.progress.started(key)
    runtime.loops.register(key, wakeup, memory)
    try:
        while not stopped:
            wakeup.clear()
            candidates = list(pool_members.get((meta["namespace"], meta["name"]), []))
            interval = await reconcile_pool_once(runtime, body, memory, candidates, key, logger)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=interval)
            await asyncio.sleep(runtime.settings.pool_sync_seconds)  # let the members' changes gather
    finally:
        runtime.loops.unregister(key)
        runtime.progress.stopped(key)
        runtime.reconciler.forget(body)
        view = runtime.reconciler.pools.pop(key, None)
        candidates = list(pool_members.get((meta["namespace"], meta["name"]), []))
        if (
            view is not None
            and stopped.reason
            and stopped.reason & kopf.DaemonStoppingReason.RESOURCE_DELETED
        ):
            # its streams report that the pool is gone
            await _member_statuses(runtime, body, None, candidates, memory, logger)
            for member in candidates:
                runtime.loops.wake(member.owner)


async def guarded(runtime: Runtime, logger: kopf.Logger, work: Awaitable[T]) -> T | float:
    """One pass, timed and counted; a failure is logged and becomes the time to wait before the next pass:
    ``progress_seconds`` after an API error, ``resync_seconds`` after a bug."""
    started = time.monotonic()
    settings = runtime.settings
    try:
        return await work
    except KubeError as exc:
        runtime.metrics.errors.labels("api").inc()
        runtime.metrics.reconciles.labels("error").inc()
        logger.warning("reconciliation failed (retrying in %.0f s): %s", settings.progress_seconds, exc)
        return settings.progress_seconds
    except Exception:
        runtime.metrics.errors.labels("internal").inc()
        runtime.metrics.reconciles.labels("error").inc()
        logger.exception("reconciliation failed (retrying in %.0f s)", settings.resync_seconds)
        return settings.resync_seconds
    finally:
        runtime.metrics.duration.observe(time.monotonic() - started)
        runtime.progress.finished()


async def reconcile_pool_once(
    runtime: Runtime,
    body: kopf.Body,
    memory: PoolMemory,
    candidates: list[members.Member],
    key: str,
    logger: kopf.Logger,
) -> float:
    """One pass over a pool; then the streams whose place in it changed are woken. Returns the sleep."""
    outcome = await guarded(runtime, logger, runtime.reconciler.reconcile_pool(body, memory, candidates))
    if isinstance(outcome, float):
        return outcome
    runtime.metrics.reconciles.labels("error" if outcome.status.get("lastError") else "ok").inc()
    before, view = runtime.reconciler.pools.get(key), outcome.view
    assert view is not None
    runtime.reconciler.pools[key] = view
    everyone = before is None or before.checks() != view.checks()
    for member in candidates:
        if everyone or member.stream_id in outcome.changed:
            runtime.loops.wake(member.owner)
    _post(body, outcome.events)
    await guarded(runtime, logger, _member_statuses(runtime, body, view, candidates, memory, logger))
    ready = (st.condition(outcome.status, "Ready") or {}).get("status") == "True"
    settled = ready and not outcome.status.get("lastError")
    return runtime.settings.resync_seconds if settled else runtime.settings.progress_seconds


async def _member_statuses(
    runtime: Runtime,
    body: kopf.Body,
    view: members.PoolView | None,
    candidates: list[members.Member],
    memory: PoolMemory,
    logger: kopf.Logger,
) -> None:
    """Write the statuses of the pool's members without a loop of their own; post a Warning on a stream that
    turns Degraded or Failed (and a Normal Event when it recovers), and one Event on the pool for the rest."""
    pool = Pool.from_body(body, runtime.settings)
    outcomes = await runtime.reconciler.write_member_statuses(pool, view, candidates, memory, runtime.loops)
    moves: Counter[str] = Counter()
    failed = 0
    for outcome in outcomes:
        member = outcome.member
        if outcome.error is not None:
            failed += 1
            continue
        runtime.metrics.set_state(member.owner, outcome.status["lifecycleState"])
        namespace, name = member.owner.split("/", 1)
        ref = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"namespace": namespace, "name": name, "uid": member.uid},
        }
        _post(cast(kopf.Body, ref), outcome.events)  # what an Event's reference needs
        if not outcome.events and outcome.status["lifecycleState"] != outcome.previous.get("lifecycleState"):
            moves[outcome.status["lifecycleState"]] += 1
    if failed:
        runtime.metrics.errors.labels("api").inc(failed)
        logger.warning(
            "%d of %d member status writes failed (retried at the next pass)", failed, len(outcomes)
        )
    if moves:
        summary = ", ".join(f"{count} → {state}" for state, count in sorted(moves.items()))
        _post(body, [Event("Normal", "MembersChanged", f"streams: {summary}")])


async def reconcile_once(
    runtime: Runtime,
    body: kopf.Body,
    memory: Memory,
    key: str,
    logger: kopf.Logger,
    pools: Container[tuple[str, str]] | None = None,
) -> float:
    """One pass; returns how long to sleep before the next one."""
    outcome = await guarded(runtime, logger, runtime.reconciler.reconcile(body, memory, pools))
    if isinstance(outcome, float):
        return outcome
    runtime.metrics.reconciles.labels("error" if outcome.status.get("lastError") else "ok").inc()
    runtime.metrics.set_state(key, outcome.lifecycle)
    _post(body, outcome.events)
    return runtime.settings.resync_seconds if outcome.settled else runtime.settings.progress_seconds


def has_topics(body: kopf.Body, **_: Any) -> bool:
    """A dedicated stream (a pooled one's events are in its pool's topics)."""
    return Stream.from_body(body, get_settings()).pool is None


@kopf.on.delete(GROUP, VERSION, PLURAL, backoff=5, when=has_topics)
@kopf.on.delete(GROUP, VERSION, pool_spec.PLURAL, backoff=5)
async def delete_topics(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Topics per ``spec.topicDeletionPolicy``; the rest goes with the owner references."""
    runtime = _runtime(memo)
    try:
        events = await runtime.reconciler.delete_topics(body)
    except (KubeError, KafkaAdminError) as exc:
        raise kopf.TemporaryError(f"cannot clean up the topics: {exc}", delay=5) from exc
    _post(body, events)
    runtime.metrics.forget(f"{body['metadata']['namespace']}/{body['metadata']['name']}")


@kopf.on.probe(id="reconciliation")
def liveness(memo: kopf.Memo, **_: Any) -> dict[str, Any]:
    """Fails (HTTP 500) when streams exist but no reconciliation finished within the stall window."""
    progress = _runtime(memo).progress
    idle = progress.idle_for()
    if progress.stalled():
        raise kopf.PermanentError(
            f"no reconciliation finished for {idle:.0f} s ({len(progress.active)} streams)"
        )
    return {"streams": len(progress.active), "idleSeconds": round(idle, 1)}
