"""Two replicas with leader election (a coordination.k8s.io Lease) against the real API server: only the Lease's
holder reconciles, the other stands by (alive, serving its liveness endpoint); killed with SIGKILL, the leader
is replaced within the lease duration. Plus the pure rule of who may take the Lease."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from telemetra.dev.kube.cluster import KubeCluster
from telemetra.dev.testing import operator as t
from telemetra.operator.kube import Kube
from telemetra.operator.leader import LEASE, decide, lease_spec, micro_time

from .conftest import Namespaces

LEASE_SECONDS = 4.0
SLACK = 4.0  # the standby's retry (≤ 2 s), kopf's start-up, a busy 2-core machine


@pytest.fixture
def replicas(
    kube_cluster: KubeCluster, namespaces: Namespaces, tmp_path: Path
) -> Iterator[list[t.OperatorProcess]]:
    env = {"TELEMETRA_OPERATOR_LEADER_ELECTION": "true", "TELEMETRA_OPERATOR_LEASE_DURATION_SECONDS": "4"}
    processes = [
        t.OperatorProcess(
            kube_cluster.env(),
            namespaces.streams,
            namespaces.kafka,
            tmp_path / f"operator-{i}.log",
            extra_env=env,
        )
        for i in range(2)
    ]
    for process in processes:
        process.start()
    try:
        yield processes
    finally:
        for process in processes:
            process.stop()
        for i, process in enumerate(processes):
            print(f"--- operator {i} log ---\n{process.log()[-10000:]}")


async def _leading(process: t.OperatorProcess) -> bool:
    """The leader runs kopf, which serves the operator's metrics; a standby does not."""
    status, _ = await t.http_get(f"http://127.0.0.1:{process.metrics_port}/metrics")
    return status == 200


async def test_only_the_lease_holder_reconciles_and_a_standby_takes_over(
    kube: Kube, namespaces: Namespaces, replicas: list[t.OperatorProcess]
) -> None:
    ns, kafka = namespaces.streams, namespaces.kafka
    for process in replicas:
        await t.wait_for(
            lambda p=process: t.operator_alive(p), within=30, what="liveness (leader or standby)"
        )

    async def one_leader() -> t.OperatorProcess | None:
        leading = [p for p in replicas if await _leading(p)]
        return leading[0] if len(leading) == 1 else None

    leader = await t.wait_for(one_leader, within=30, what="exactly one leader")
    standby = next(p for p in replicas if p is not leader)
    await t.run_ready(kube, ns, kafka, t.stream_manifest("led"))
    lease = await kube.get(LEASE, ns, "telemetra-operator")
    assert lease is not None
    first_holder = lease["spec"]["holderIdentity"]
    assert await t.operator_alive(standby) and not await _leading(standby)
    assert "standing by" in standby.log() and "Handler 'converge'" not in standby.log()

    leader.kill()
    started = time.monotonic()
    await t.wait_for(lambda: _leading(standby), within=LEASE_SECONDS + SLACK, interval=0.1, what="takeover")
    took = time.monotonic() - started
    print(f"the standby took over {took:.1f} s after the leader was killed (lease {LEASE_SECONDS:.0f} s)")
    lease = await kube.get(LEASE, ns, "telemetra-operator")
    assert lease is not None and lease["spec"]["holderIdentity"] not in (None, first_holder)
    assert lease["spec"]["leaseTransitions"] >= 1
    # the new leader reconciles: an existing stream's child failure, and a new stream
    await t.set_spark_state(kube, ns, "telemetra-led", "FAILED", submission="x", error="boom")
    await t.wait_condition(kube, ns, "led", "ProcessorReady", "False", reason="SparkFailed", within=10)
    await t.run_ready(kube, ns, kafka, t.stream_manifest("after"))


def test_who_may_take_the_lease() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    held = {"spec": lease_spec("a", 10, now - timedelta(seconds=5), None)}
    assert decide(None, "b", now) == "acquire"
    assert decide(held, "a", now) == "renew"
    assert decide(held, "b", now) == "wait"
    assert decide(held, "b", now + timedelta(seconds=6)) == "acquire"  # expired: 11 s since the renewal
    released = {"spec": {"holderIdentity": None, "renewTime": micro_time(now)}}
    assert decide(released, "b", now) == "acquire"
    taken = lease_spec("b", 10, now, held)
    assert taken["holderIdentity"] == "b" and taken["leaseTransitions"] == 1
    assert (
        lease_spec("b", 10, now + timedelta(seconds=3), {"spec": taken})["acquireTime"]
        == taken["acquireTime"]
    )
