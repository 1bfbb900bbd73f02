"""Observed state → conditions and lifecycle (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from telemetra.operator import status as st

T0, T1 = "2026-11-27T10:00:00Z", "2026-11-27T10:05:00Z"


def topic(generation: int = 1, observed: int | None = 1, **cond: str) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if observed is not None:
        status["observedGeneration"] = observed
    if cond:
        status["conditions"] = [cond]
    return {"metadata": {"name": "t", "generation": generation}, "status": status}


def test_strimzi_ready_needs_the_current_generation() -> None:
    assert st.observe_topic("t", topic(type="Ready", status="True")).check.status == "True"
    stale = st.observe_topic("t", topic(generation=2, observed=1, type="Ready", status="True"))
    assert stale.check.status == "Unknown"
    assert st.observe_topic("t", topic(observed=None)).check.reason == "Pending"
    failed = st.observe_topic(
        "t", topic(type="Ready", status="False", reason="PartitionDecrease", message="no")
    )
    assert (failed.check.status, failed.check.reason) == ("False", "PartitionDecrease")
    not_ready = st.observe_topic("t", topic(type="NotReady", status="True", reason="KafkaError"))
    assert not_ready.check.reason == "KafkaError"
    assert st.observe_topic("t", None).check.reason == "Missing"


def deployment(replicas: int, available: int, generation: int = 2, observed: int = 2) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "status": {
            "observedGeneration": observed,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": available,
        },
    }


def test_deployment_availability() -> None:
    assert st.observe_deployment(deployment(1, 1), 1).status == "True"
    assert st.observe_deployment(deployment(1, 0), 1).reason == "Progressing"
    assert st.observe_deployment(deployment(1, 1, generation=3), 1).status == "Unknown"
    assert st.observe_deployment(deployment(0, 0), 0).reason == "ScaledToZero"
    assert st.observe_deployment(deployment(1, 1), 0).reason == "ScalingDown"
    stuck = deployment(1, 0)
    stuck["status"]["conditions"] = [
        {"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "m"}
    ]
    assert st.observe_deployment(stuck, 1).status == "False"


@pytest.mark.parametrize(
    ("state", "suspended", "expected"),
    [
        ("RUNNING", False, ("True", "Running")),
        ("", False, ("Unknown", "Progressing")),
        ("SUBMITTED", False, ("Unknown", "Progressing")),
        ("PENDING_RERUN", False, ("Unknown", "Progressing")),
        ("FAILED", False, ("False", "SparkFailed")),
        ("SUBMISSION_FAILED", False, ("False", "SubmissionFailed")),
        ("COMPLETED", False, ("False", "UnexpectedCompletion")),
        ("SUSPENDED", False, ("Unknown", "Resuming")),
        ("SUSPENDED", True, ("False", "Suspended")),
        ("RUNNING", True, ("False", "Suspending")),
    ],
)
def test_spark_states(state: str, suspended: bool, expected: tuple[str, str]) -> None:
    check = st.processor_check(st.SparkObservation(True, state, "boom", "sub-1", 1), suspended, None)
    assert (check.status, check.reason) == expected


def test_a_restart_completes_with_a_new_submission() -> None:
    old = st.SparkObservation(True, "RUNNING", submission_id="sub-1")
    assert st.processor_check(old, False, "sub-1").reason == "Restarting"
    new = st.SparkObservation(True, "RUNNING", submission_id="sub-2")
    assert st.processor_check(new, False, "sub-1").status == "True"


def observation(**overrides: Any) -> st.Observation:
    ready = st.Check("True", "Ok")
    values: dict[str, Any] = {
        "generation": 4,
        "suspended": False,
        "topics": [st.TopicObservation("a", ready), st.TopicObservation("b", ready)],
        "producer": st.Check("True", "Available"),
        "spark": st.SparkObservation(True, "RUNNING", submission_id="s"),
        "dashboard": st.Check("True", "Provisioned"),
    }
    return st.Observation(**{**values, **overrides})


def test_ready_when_every_child_is_ready() -> None:
    status = st.build_status(observation(), {}, now=T0)
    assert status["lifecycleState"] == "Running"
    assert status["observedGeneration"] == 4
    kinds = [c["type"] for c in status["conditions"]]
    assert kinds == ["Ready", "TopicsReady", "ProducerReady", "ProcessorReady", "DashboardReady"]
    assert all(c["status"] == "True" and c["observedGeneration"] == 4 for c in status["conditions"])


def test_transition_time_moves_only_when_the_status_changes() -> None:
    first = st.build_status(observation(), {}, now=T0)
    same = st.build_status(observation(generation=5), first, now=T1)
    assert {c["lastTransitionTime"] for c in same["conditions"]} == {T0}
    assert {c["observedGeneration"] for c in same["conditions"]} == {5}
    failing = observation(spark=st.SparkObservation(True, "FAILED", "OOM", "s"))
    failed = st.build_status(failing, same, now=T1)
    by_type = {c["type"]: c for c in failed["conditions"]}
    assert by_type["ProcessorReady"]["lastTransitionTime"] == T1
    assert by_type["TopicsReady"]["lastTransitionTime"] == T0
    assert by_type["Ready"]["reason"] == "SparkFailed"
    assert "OOM" in by_type["Ready"]["message"]
    assert failed["lifecycleState"] == "Failed"


def test_lifecycle_states() -> None:
    pending = observation(topics=[st.TopicObservation("a", st.Check("Unknown", "Pending"))])
    assert st.build_status(pending, {})["lifecycleState"] == "Pending"
    assert st.build_status(pending, {"lifecycleState": "Running"})["lifecycleState"] == "Degraded"
    restarting = observation(superseded_submission_id="s")
    assert st.build_status(restarting, {})["lifecycleState"] == "Restarting"
    suspending = observation(suspended=True, producer=st.Check("True", "ScaledToZero"))
    assert st.build_status(suspending, {})["lifecycleState"] == "Suspending"
    suspended = observation(
        suspended=True,
        producer=st.Check("True", "ScaledToZero"),
        spark=st.SparkObservation(True, "SUSPENDED"),
    )
    status = st.build_status(suspended, {})
    assert status["lifecycleState"] == "Suspended"
    ready = st.condition(status, "Ready") or {}
    assert (ready["status"], ready["reason"]) == ("False", "Suspended")
    conflict = observation(conflicts=["KafkaTopic kafka/x belongs to TelemetraStream other/x"])
    assert st.build_status(conflict, {})["lifecycleState"] == "Failed"
    # resumed (spec.state back to running), the job not ready yet: Resuming, not Pending, until it is Running
    resuming = observation(spark=st.SparkObservation(True, "RESUMING"))
    for previous in ("Suspended", "Suspending", "Resuming"):
        assert st.build_status(resuming, {"lifecycleState": previous})["lifecycleState"] == "Resuming"
    assert st.build_status(observation(), {"lifecycleState": "Resuming"})["lifecycleState"] == "Running"


def test_status_is_written_only_when_it_changes() -> None:
    status = st.build_status(observation(), {}, now=T0)
    again = st.build_status(observation(), status, now=T1)
    assert not st.status_changed(status, again)
    assert st.status_changed(status, st.build_status(observation(generation=5), status, now=T1))
    assert not st.status_changed({}, {"lastError": None})


def test_the_operators_own_update_is_updating_not_degraded() -> None:
    rolling = observation(generation=5, producer=st.Check("Unknown", "Progressing"))
    running = st.build_status(observation(), {}, now=T0)
    assert running["lifecycleState"] == "Running" and running["observedGeneration"] == 4
    updating = st.build_status(rolling, running, now=T1)  # a spec change the children still roll out
    assert updating["lifecycleState"] == "Updating"
    assert st.build_status(rolling, updating)["lifecycleState"] == "Updating"  # the next passes too
    assert st.build_status(observation(generation=5), updating)["lifecycleState"] == "Running"
    restarted = observation(generation=5, topics=[st.TopicObservation("a", st.Check("Unknown", "Pending"))])
    assert st.build_status(restarted, {"lifecycleState": "Restarting"})["lifecycleState"] == "Updating"
    # the same without a spec change is something else's doing; a failure during an update is not an update
    assert (
        st.build_status(observation(producer=st.Check("Unknown", "Progressing")), running)["lifecycleState"]
        == "Degraded"
    )
    stuck = observation(generation=5, producer=st.Check("False", "ProgressDeadlineExceeded"))
    assert st.build_status(stuck, updating)["lifecycleState"] == "Degraded"


def test_missing_secrets_name_the_secret_and_who_needs_it() -> None:
    assert st.secrets_check("team", []) is None
    check = st.secrets_check("team", [("Deployment team/p", "helix"), ("SparkApplication team/s", "helix")])
    assert check is not None and (check.status, check.reason) == ("False", "SecretMissing")
    assert (
        check.message
        == "Secret team/helix does not exist (Deployment team/p, SparkApplication team/s need it)"
    )
    status = st.build_status(observation(producer=check), {"lifecycleState": "Running"})
    ready = st.condition(status, "Ready") or {}
    assert (ready["status"], ready["reason"]) == ("False", "SecretMissing")
    assert status["lifecycleState"] == "Degraded"  # not Failed: it recovers by itself once the Secret exists
