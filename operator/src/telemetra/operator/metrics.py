"""The operator's own Prometheus metrics (kopf has none) and the reconcile-progress tracker of the liveness
probe."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from telemetra.operator.status import LifecycleState

DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STATES: tuple[LifecycleState, ...] = (
    "Pending", "Running", "Updating", "Restarting", "Degraded", "Failed", "Suspending", "Suspended",
    "Resuming",
)  # fmt: skip


class Metrics:
    """One registry per operator (tests may build several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.reconciles = Counter(
            "telemetra_operator_reconciles",
            "Reconciliations of a TelemetraStream, by result.",
            ["result"],
            registry=r,
        )
        self.errors = Counter(
            "telemetra_operator_reconcile_errors",
            "Reconciliation errors, by kind (api: a request the API server refused or that failed).",
            ["kind"],
            registry=r,
        )
        self.duration = Histogram(
            "telemetra_operator_reconcile_duration_seconds",
            "Time to reconcile one TelemetraStream (read children, apply changes, write status).",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.restores = Counter(
            "telemetra_operator_child_restores",
            "Children created again or reverted after a deletion or an edit (drift), by kind.",
            ["kind"],
            registry=r,
        )
        self.spark_patches = Counter(
            "telemetra_operator_spark_patches",
            "SparkApplication patches (each one restarts the job), by cause.",
            ["cause"],
            registry=r,
        )
        self.states: dict[str, LifecycleState] = {}  # "<namespace>/<name>" → lifecycle state
        r.register(_StatesCollector(self))

    def set_state(self, key: str, state: LifecycleState) -> None:
        self.states[key] = state

    def forget(self, key: str) -> None:
        self.states.pop(key, None)

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)


class _StatesCollector(Collector):
    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "telemetra_operator_streams",
            "TelemetraStreams handled by this operator, by lifecycle state.",
            labels=["state"],
        )
        counts = Tally(self.metrics.states.values())
        for state in STATES:
            family.add_metric([state], counts.get(state, 0))
        yield family


class Progress:
    """When a reconciliation last finished; the liveness probe fails when streams exist but none has
    finished for ``stall_after`` seconds (a stuck event loop, API connection or watch)."""

    def __init__(self, stall_after: float):
        self.stall_after = stall_after
        self.active: set[str] = set()
        self.last_finished = time.monotonic()

    def started(self, key: str) -> None:
        if not self.active:
            self.last_finished = time.monotonic()  # the first stream after an idle period is not a stall
        self.active.add(key)

    def stopped(self, key: str) -> None:
        self.active.discard(key)

    def finished(self) -> None:
        self.last_finished = time.monotonic()

    def idle_for(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.last_finished

    def stalled(self, now: float | None = None) -> bool:
        return bool(self.active) and self.idle_for(now) > self.stall_after
