"""Observed state → status: conditions, lifecycle state and the rest of ``.status`` (pure, no I/O).

The reconciler reads every child, reduces each to an observation (:func:`observe_topic`,
:func:`observe_deployment`, :func:`observe_spark`) and :func:`build_status` turns those into the status
the operator writes. Conditions follow ``metav1.Condition``: ``lastTransitionTime`` moves only when the
status of a condition changes, and each carries the generation it was computed from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from telemetra.operator.job_metrics import JobMetrics
from telemetra.operator.spec import Model

ConditionStatus = Literal["True", "False", "Unknown"]
LifecycleState = Literal[
    "Pending",
    "Running",
    "Updating",
    "Restarting",
    "Degraded",
    "Failed",
    "Suspending",
    "Suspended",
    "Resuming",
]
CONDITION_TYPES = ("Ready", "TopicsReady", "ProducerReady", "ProcessorReady", "DashboardReady")
ALERTS_READY = "AlertsReady"  # on streams with spec.alerts only (telemetra.operator.alerts)
POOL_CONDITION_TYPES = ("Ready", "TopicsReady", "ProcessorReady", "ProducerReady")
MAX_MESSAGE = 1024

# SparkApplication ``status.applicationState.state`` (Kubeflow Spark operator v1beta2) by meaning.
SPARK_PROGRESSING = {"", "NEW", "SUBMITTED", "PENDING_RERUN", "INVALIDATING", "RESUMING", "UNKNOWN"}
SPARK_FAILED = {"FAILING", "FAILED", "SUBMISSION_FAILED"}
SPARK_SUSPENDED = {"SUSPENDING", "SUSPENDED"}
FAILURE_REASONS = {
    "SparkFailed",
    "SubmissionFailed",
    "UnexpectedCompletion",
    "ChildConflict",
    "TopicConflict",
    "UnmanagedCluster",
    "PolicyViolation",
    "StreamIdConflict",
}


# -- the status schema -------------------------------------------------------------------------------------
class Condition(Model):
    """One aspect of the stream's observed state (the ``metav1.Condition`` shape)."""

    type: str = Field(max_length=64)
    """Ready (the summary), TopicsReady, ProducerReady, ProcessorReady or DashboardReady; AlertsReady on a
    stream with ``spec.alerts``."""

    status: ConditionStatus
    """True, False or Unknown."""

    reason: str = Field(max_length=128)
    """One CamelCase word, for programs."""

    message: str = Field(default="", max_length=MAX_MESSAGE)
    """For humans."""

    last_transition_time: str = Field(json_schema_extra={"format": "date-time"})
    """When the status last changed."""

    observed_generation: int
    """The ``metadata.generation`` this condition was computed from."""


class ChildRef(Model):
    """A child object of the stream."""

    api_version: str = Field(max_length=253)
    """API version of the child."""

    kind: str = Field(max_length=63)
    """Kind of the child."""

    name: str = Field(max_length=253)
    """Name of the child."""

    namespace: str = Field(max_length=63)
    """Namespace of the child (KafkaTopics live in the Kafka cluster's namespace)."""


