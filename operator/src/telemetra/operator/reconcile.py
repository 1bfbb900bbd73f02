"""One level-based pass over a TelemetraStream: desired children (pure builders) vs. live ones → converge →
observe → status.

Every child has a deterministic name, so a pass can run any number of times, concurrently with a crash and
restart, without creating duplicates. A child is written only when it is missing or differs from what the
builders render (server-side apply, field manager ``telemetra-operator``).

A *full* pass reads every child and reverts drift; it runs first, after every spec change and once per resync
interval. In between, while a stream converges, *light* passes re-read only the children whose readiness is
still pending (topics, the Deployment, the SparkApplication) and reuse what the last pass saw of the others,
which keeps the API server's load proportional to what is actually changing. A child named by a watch event
since the last pass (``Memory.touched``, :mod:`telemetra.operator.watch`) gets the full treatment in any pass.
The SparkApplication is special: every change of its spec restarts the job, so it is applied only when the hash of
its rendered spec differs from the one on the live object, or when someone edited the live object (drift). Before
such a patch the replaced submission id is written to status first (a write-ahead note), so a crash right after
the patch cannot make the old, still-running submission look like the restarted job.

Only what someone else changed is drift. Every child carries the hash of what the operator rendered when it
wrote it (:func:`telemetra.operator.diff.stamped`): a child that differs while its hash is still current was
edited by someone else and is *restored* (a ``ChildRestored`` Warning); one whose hash is stale is *updated* to
the stream's new spec (a ``ChildUpdated`` Normal event). A child is the stream's when its controller owner
reference names the stream, whatever its annotations say; where none does (KafkaTopics in another namespace,
children of a deleted stream of the same name), the owner annotation decides. The Secrets the children refer
to are checked by name on a full pass, and on every pass while one is missing (``SecretMissing``); their values
are never read.

Topics are KafkaTopic children in ``strimzi`` mode. In ``admin`` mode they are no Kubernetes objects: a full
pass (and a light one while they are not ready) ensures them through the Kafka Admin API
(:mod:`telemetra.operator.kafka_admin`), and since Kafka keeps no owner mark on a topic, this process keeps the
claims (:class:`TopicClaims`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Container, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from telemetra.operator import alerts, job_metrics, members, policy, pool_spec
from telemetra.operator import status as st
from telemetra.operator.alert_sync import AlertSync
from telemetra.operator.builders import dashboard, producer, spark, topics
from telemetra.operator.diff import drift, rendering_changed, stamped
from telemetra.operator.job_metrics import JobMetrics
from telemetra.operator.kafka_admin import KafkaAdmin, KafkaAdminError
from telemetra.operator.kube import Kube, KubeError, kind_for, kind_of
from telemetra.operator.metrics import Metrics
from telemetra.operator.owner import MANAGER, OWNER_ANNOTATION, Owner, key_of, owner_label
from telemetra.operator.pool import Pool
from telemetra.operator.pool_log import PoolLog
from telemetra.operator.secret_refs import secret_names
from telemetra.operator.settings import OperatorSettings
from telemetra.operator.spec import API_VERSION, KIND
from telemetra.operator.stream import Stream

T = TypeVar("T")
log = logging.getLogger("telemetra.operator")
STREAM_KIND = kind_of(API_VERSION, KIND)
POOL_KIND = kind_of(API_VERSION, pool_spec.KIND)
SECRET_KIND = kind_of("v1", "Secret")
RENDERED = spark.HASH_ANNOTATION  # every child carries the hash of what the operator rendered (diff.stamped)
EventType = Literal["Normal", "Warning"]
METRICS_INTERVAL = 10.0  # seconds between two reads of a pool's job metrics


@dataclass(frozen=True)
class Event:
    type: EventType
    reason: str
    message: str


@dataclass
class Child:
    """What happened to one child in this pass."""

    desired: Mapping[str, Any]
    live: Mapping[str, Any] | None = None
    # "created", "updated" (the operator's rendering changed) or "restored" (someone else changed it)
    action: str | None = None
    conflict: str | None = None
    error: str | None = None
    refused: str | None = None  # the policy refuses the desired object: it is never applied

    def __post_init__(self) -> None:
        self.desired = stamped(self.desired, RENDERED)

    @property
    def label(self) -> str:
        meta = self.desired["metadata"]
        return f"{self.desired['kind']} {meta['namespace']}/{meta['name']}"

    def ref(self) -> dict[str, str]:
        meta = self.desired["metadata"]
        api_version, kind = self.desired["apiVersion"], self.desired["kind"]
        return {"apiVersion": api_version, "kind": kind, "name": meta["name"], "namespace": meta["namespace"]}


@dataclass(frozen=True)
class KafkaTopics:
    """``admin`` mode: the stream's topics as one pass left them in Kafka (empty in ``strimzi`` mode)."""

    observations: Sequence[st.TopicObservation] = ()
    conflicts: Sequence[str] = ()
    error: str | None = None

    @property
    def ready(self) -> bool:
        return not (self.conflicts or self.error) and all(o.check.status == "True" for o in self.observations)


@dataclass(frozen=True)
class SecretCheck:
    """The Secrets the children refer to that do not exist (by child label), as one pass found them."""

    missing: Mapping[str, Sequence[str]] = field(default_factory=dict)
    error: str | None = None

    @property
    def settled(self) -> bool:
        return not (self.missing or self.error)