class TelemetraStreamStatus(Model):
    """Observed state, computed from the children's real state (never from what the operator asked)."""

    observed_generation: int | None = None
    """The generation the operator last reconciled."""

    lifecycle_state: LifecycleState | None = None
    """Pending, Running, Updating, Restarting, Degraded, Failed, Suspending, Suspended or Resuming."""

    conditions: list[Condition] | None = Field(
        default=None,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Ready summarises TopicsReady, ProducerReady, ProcessorReady and DashboardReady. AlertsReady (only on a
    stream with ``spec.alerts``: its alerts are stored for the alert dispatcher, and the Secrets they name
    exist) does not count toward Ready or the lifecycle state: alerts that cannot be delivered do not stop the
    stream."""

    children: list[ChildRef] | None = Field(default=None, max_length=16)
    """Every object the operator manages for this stream."""

    spark_spec_hash: str | None = Field(default=None, max_length=64)
    """Hash of the SparkApplication spec last applied; it is patched only when this changes, because
    every patch restarts the job."""

    spark_state: str | None = Field(default=None, max_length=32)
    """The SparkApplication's ``applicationState.state``."""

    superseded_submission_id: str | None = Field(default=None, max_length=128)
    """Spark submission replaced by the last applied spec: the job counts as restarted once another
    submission runs."""

    executors: int | None = None
    """Running executors (the scale subresource's status)."""

    executor_selector: str | None = Field(default=None, max_length=512)
    """Label selector of the executor pods (for the scale subresource and autoscalers)."""

    pool: str | None = Field(default=None, max_length=40)
    """The TelemetraPool that processes the stream; absent for a job of its own."""

    last_error: str | None = Field(default=None, max_length=MAX_MESSAGE)
    """The last reconciliation error, cleared by the next success."""


# -- observations ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One condition's verdict before timestamps: status, reason, message."""

    status: ConditionStatus
    reason: str
    message: str = ""


@dataclass(frozen=True)
class TopicObservation:
    name: str
    check: Check


@dataclass(frozen=True)
class SparkObservation:
    exists: bool
    state: str = ""
    error: str = ""
    submission_id: str | None = None
    executors: int = 0


@dataclass(frozen=True)
class Observation:
    """Everything :func:`build_status` needs, gathered by the reconciler."""

    generation: int
    suspended: bool
    topics: Sequence[TopicObservation]
    producer: Check
    spark: SparkObservation
    dashboard: Check
    superseded_submission_id: str | None = None
    spark_spec_hash: str | None = None
    executor_selector: str | None = None
    children: Sequence[Mapping[str, str]] = ()
    conflicts: Sequence[str] = ()
    error: str | None = None
    processor_override: Check | None = (
        None  # the SparkApplication could not be read or written; or the pool's
    )
    topics_override: Check | None = None  # a pooled stream: its pool's topics
    pool: str | None = None
    alerts: Check | None = None  # AlertsReady; None: no spec.alerts, no condition


def _conditions_of(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((obj.get("status") or {}).get("conditions") or [])


def observe_topic(name: str, obj: Mapping[str, Any] | None) -> TopicObservation:
    """Strimzi's own readiness test: ``Ready=True`` for the current ``metadata.generation``."""
    if obj is None:
        return TopicObservation(name, Check("False", "Missing", f"KafkaTopic {name} does not exist"))
    generation = obj.get("metadata", {}).get("generation")
    status = obj.get("status") or {}
    conditions = _conditions_of(obj)
    current = status.get("observedGeneration") == generation
    for cond in conditions:
        kind, value = cond.get("type"), cond.get("status")
        if current and kind == "Ready" and value == "True":
            return TopicObservation(name, Check("True", "Ready"))
        if current and ((kind == "Ready" and value == "False") or (kind == "NotReady" and value == "True")):
            reason = cond.get("reason") or "TopicNotReady"
            return TopicObservation(name, Check("False", reason, f"{name}: {cond.get('message') or reason}"))
        if kind in ("ReconciliationPaused", "Unmanaged") and value == "True":
            return TopicObservation(name, Check("False", kind, f"{name}: the Topic Operator reports {kind}"))
    return TopicObservation(
        name, Check("Unknown", "Pending", f"waiting for the Topic Operator to reconcile {name}")
    )


def observe_deployment(obj: Mapping[str, Any] | None, replicas: int) -> Check:
    """Available when the rollout of the current generation is complete (or scaled to zero)."""
    if obj is None:
        return Check("False", "Missing", "the producer Deployment does not exist")
    status = obj.get("status") or {}
    generation = obj.get("metadata", {}).get("generation")
    if status.get("observedGeneration", 0) < (generation or 0):
        return Check("Unknown", "Progressing", "the Deployment controller has not seen the latest spec yet")
    for cond in _conditions_of(obj):
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return Check("False", "ProgressDeadlineExceeded", cond.get("message") or "rollout stalled")
    updated, available = status.get("updatedReplicas", 0), status.get("availableReplicas", 0)
    total = status.get("replicas", 0)
    if replicas == 0:
        if total == 0:
            return Check("True", "ScaledToZero", "the producer is scaled to zero")
        return Check("Unknown", "ScalingDown", f"{total} producer pod(s) still running")
    if updated >= replicas and available >= replicas and total == updated:
        return Check("True", "Available", f"{available}/{replicas} producer replica(s) available")
    return Check("Unknown", "Progressing", f"{available}/{replicas} producer replica(s) available")


def observe_spark(obj: Mapping[str, Any] | None) -> SparkObservation:
    if obj is None:
        return SparkObservation(exists=False)
    status = obj.get("status") or {}
    app_state = status.get("applicationState") or {}
    executors = sum(1 for state in (status.get("executorState") or {}).values() if state == "RUNNING")
    return SparkObservation(
        exists=True,
        state=str(app_state.get("state") or ""),
        error=str(app_state.get("errorMessage") or ""),
        submission_id=status.get("submissionID") or None,
        executors=executors,
    )


# -- checks ------------------------------------------------------------------------------------------------
def topics_check(topics: Sequence[TopicObservation], conflicts: Sequence[str]) -> Check:
    if conflicts:
        return Check("False", "TopicConflict", "; ".join(conflicts))
    failed = [t for t in topics if t.check.status == "False"]
    if failed:
        return Check("False", failed[0].check.reason, _join(t.check.message for t in failed))
    pending = [t.check.message or t.name for t in topics if t.check.status != "True"]
    if pending:
        return Check("Unknown", "Pending", _join(pending))
    return Check(
        "True", "Ready", "all topics are ready: " + ", ".join(t.check.message or t.name for t in topics)
    )


def _join(messages: Iterable[str]) -> str:
    """Messages in order, each once (one Kafka error is the same for every topic)."""
    return "; ".join(dict.fromkeys(messages))


def secrets_check(namespace: str, needs: Sequence[tuple[str, str]]) -> Check | None:
    """``needs``: (child, Secret name) pairs whose Secret does not exist; ``None`` when there are none."""
    if not needs:
        return None
    missing = {name: [child for child, n in needs if n == name] for _, name in needs}
    message = "; ".join(
        f"Secret {namespace}/{name} does not exist ({', '.join(users)} need{'s' if len(users) == 1 else ''} it)"
        for name, users in missing.items()
    )
    return Check("False", "SecretMissing", message)


def processor_check(spark: SparkObservation, suspended: bool, superseded: str | None) -> Check:
    """The notes' mapping of ``applicationState.state``; a restart completes with a *new* submission."""
    state = spark.state
    if not spark.exists:
        if suspended:
            return Check("False", "Suspended", "the Spark job is suspended")
        return Check("False", "Missing", "the SparkApplication does not exist")
    if suspended:
        if state == "SUSPENDED":
            return Check("False", "Suspended", "the Spark job is suspended")
        return Check(
            "False", "Suspending", f"waiting for the Spark operator to suspend the job ({state or 'NEW'})"
        )
    if state == "RUNNING":
        if superseded is not None and spark.submission_id == superseded:
            return Check("Unknown", "Restarting", "waiting for the Spark operator to resubmit the job")
        return Check("True", "Running", "the Spark job is running")
    if state in SPARK_FAILED:
        reason = "SubmissionFailed" if state == "SUBMISSION_FAILED" else "SparkFailed"
        return Check("False", reason, spark.error or f"the Spark job is {state}")
    if state == "COMPLETED":
        return Check("False", "UnexpectedCompletion", "the streaming job completed; it should run forever")
    if state in SPARK_SUSPENDED:
        return Check("Unknown", "Resuming", f"waiting for the Spark operator to resume the job ({state})")
    return Check("Unknown", "Progressing", f"the Spark job is {state or 'NEW'}")


def ready_check(checks: Mapping[str, Check], suspended: bool) -> Check:
    if suspended:
        return Check("False", "Suspended", "the stream is suspended (spec.state: suspended)")
    not_ready = {kind: check for kind, check in checks.items() if check.status != "True"}
    if not not_ready:
        return Check("True", "Ready", "every child is ready")
    failed = [check for check in not_ready.values() if check.status == "False"]
    message = "; ".join(f"{kind}: {check.message or check.reason}" for kind, check in not_ready.items())
    return Check("False", failed[0].reason if failed else "Progressing", message)


def lifecycle_state(
    checks: Mapping[str, Check], suspended: bool, previous: str | None, spec_changed: bool = False
) -> LifecycleState:
    """``spec_changed``: the stream's generation is newer than the one the previous status observed. While the
    children roll out such a change (nothing failed, something still progressing), a stream that ran is
    Updating, not Degraded: the operator's own update is no fault."""
    if suspended:
        done = all(
            checks[k].reason in ("Suspended", "ScaledToZero") for k in ("ProcessorReady", "ProducerReady")
        )
        return "Suspended" if done else "Suspending"
    if checks["Ready"].status == "True":
        return "Running"
    if any(c.status == "False" and c.reason in FAILURE_REASONS for c in checks.values()):
        return "Failed"
    if checks["ProcessorReady"].reason == "Restarting":
        return "Restarting"
    progressing = all(check.status != "False" for kind, check in checks.items() if kind != "Ready")
    if progressing and (previous in ("Updating", "Restarting") or (spec_changed and previous == "Running")):
        return "Updating"
    if previous in ("Running", "Degraded", "Updating", "Restarting"):
        return "Degraded"
    if previous in ("Suspending", "Suspended", "Resuming"):
        return "Resuming"  # not Pending: the stream ran before and keeps its history and checkpoint
    return "Pending"


# -- status ------------------------------------------------------------------------------------------------
def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(
    previous: Sequence[Mapping[str, Any]],
    checks: Mapping[str, Check],
    generation: int,
    now: str,
    types: Sequence[str] = CONDITION_TYPES,
) -> list[dict[str, Any]]:
    """New conditions in ``types`` order; a transition time survives while the status holds."""
    before = {c.get("type"): c for c in previous}
    merged = []
    for kind in types:
        check = checks[kind]
        old = before.get(kind)
        since = old.get("lastTransitionTime") if old and old.get("status") == check.status else None
        merged.append(
            {
                "type": kind,
                "status": check.status,
                "reason": check.reason,
                "message": check.message[:MAX_MESSAGE],
                "lastTransitionTime": since or now,
                "observedGeneration": generation,
            }
        )
    return merged


def checks_of(obs: Observation) -> dict[str, Check]:
    checks = {
        "TopicsReady": obs.topics_override or topics_check(obs.topics, obs.conflicts),
        "ProducerReady": obs.producer,
        "ProcessorReady": obs.processor_override
        or processor_check(obs.spark, obs.suspended, obs.superseded_submission_id),
        "DashboardReady": obs.dashboard,
    }
    if obs.suspended and checks["ProducerReady"].reason == "ScaledToZero":
        checks["ProducerReady"] = Check("False", "Suspended", "the producer is scaled to zero")
    return {"Ready": ready_check(checks, obs.suspended), **checks}


def build_status(obs: Observation, previous: Mapping[str, Any], now: str | None = None) -> dict[str, Any]:
    """The whole ``.status`` to write (keys set to ``None`` are removed by a merge patch)."""
    checks = checks_of(obs)
    restarted = checks["ProcessorReady"].status == "True"
    spec_changed = previous.get("observedGeneration") not in (None, obs.generation)
    # AlertsReady is reported beside the others and judged apart: it counts toward neither Ready nor the state.
    types: tuple[str, ...] = CONDITION_TYPES
    conditioned = dict(checks)
    if obs.alerts is not None:
        types, conditioned = (*CONDITION_TYPES, ALERTS_READY), {**checks, ALERTS_READY: obs.alerts}
    return {
        "observedGeneration": obs.generation,
        "lifecycleState": lifecycle_state(
            checks, obs.suspended, previous.get("lifecycleState"), spec_changed
        ),
        "conditions": merge_conditions(
            previous.get("conditions") or [], conditioned, obs.generation, now or _now(), types
        ),
        "children": [dict(child) for child in obs.children],
        "sparkSpecHash": obs.spark_spec_hash,
        "sparkState": obs.spark.state or None,
        "supersededSubmissionId": None if restarted else obs.superseded_submission_id,
        "executors": obs.spark.executors,
        "executorSelector": obs.executor_selector,
        "pool": obs.pool,
        "lastError": obs.error,
    }


def status_changed(previous: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether writing ``new`` would change anything (absent and ``None`` are the same)."""
    return any(previous.get(key) != value for key, value in new.items())


def condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


# -- pools -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolObservation:
    """Everything :func:`build_pool_status` needs, gathered by a pass over a pool."""

    generation: int
    topics: Sequence[TopicObservation]
    producer: Check
    spark: SparkObservation
    streams: int
    members: Check
    """Whether the control and sources topics hold what the members ask (written in this pass or before)."""
    job: JobMetrics | None = None
    superseded_submission_id: str | None = None
    spark_spec_hash: str | None = None
    executor_selector: str | None = None
    conflicts: Sequence[str] = ()
    error: str | None = None
    processor_override: Check | None = None


def pool_checks(obs: PoolObservation) -> dict[str, Check]:
    processor = obs.processor_override or processor_check(obs.spark, False, obs.superseded_submission_id)
    if processor.status == "True" and obs.members.status != "True":
        processor = obs.members
    checks = {
        "TopicsReady": topics_check(obs.topics, obs.conflicts),
        "ProcessorReady": processor,
        "ProducerReady": obs.producer,
    }
    return {"Ready": ready_check(checks, False), **checks}


def build_pool_status(
    obs: PoolObservation, previous: Mapping[str, Any], now: str | None = None
) -> dict[str, Any]:
    """The pool's whole ``.status`` to write (keys set to ``None`` are removed by a merge patch)."""
    checks = pool_checks(obs)
    restarted = checks["ProcessorReady"].status == "True"
    conditions = merge_conditions(
        previous.get("conditions") or [], checks, obs.generation, now or _now(), POOL_CONDITION_TYPES
    )
    return {
        "observedGeneration": obs.generation,
        "conditions": conditions,
        "streams": obs.streams,
        "eventsPerSecond": f"{obs.job.events_per_second:g}" if obs.job else None,
        "lag": obs.job.lag if obs.job else None,
        "sparkSpecHash": obs.spark_spec_hash,
        "sparkState": obs.spark.state or None,
        "supersededSubmissionId": None if restarted else obs.superseded_submission_id,
        "executors": obs.spark.executors,
        "executorSelector": obs.executor_selector,
        "lastError": obs.error,
    }