class TopicClaims:
    """``admin`` mode: which stream owns each Kafka topic name, in this process (Kafka keeps no owner mark on a
    topic). Seeded at start-up by :meth:`Reconciler.claim_existing`, oldest stream first; then the first stream
    to ask gets a name, and keeps it until its loop ends (the stream is deleted)."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}  # topic → the key of its owner (Owner.owner)

    def claim(self, owner: Owner, names: Sequence[str]) -> dict[str, str]:
        """Claim ``names`` for ``owner``, all or none; those another owner holds, with that owner."""
        taken = {
            name: holder for name in names if (holder := self._owners.get(name, owner.owner)) != owner.owner
        }
        if not taken:
            self._owners.update(dict.fromkeys(names, owner.owner))
        return taken

    def release(self, owner: Owner, names: Sequence[str]) -> None:
        for name in names:
            if self._owners.get(name) == owner.owner:
                del self._owners[name]


@dataclass
class Outcome:
    status: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    written: bool = False

    @property
    def lifecycle(self) -> st.LifecycleState:
        state: st.LifecycleState = self.status["lifecycleState"]
        return state

    @property
    def settled(self) -> bool:
        """Nothing to wait for soon: the loop can sleep for the full resync interval. (A Failed stream waits
        for a person or for the Spark operator's own retries; an API error is retried sooner.)"""
        return self.lifecycle in ("Running", "Suspended", "Failed") and not self.status.get("lastError")


@dataclass
class Memory:
    """What one stream's loop keeps between passes (in kopf's per-object memo)."""

    live: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # child label → last object seen
    kafka_topics: KafkaTopics | None = None  # admin mode: the topics as the last pass left them
    secrets: SecretCheck | None = None  # the Secrets as the last check found them
    quiet: set[str] = field(default_factory=set)  # children that need no re-read until the next full pass
    # children a watch event named since the last pass began: the next pass gives them the full treatment
    touched: set[str] = field(default_factory=set)
    generation: int | None = None
    full_at: float = -math.inf
    # The status this loop last wrote. This loop is the status's only writer, so this is the stream's status,
    # even while kopf's view of the stream still waits for the watch to deliver the write.
    status: Mapping[str, Any] | None = None

    def needs_full_pass(self, generation: int, resync_seconds: float) -> bool:
        return self.generation != generation or time.monotonic() - self.full_at >= resync_seconds

    def touch(self, label: str) -> None:
        self.touched.add(label)
        self.quiet.discard(label)

    def take_touched(self) -> set[str]:
        touched, self.touched = self.touched, set()
        return touched

    def previous_status(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        if self.status is not None:
            return self.status
        status: Mapping[str, Any] = body.get("status") or {}
        return status


@dataclass
class PoolMemory(Memory):
    """What one pool's loop keeps between passes: also what its control and sources topics hold."""

    written: dict[members.Key, bytes] | None = None  # None: not read back from Kafka yet
    # the members whose status this loop writes: owner → (what it depended on, the status written)
    member_inputs: dict[str, tuple[Any, Mapping[str, Any]]] = field(default_factory=dict)
    members_full_at: float = -math.inf  # the full pass whose member statuses were checked against the index
    metrics: JobMetrics | None = None  # the job's events/s and lag, as last read
    metrics_at: float = -math.inf


@dataclass
class MemberOutcome:
    """A pooled stream's status as its pool's pass wrote it (``error``: the write failed)."""

    member: members.Member
    inputs: tuple[Any, ...]
    previous: Mapping[str, Any]
    status: dict[str, Any]
    error: str | None = None

    @property
    def events(self) -> list[Event]:
        """The stream's own transition Event when the cause is the stream's own (a conflict over its id, or its
        end); the rest (joining, running, suspended, and whatever its pool went through, which the pool's own
        Events report) is summed up on the pool, one Event a pass: a failed pool job is not a thousand
        Warnings."""
        before, after = self.previous.get("lifecycleState"), self.status["lifecycleState"]
        own = any(
            (st.condition(status, "ProcessorReady") or {}).get("reason") in members.OWN_REASONS
            for status in (self.previous, self.status)
        )
        return [transition_event(before, after, self.status)] if before != after and own else []


@dataclass
class PoolOutcome(Outcome):
    view: members.PoolView | None = None
    changed: set[str] = field(default_factory=set)
    """The stream ids whose records this pass wrote."""


@dataclass
class Pass:
    """One pass over one owner: what it started from, and the events it has to post."""

    owner: Owner
    memory: Memory
    previous: Mapping[str, Any]
    full: bool
    touched: set[str]
    events: list[Event] = field(default_factory=list)

    @property
    def stream(self) -> Stream:
        assert isinstance(self.owner, Stream)
        return self.owner

    @property
    def pool(self) -> Pool:
        assert isinstance(self.owner, Pool)
        return self.owner

    def visits(self, child: Child) -> bool:
        """Whether ``child`` gets the full treatment in this pass."""
        return self.full or child.label in self.touched


def foreign_owner(owner: Owner, live: Mapping[str, Any]) -> str | None:
    """Why ``live`` must not be touched: another object controls it, or it belongs to another owner, or to no
    owner at all. An owner reference that makes this owner the controller is proof enough: the operator's
    annotations missing or edited are drift, restored like any other. Without one (KafkaTopics in another
    namespace, or a child of a deleted owner of the same name, which this one adopts), the owner annotation
    decides."""
    meta = live.get("metadata") or {}
    controller = next((ref for ref in meta.get("ownerReferences") or [] if ref.get("controller")), None)
    if controller is not None and controller.get("uid") == owner.uid:
        return None
    label = f"{live.get('kind')} {meta.get('namespace')}/{meta.get('name')}"
    if controller is not None and not owner.named_by(controller):
        return f"{label} is controlled by {controller.get('kind')} {controller.get('name')}"
    annotated = (meta.get("annotations") or {}).get(OWNER_ANNOTATION)
    if annotated == owner.owner:
        return None
    if annotated:
        return f"{label} belongs to {owner_label(annotated)}"
    return f"{label} exists and is not managed by Telemetra"


class Reconciler:
    def __init__(self, kube: Kube, settings: OperatorSettings, metrics: Metrics):
        self.kube, self.settings, self.metrics = kube, settings, metrics
        self.kafka = (
            KafkaAdmin(settings.default_bootstrap, settings.kafka_timeout_seconds)
            if settings.topics == "admin"
            else None
        )
        self.claims = TopicClaims()
        self.pool_log = PoolLog(settings.default_bootstrap, settings.kafka_timeout_seconds)
        self.alerts = AlertSync(kube, settings)
        self.pools: dict[str, members.PoolView] = {}  # pool key → what its last pass saw, for its streams

    async def claim_existing(self) -> None:
        """``admin`` mode, at start-up: the streams and pools that exist claim their topics, the ones that held
        them before (their status shows no TopicConflict) first, then oldest first, so a younger one with the same
        id never touches them, whichever loop runs first. One list request per kind."""
        if self.kafka is None:
            return
        namespace = self.settings.watch_namespace or None
        bodies = [
            *await self.kube.list(STREAM_KIND, namespace),
            *await self.kube.list(POOL_KIND, namespace),
        ]
        for body in sorted(bodies, key=_claim_order):
            owner = self.owner_of(body)
            self.claims.claim(owner, [t.name for t in topics.topic_specs(owner)])

    def owner_of(self, body: Mapping[str, Any]) -> Owner:
        """The stream or the pool ``body`` is."""
        if body.get("kind") == pool_spec.KIND:
            return Pool.from_body(body, self.settings)
        return Stream.from_body(body, self.settings)

    def forget(self, body: Mapping[str, Any]) -> None:
        """The loop of a stream or pool has ended (deleted, or the operator stops): its topic names are free."""
        owner = self.owner_of(body)
        self.claims.release(owner, [t.name for t in topics.topic_specs(owner)])

    async def close(self) -> None:
        await self.pool_log.close()
        await self.alerts.close()
        if self.kafka is not None:
            await self.kafka.close()

    # -- one pass ------------------------------------------------------------------------------------------
    async def reconcile(
        self,
        body: Mapping[str, Any],
        memory: Memory | None = None,
        pools: Container[tuple[str, str]] | None = None,
    ) -> Outcome:
        """One pass over a stream: its children (a dedicated stream's topics and job, or a pooled stream's
        place in its pool), then its status. ``pools``: the ``(namespace, name)`` of every TelemetraPool there
        is (None: unknown), which tells a pool that does not exist from one whose loop has not run yet."""
        stream = Stream.from_body(body, self.settings)
        memory = memory if memory is not None else Memory()
        previous = memory.previous_status(body)
        full = memory.needs_full_pass(stream.generation, self.settings.resync_seconds)
        touched = memory.take_touched()
        if full:
            memory.quiet.clear()
        pass_ = Pass(stream, memory, previous, full, touched)
        if stream.pool is None:
            children, observation = await self._dedicated(pass_)
        else:
            children, observation = await self._pooled(pass_, members.member_of(stream, body), pools)
        found = self.alerts.verdicts.get(stream.owner)
        has_alerts = stream.spec.alerts is not None
        alerts_check = alerts.condition_of(has_alerts, found, stream.generation, previous)
        observation = dataclasses.replace(observation, alerts=alerts_check)
        new_status = st.build_status(observation, previous)
        events = pass_.events + missing_secret_events(previous, new_status)
        self._remember(memory, stream, children, st.checks_of(observation), observation.topics, full)
        outcome = Outcome(new_status, events)
        if st.status_changed(previous, new_status):
            await self._write_status(stream, new_status, memory)
            outcome.written = True
        before, after = previous.get("lifecycleState"), new_status["lifecycleState"]
        if before != after:
            outcome.events.append(transition_event(before, after, new_status))
        return outcome

    async def _dedicated(self, p: Pass) -> tuple[list[Child], st.Observation]:
        """A stream with a job of its own: its topics, producer, SparkApplication and dashboard."""
        stream, memory, previous = p.stream, p.memory, p.previous
        topic_children = [] if self.kafka else [Child(t) for t in topics.build_topics(stream)]
        producer_children = [Child(c) for c in producer.build_producer(stream)]
        app = Child(spark.build_spark_application(stream))
        board = Child(dashboard.build_dashboard(stream))
        same_namespace = [*producer_children, *([board] if stream.own_dashboard else [])]

        refused = policy.violations(stream.spec.spark, self.settings.image_registries)
        ensure_spark = (
            self._refuse_spark(stream, app, refused, previous)
            if refused
            else self._ensure_spark(stream, app, previous, memory)
        )
        spark_task = asyncio.create_task(self._visit(app, memory, p.visits(app), ensure_spark))
        kafka_task = asyncio.create_task(self._kafka_topics(stream, memory, p.full))
        users = [*producer_children, *([] if refused else [app])]
        secrets_task = asyncio.create_task(self._check_secrets(stream, users, memory, p.full))
        try:
            await self._converge(p, [*topic_children, *same_namespace], board)
        finally:
            spark_result = await spark_task
            kafka_topics = await kafka_task
            secrets = await secrets_task
        spark_events, superseded = spark_result or ([], previous.get("supersededSubmissionId"))
        p.events += spark_events
        p.events += self._children_events([*topic_children, *same_namespace, app], previous)
        observation = self._observe(
            stream, topic_children, kafka_topics, producer_children, app, board, superseded, secrets
        )
        return [*topic_children, *same_namespace, app], observation

    async def _pooled(
        self, p: Pass, member: members.Member, pools: Container[tuple[str, str]] | None
    ) -> tuple[list[Child], st.Observation]:
        """A stream in a pool: its pool's pass writes its settings (and source) to the pool's topics; here,
        its own producer if it needs one, its dashboard, and its place in the pool as that pass left it."""
        stream, memory = p.stream, p.memory
        assert stream.pool is not None
        producer_children = (
            [] if stream.shared_producer else [Child(c) for c in producer.build_producer(stream)]
        )
        board = Child(dashboard.build_dashboard(stream))
        same_namespace = [*producer_children, *([board] if stream.own_dashboard else [])]
        secrets_task = asyncio.create_task(self._check_secrets(stream, producer_children, memory, p.full))
        try:
            await self._converge(p, same_namespace, board)
        finally:
            secrets = await secrets_task
        p.events += self._children_events(same_namespace, p.previous)

        view = self.pools.get(key_of(pool_spec.KIND, stream.namespace, stream.pool))
        if view is None and pools is not None and (stream.namespace, stream.pool) in pools:
            # the pool exists, and its loop has not reported yet (the operator just started): no news
            topics_check, processor, producer_check = (
                _previous(p.previous, kind) for kind in ("TopicsReady", "ProcessorReady", "ProducerReady")
            )
        elif view is None:
            missing = members.missing_pool(stream.namespace, stream.pool)
            topics_check = processor = producer_check = missing
        else:
            topics_check, processor, producer_check = members.place(member, view)
        if producer_children:
            deployment = producer_children[-1]
            own = (
                _failed(deployment)
                if deployment.error or deployment.conflict
                else _secrets_missing(stream, producer_children, secrets)
            )
            replicas = deployment.desired["spec"]["replicas"]
            producer_check = own or st.observe_deployment(deployment.live, replicas)
        errors = [c.error for c in same_namespace if c.error] + ([secrets.error] if secrets.error else [])
        observation = member_observation(
            member,
            stream.pool,
            (topics_check, processor, producer_check),
            dashboard=self._dashboard_check(stream, board),
            children=[c.ref() for c in same_namespace],
            error="; ".join(errors)[: st.MAX_MESSAGE] if errors else None,
        )
        return same_namespace, observation

    # -- one pass over a pool ------------------------------------------------------------------------------
    async def reconcile_pool(
        self, body: Mapping[str, Any], memory: PoolMemory, candidates: Iterable[members.Member]
    ) -> PoolOutcome:
        """One pass over a pool: its topics, shared producer and SparkApplication; then its members' records
        (once the topics are ready); then its status. ``candidates``: the streams that name the pool."""
        pool = Pool.from_body(body, self.settings)
        previous = memory.previous_status(body)
        full = memory.needs_full_pass(pool.generation, self.settings.resync_seconds)
        touched = memory.take_touched()
        if full:
            memory.quiet.clear()
        p = Pass(pool, memory, previous, full, touched)
        topic_children = [] if self.kafka else [Child(t) for t in topics.build_topics(pool)]
        producer_children = [Child(c) for c in producer.build_pool_producer(pool)]
        board = Child(dashboard.build_pool_dashboard(pool))
        app = Child(spark.build_spark_application(pool))
        refused = policy.violations(pool.spec.spark, self.settings.image_registries)
        ensure_spark = (
            self._refuse_spark(pool, app, refused, previous)
            if refused
            else self._ensure_spark(pool, app, previous, memory)
        )
        spark_task = asyncio.create_task(self._visit(app, memory, p.visits(app), ensure_spark))
        kafka_task = asyncio.create_task(self._kafka_topics(pool, memory, full))
        try:
            await asyncio.gather(
                *(
                    self._visit(child, memory, p.visits(child), self._ensure(pool, child))
                    for child in [*topic_children, *producer_children, board]
                )
            )
        finally:
            spark_result = await spark_task
            kafka_topics = await kafka_task
        spark_events, superseded = spark_result or ([], previous.get("supersededSubmissionId"))
        everything = [*topic_children, *producer_children, board, app]
        p.events += spark_events + self._children_events(everything, previous)

        topic_observations = _topic_observations(topic_children, kafka_topics)
        conflicts = [c.conflict for c in topic_children if c.conflict] + list(kafka_topics.conflicts)
        chosen, left_out = members.elect(candidates)
        ready = not conflicts and all(t.check.status == "True" for t in topic_observations)
        synced, changed = await self._sync_members(pool, memory, members.desired_records(chosen), ready)
        if time.monotonic() - memory.metrics_at >= METRICS_INTERVAL:
            memory.metrics_at = time.monotonic()
            memory.metrics = await job_metrics.scrape(
                self.kube, pool.namespace, app.live, pool.name, self.settings.job_metrics_port
            )
        deployment = producer_children[-1]
        errors = [c.error for c in everything if c.error] + (
            [kafka_topics.error] if kafka_topics.error else []
        )
        observation = st.PoolObservation(
            generation=pool.generation,
            topics=topic_observations,
            producer=_failed(deployment)
            if deployment.error or deployment.conflict
            else st.observe_deployment(deployment.live, deployment.desired["spec"]["replicas"]),
            spark=st.SparkObservation(exists=False)
            if app.error or app.conflict or app.refused
            else st.observe_spark(app.live),
            streams=len(chosen),
            members=synced,
            job=memory.metrics,
            superseded_submission_id=superseded,
            spark_spec_hash=None
            if app.refused
            else app.desired["metadata"]["annotations"][spark.HASH_ANNOTATION],
            executor_selector=spark.executor_selector(pool),
            conflicts=conflicts,
            error="; ".join(errors)[: st.MAX_MESSAGE] if errors else None,
            processor_override=_failed(app) if (app.error or app.conflict or app.refused) else None,
        )
        new_status = st.build_pool_status(observation, previous)
        checks = st.pool_checks(observation)
        self._remember(memory, pool, everything, checks, topic_observations, full)
        view = members.PoolView(
            pool.name,
            topics=checks["TopicsReady"],
            processor=observation.processor_override
            or st.processor_check(observation.spark, False, superseded),
            producer=checks["ProducerReady"],
            written=dict(memory.written or {}),
            left_out=left_out,
        )
        outcome = PoolOutcome(new_status, p.events, view=view, changed=changed)
        if st.status_changed(previous, new_status):
            await self._write_status(pool, new_status, memory)
            outcome.written = True
        return outcome

    async def write_member_statuses(
        self,
        pool: Pool,
        view: members.PoolView | None,
        candidates: Iterable[members.Member],
        memory: PoolMemory,
        looped: Container[str],
    ) -> list[MemberOutcome]:
        """The statuses of the pool's streams that have no loop of their own (``looped``: the owners that have
        one), where their place in the pool changed (``view`` None: the pool is gone): at most
        ``member_status_concurrency`` writes at a time. A member whose inputs (its generation, its place in the
        pool) are as they were when its status was last written is skipped without building its status; a full
        pass (every ``resync_seconds``) compares every member's status again."""
        if memory.full_at != memory.members_full_at:
            memory.members_full_at = memory.full_at
            memory.member_inputs.clear()
        present, todo = set(), []
        for member in candidates:
            present.add(member.owner)
            if (
                member.owner in looped
            ):  # its own loop writes its status (and may have since the pool last did)
                memory.member_inputs.pop(member.owner, None)
                continue
            if view is None:
                missing = members.missing_pool(pool.namespace, pool.name)
                checks = (missing, missing, missing)
            else:
                checks = members.place(member, view)
            found = self.alerts.verdicts.get(member.owner)
            inputs = (member.generation, checks, found if member.has_alerts else None)
            if memory.member_inputs.get(member.owner, (None, None))[0] == inputs:
                continue
            previous = memory.member_inputs.get(member.owner, (None, member.status))[1]
            alerts_check = alerts.condition_of(member.has_alerts, found, member.generation, previous)
            observation = member_observation(
                member, pool.name, checks, on_pool_dashboard(pool.name), alerts=alerts_check
            )
            status = st.build_status(observation, previous)
            if st.status_changed(previous, status):
                todo.append(MemberOutcome(member, inputs, previous, status))
            else:
                memory.member_inputs[member.owner] = (inputs, previous)
        for gone in memory.member_inputs.keys() - present:  # deleted
            del memory.member_inputs[gone]
            self.metrics.forget(gone)
        limit = asyncio.Semaphore(self.settings.member_status_concurrency)

        async def write(outcome: MemberOutcome) -> None:
            member = outcome.member
            namespace, name = member.owner.split("/", 1)
            async with limit:
                try:
                    await self.kube.patch(
                        STREAM_KIND,
                        namespace,
                        name,
                        {"status": outcome.status},
                        subresource="status",
                    )
                except KubeError as exc:  # compared with the object's own status at the next pass
                    memory.member_inputs.pop(member.owner, None)
                    outcome.error = str(exc)
                    return
            memory.member_inputs[member.owner] = (outcome.inputs, outcome.status)

        await asyncio.gather(*(write(outcome) for outcome in todo))
        return todo

    async def _sync_members(
        self, pool: Pool, memory: PoolMemory, desired: Mapping[members.Key, bytes], ready: bool
    ) -> tuple[st.Check, set[str]]:
        """Write what the pool's control and sources topics lack; how that went, and the stream ids written."""
        if not ready:
            return st.Check("Unknown", "WaitingForTopics", "the pool's topics are not ready yet"), set()
        try:
            if memory.written is None:
                memory.written = await self.pool_log.read(pool.topics)
            todo = members.changes(memory.written, desired)
            if todo:
                await self.pool_log.write(pool.topics, todo)
        except KafkaAdminError as exc:
            return st.Check("False", exc.reason, str(exc)), set()
        for key, value in todo.items():
            if value is None:
                memory.written.pop(key, None)
            else:
                memory.written[key] = value
        count = sum(1 for kind, _ in desired if kind == members.CONTROL)
        message = f"{count} streams' settings are in {pool.topics.control}"
        return st.Check("True", "Synced", message), {stream_id for _, stream_id in todo}

    async def _converge(self, p: Pass, children: Sequence[Child], board: Child) -> None:
        """Create, update or restore ``children``; remove the dashboard the stream had (its status says) and
        no longer wants."""
        stream = p.stream
        had = {(c.get("kind"), c.get("name")) for c in p.previous.get("children") or []}
        unwanted = not stream.own_dashboard and ("ConfigMap", stream.dashboard_name) in had
        await asyncio.gather(
            *(
                self._visit(child, p.memory, p.visits(child), self._ensure(stream, child))
                for child in children
            ),
            *([self._remove_dashboard(stream, board)] if unwanted else []),
        )

    def _children_events(self, children: Sequence[Child], previous: Mapping[str, Any]) -> list[Event]:
        known = {(c.get("kind"), c.get("namespace"), c.get("name")) for c in previous.get("children") or []}
        return [event for child in children for event in self._child_events(child, known)]

    async def _write_status(self, owner: Owner, status: Mapping[str, Any], memory: Memory) -> None:
        try:
            written = await self.kube.patch(
                kind_of(API_VERSION, owner.KIND),
                owner.namespace,
                owner.name,
                {"status": status},
                subresource="status",
            )
        except KubeError:
            # A write that timed out may still have been applied: until one succeeds, the status to compare
            # with is the object's own, as the watch delivers it, not the one this loop last wrote.
            memory.status = None
            raise
        memory.status = written.get("status") or {}

    # -- children ------------------------------------------------------------------------------------------
    async def _visit(
        self, child: Child, memory: Memory, full: bool, treatment: Coroutine[Any, Any, T]
    ) -> T | None:
        """The full ``treatment``; in a light pass, the last object seen (quiet children) or just a read. A
        child deleted meanwhile is forgotten, so the next pass gives it the full treatment (recreates it)."""
        label = child.label
        if full or label not in memory.live:
            return await treatment
        treatment.close()  # never started
        if label in memory.quiet:
            child.live = memory.live[label]
            return None
        meta = child.desired["metadata"]
        try:
            child.live = await self.kube.get(kind_for(child.desired), meta["namespace"], meta["name"])
        except KubeError as exc:
            child.error = f"{label}: {exc}"
        return None

    def _remember(
        self,
        memory: Memory,
        owner: Owner,
        children: Sequence[Child],
        checks: Mapping[str, st.Check],
        topics_seen: Sequence[st.TopicObservation],
        full: bool,
    ) -> None:
        """Which children the next light pass may skip: those without readiness, and the ready ones."""
        ready_topics = {t.name for t in topics_seen if t.check.status == "True"}
        for child in children:
            label, kind = child.label, child.desired["kind"]
            if child.live is None or child.error or child.conflict:
                memory.live.pop(label, None)
                continue
            memory.live[label] = child.live
            settled = {
                "KafkaTopic": child.desired["metadata"]["name"] in ready_topics,
                "Deployment": checks["ProducerReady"].status == "True",
                "SparkApplication": checks["ProcessorReady"].status == "True",
            }.get(kind, True)
            if settled:
                memory.quiet.add(label)
        if full:
            memory.generation, memory.full_at = owner.generation, time.monotonic()

    async def _ensure(self, owner: Owner, child: Child) -> None:
        """Create the child, update it when the operator's rendering changed, restore it when someone else
        changed it; never touch an object another owner holds."""
        desired = child.desired
        meta = desired["metadata"]
        try:
            live = await self.kube.get(kind_for(desired), meta["namespace"], meta["name"])
            if live is not None and (conflict := foreign_owner(owner, live)):
                child.live, child.conflict = live, conflict
                return
            if desired["kind"] == "KafkaTopic":
                desired = child.desired = topics.keep_partitions(desired, live)
            if live is None:
                child.action = "created"
            elif paths := drift(desired, live):
                child.action = "updated" if rendering_changed(desired, live, RENDERED) else "restored"
                log.info("%s %s at %s", child.label, _what(child.action), ", ".join(paths[:5]))
            else:
                child.live = live
                return
            child.live = await self.kube.apply(desired, manager=MANAGER)
        except KubeError as exc:
            child.error = f"{child.label}: {exc}"

    async def _ensure_spark(
        self, owner: Owner, child: Child, previous: Mapping[str, Any], memory: Memory
    ) -> tuple[list[Event], str | None]:
        """Apply the SparkApplication only if its spec hash changed or the live one was edited. A write that
        changes the spec restarts the job, so the submission it replaces is noted first; one that only restores
        metadata (an annotation someone removed) restarts nothing."""
        desired = child.desired
        meta = desired["metadata"]
        want = meta["annotations"][spark.HASH_ANNOTATION]
        superseded: str | None = previous.get("supersededSubmissionId")
        try:
            live = await self.kube.get(kind_for(desired), meta["namespace"], meta["name"])
            if live is not None and (conflict := foreign_owner(owner, live)):
                child.live, child.conflict = live, conflict
                return [], superseded
            have = ((live or {}).get("metadata", {}).get("annotations") or {}).get(spark.HASH_ANNOTATION)
            paths = drift(desired, live) if live is not None else []
            if live is not None and have == want and not paths:
                child.live = live
                return [], superseded
            cause = "created" if live is None else ("spec" if have not in (None, want) else "drift")
            if live is not None and (cause == "spec" or any(p.startswith(".spec") for p in paths)):
                superseded = (live.get("status") or {}).get("submissionID") or superseded
                note = {"supersededSubmissionId": superseded, "sparkSpecHash": want}
                await self._write_status(owner, note, memory)
            child.live = await self.kube.apply(desired, manager=MANAGER)
            self.metrics.spark_patches.labels(cause).inc()
            if cause == "created":
                child.action = "created"
                return [], None
            if cause == "drift":
                child.action = "restored"
                return [], superseded
            return [spark_change_event(owner, previous)], superseded
        except KubeError as exc:
            child.error = f"{child.label}: {exc}"
            return [], superseded

    async def _refuse_spark(
        self, owner: Owner, child: Child, refused: Sequence[str], previous: Mapping[str, Any]
    ) -> tuple[list[Event], str | None]:
        """The owner asks for Spark settings or an image the policy refuses (admitted under an older CRD, or
        an image outside the allowed registries): no SparkApplication runs for it. One this owner owns is
        deleted (its checkpoint is kept), so nothing keeps running from a spec the policy would refuse."""
        child.refused = "; ".join(refused)[: st.MAX_MESSAGE]
        meta = child.desired["metadata"]
        try:
            live = await self.kube.get(kind_for(child.desired), meta["namespace"], meta["name"])
            if live is not None and foreign_owner(owner, live) is None:
                await self.kube.delete(kind_for(child.desired), meta["namespace"], meta["name"])
                log.warning("%s deleted: %s", child.label, child.refused)
        except KubeError as exc:
            child.error = f"{child.label}: {exc}"
        before = st.condition(previous, "ProcessorReady") or {}
        if (before.get("reason"), before.get("message")) == ("PolicyViolation", child.refused):
            return [], None
        return [Event("Warning", "PolicyViolation", child.refused)], None

    async def _check_secrets(
        self, owner: Owner, users: Sequence[Child], memory: Memory, full: bool
    ) -> SecretCheck:
        """Which Secrets the children refer to do not exist: asked on a full pass, and on every pass while one
        is missing, so the owner recovers as soon as it appears. Only existence is asked, never a value."""
        last = memory.secrets
        if not full and last is not None and last.settled:
            return last
        needed = {child.label: secret_names(child.desired) for child in users}
        every = sorted({name for names in needed.values() for name in names})
        try:
            found = await asyncio.gather(*(self.kube.exists(SECRET_KIND, owner.namespace, n) for n in every))
        except KubeError as exc:
            result = SecretCheck(error=f"Secrets in {owner.namespace}: {exc}")
        else:
            absent = {name for name, there in zip(every, found, strict=True) if not there}
            missing = {label: [n for n in names if n in absent] for label, names in needed.items()}
            result = SecretCheck({label: names for label, names in missing.items() if names})
        memory.secrets = result
        return result

    async def _kafka_topics(self, owner: Owner, memory: Memory, full: bool) -> KafkaTopics:
        """``admin`` mode: ensure the topics in Kafka on a full pass, or while they are not ready yet."""
        last = memory.kafka_topics
        if self.kafka is None or (not full and last is not None and last.ready):
            return last or KafkaTopics()
        specs = topics.topic_specs(owner)
        if owner.kafka_bootstrap != self.kafka.bootstrap:
            message = (
                f"spec.kafka names cluster {owner.kafka_cluster} in namespace {owner.kafka_namespace}; this "
                f"operator manages topics through the Admin API of {self.kafka.bootstrap} only"
            )
            check = st.Check("False", "UnmanagedCluster", message)
            result = KafkaTopics([st.TopicObservation(t.name, check) for t in specs])
        elif taken := self.claims.claim(owner, [t.name for t in specs]):
            conflicts = [
                f"Kafka topic {name} belongs to {owner_label(holder)}" for name, holder in taken.items()
            ]
            result = KafkaTopics(conflicts=conflicts)
        else:
            try:
                result = KafkaTopics(await self.kafka.ensure(specs))
            except KafkaAdminError as exc:
                check = st.Check("False", exc.reason, str(exc))
                result = KafkaTopics([st.TopicObservation(t.name, check) for t in specs], error=str(exc))
        memory.kafka_topics = result
        return result

    async def _remove_dashboard(self, stream: Stream, child: Child) -> None:
        meta = child.desired["metadata"]
        try:
            live = await self.kube.get(kind_for(child.desired), meta["namespace"], meta["name"])
            if live is not None and foreign_owner(stream, live) is None:
                await self.kube.delete(kind_for(child.desired), meta["namespace"], meta["name"])
        except KubeError as exc:
            child.error = f"{child.label}: {exc}"

    def _child_events(self, child: Child, known: set[tuple[Any, Any, Any]]) -> list[Event]:
        if child.conflict:
            return [Event("Warning", "ChildConflict", child.conflict)]
        if child.error:
            return [Event("Warning", "ApplyFailed", child.error)]
        ref = child.ref()
        recreated = child.action == "created" and (ref["kind"], ref["namespace"], ref["name"]) in known
        if child.action == "updated":
            return [Event("Normal", "ChildUpdated", f"{child.label} updated to match the stream's spec")]
        if child.action == "restored" or recreated:
            self.metrics.restores.labels(child.desired["kind"]).inc()
            what = "was deleted; created it again" if recreated else "was edited; restored it"
            return [Event("Warning", "ChildRestored", f"{child.label} {what}")]
        return []  # a first creation is reported once, by the lifecycle transition

    # -- observation ---------------------------------------------------------------------------------------
    def _observe(
        self,
        stream: Stream,
        topic_children: Sequence[Child],
        kafka_topics: KafkaTopics,
        producer_children: Sequence[Child],
        app: Child,
        board: Child,
        superseded: str | None,
        secrets: SecretCheck,
    ) -> st.Observation:
        deployment = producer_children[-1]
        everything = [*topic_children, *producer_children, app, board]
        errors = [c.error for c in everything if c.error] + [
            e for e in (kafka_topics.error, secrets.error) if e
        ]
        topic_observations = _topic_observations(topic_children, kafka_topics)
        replicas = deployment.desired["spec"]["replicas"]
        producer_check = (
            _failed(deployment)
            if deployment.error or deployment.conflict
            else _secrets_missing(stream, producer_children, secrets)
        )
        spark_observation = (
            st.observe_spark(app.live) if not (app.error or app.conflict or app.refused) else None
        )
        children = [c.ref() for c in [*topic_children, *producer_children, *([] if app.refused else [app])]]
        if stream.own_dashboard:
            children.append(board.ref())
        return st.Observation(
            generation=stream.generation,
            suspended=stream.suspended,
            topics=topic_observations,
            producer=producer_check or st.observe_deployment(deployment.live, replicas),
            spark=spark_observation or st.SparkObservation(exists=False),
            dashboard=self._dashboard_check(stream, board),
            superseded_submission_id=superseded,
            spark_spec_hash=None
            if app.refused
            else app.desired["metadata"]["annotations"][spark.HASH_ANNOTATION],
            executor_selector=spark.executor_selector(stream),
            children=children,
            conflicts=[c.conflict for c in topic_children if c.conflict] + list(kafka_topics.conflicts),
            error="; ".join(errors)[: st.MAX_MESSAGE] if errors else None,
            processor_override=_failed(app)
            if (app.error or app.conflict or app.refused)
            else _secrets_missing(stream, [app], secrets),
        )

    @staticmethod
    def _dashboard_check(stream: Stream, board: Child) -> st.Check:
        if not stream.own_dashboard:
            if stream.pool:
                return on_pool_dashboard(stream.pool)
            return st.Check("True", "Disabled", "spec.dashboard.enabled is false")
        if board.error or board.conflict:
            return _failed(board)
        if board.live is None:
            return st.Check("False", "Missing", f"{board.label} does not exist")
        return st.Check("True", "Provisioned", f"{board.label} (folder {stream.spec.dashboard.folder!r})")

    # -- deletion ------------------------------------------------------------------------------------------
    async def delete_topics(self, body: Mapping[str, Any]) -> list[Event]:
        """The finalizer's work: KafkaTopics live in another namespace, so no owner reference covers them, and
        Kafka topics (``admin`` mode) are no Kubernetes objects at all."""
        owner = self.owner_of(body)
        if self.kafka is not None:
            return await self._delete_kafka_topics(owner, self.kafka)
        kept = owner.topic_deletion_policy == "retain"
        names = []
        for desired in topics.build_topics(owner):
            meta = desired["metadata"]
            live = await self.kube.get(kind_for(desired), meta["namespace"], meta["name"])
            if live is None or foreign_owner(owner, live) is not None:
                continue
            if not kept:
                await self.kube.delete(kind_for(desired), meta["namespace"], meta["name"])
            names.append(meta["name"])
        if not names:
            return []
        where = f"in namespace {owner.kafka_namespace}"
        if kept:
            return [
                Event(
                    "Normal",
                    "TopicsRetained",
                    f"kept {', '.join(names)} {where} (topicDeletionPolicy: retain)",
                )
            ]
        return [Event("Normal", "TopicsDeleted", f"deleted {', '.join(names)} {where}")]

    async def _delete_kafka_topics(self, owner: Owner, kafka: KafkaAdmin) -> list[Event]:
        """Only topics on the managed cluster that no older owner claims; the claims go with the owner."""
        if owner.kafka_bootstrap != kafka.bootstrap:
            return []
        names = [t.name for t in topics.topic_specs(owner)]
        taken = self.claims.claim(owner, names)
        mine = [name for name in names if name not in taken]
        where = f"in Kafka at {kafka.bootstrap}"
        if owner.topic_deletion_policy == "retain":
            message = f"kept {', '.join(mine)} {where} (topicDeletionPolicy: retain)"
            events = [Event("Normal", "TopicsRetained", message)] if mine else []
        else:
            deleted = await kafka.delete(mine) if mine else []
            events = (
                [Event("Normal", "TopicsDeleted", f"deleted {', '.join(deleted)} {where}")] if deleted else []
            )
        self.claims.release(owner, names)
        return events


def on_pool_dashboard(pool: str) -> st.Check:
    return st.Check("True", "Disabled", f"on pool {pool}'s dashboard")


def member_observation(
    member: members.Member,
    pool: str,
    place: tuple[st.Check, st.Check, st.Check],
    dashboard: st.Check,
    children: Sequence[Mapping[str, str]] = (),
    error: str | None = None,
    alerts: st.Check | None = None,
) -> st.Observation:
    """A pooled stream's observation: its place in the pool (TopicsReady, ProcessorReady, ProducerReady), its
    dashboard and the children of its own."""
    topics_check, processor, producer_check = place
    return st.Observation(
        generation=member.generation,
        suspended=member.suspended,
        topics=[],
        producer=producer_check,
        spark=st.SparkObservation(exists=False),
        dashboard=dashboard,
        children=children,
        error=error,
        processor_override=processor,
        topics_override=topics_check,
        pool=pool,
        alerts=alerts,
    )


def _claim_order(body: Mapping[str, Any]) -> tuple[bool, str, str, str]:
    """Streams that reported a topic conflict last, then oldest first (creation timestamps have a resolution of
    one second, so two streams made in the same second are told apart by what their status recorded)."""
    meta = body["metadata"]
    conditions = body.get("status", {}).get("conditions") or []
    conflicted = any(c.get("reason") == "TopicConflict" for c in conditions)
    return conflicted, meta.get("creationTimestamp") or "", meta["namespace"], meta["name"]


def _previous(status: Mapping[str, Any], kind: str) -> st.Check:
    """The condition ``kind`` as ``status`` has it (Unknown when it has none)."""
    found = st.condition(status, kind) or {}
    if not found:
        return st.Check("Unknown", "WaitingForPool", "waiting for the pool's first pass")
    return st.Check(found["status"], found["reason"], found.get("message", ""))


def _topic_observations(children: Sequence[Child], kafka_topics: KafkaTopics) -> list[st.TopicObservation]:
    """The topics' readiness: KafkaTopics as their Topic Operator reports it, or Kafka's (``admin`` mode)."""
    return [
        st.TopicObservation(c.desired["metadata"]["name"], _failed(c))
        if c.error or c.conflict
        else st.observe_topic(c.desired["metadata"]["name"], c.live)
        for c in children
    ] + list(kafka_topics.observations)


def _failed(child: Child) -> st.Check:
    if child.refused:
        return st.Check("False", "PolicyViolation", child.refused)
    if child.conflict:
        return st.Check("False", "ChildConflict", child.conflict)
    return st.Check("False", "ApplyFailed", child.error or "failed")


def _secrets_missing(stream: Stream, users: Sequence[Child], secrets: SecretCheck) -> st.Check | None:
    needs = [(c.label, name) for c in users for name in secrets.missing.get(c.label, ())]
    return st.secrets_check(stream.namespace, needs)


def _what(action: str) -> str:
    return "changed with the stream's spec; updating it" if action == "updated" else "drifted; restoring it"


def missing_secret_events(previous: Mapping[str, Any], status: Mapping[str, Any]) -> list[Event]:
    """A Warning when a condition starts saying that Secrets are missing (or which ones changes)."""
    events = []
    for kind in st.CONDITION_TYPES[1:]:
        now, before = st.condition(status, kind) or {}, st.condition(previous, kind) or {}
        said = (before.get("reason"), before.get("message"))
        if now.get("reason") == "SecretMissing" and said != (now["reason"], now.get("message")):
            events.append(Event("Warning", "SecretMissing", str(now.get("message"))))
    return events


def spark_change_event(owner: Owner, previous: Mapping[str, Any]) -> Event:
    if previous.get("lifecycleState") in ("Suspended", "Suspending") and not owner.suspended:
        return Event("Normal", "Resuming", "resuming the Spark job and the producer")
    if owner.suspended:
        return Event("Normal", "Suspending", "suspending the Spark job and scaling the producer to zero")
    return Event("Normal", "SparkRestarting", "the Spark job's spec changed (or restartNonce); it restarts")


def transition_event(before: str | None, after: str, status: Mapping[str, Any]) -> Event:
    ready = st.condition(status, "Ready") or {}
    message = f"{before or 'New'} → {after}: {ready.get('message', '')}".rstrip(": ")
    kind: EventType = "Warning" if after in ("Failed", "Degraded") else "Normal"
    return Event(kind, after, message)
