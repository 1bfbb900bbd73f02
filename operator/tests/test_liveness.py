"""The liveness probe fails when reconciliation stalls (pure: the tracker and the probe handler)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import kopf
import pytest

from telemetra.operator.handlers import liveness
from telemetra.operator.metrics import Metrics, Progress


def test_a_stall_is_no_reconciliation_finished_while_streams_exist() -> None:
    progress = Progress(stall_after=10)
    now = time.monotonic()
    assert not progress.stalled(now + 60)  # no streams: nothing can stall
    progress.started("ns/a")
    assert not progress.stalled(now + 5)
    assert progress.stalled(time.monotonic() + 11)
    progress.finished()
    assert not progress.stalled(time.monotonic() + 5)
    progress.stopped("ns/a")
    assert not progress.stalled(time.monotonic() + 60)


def test_the_probe_raises_when_stalled() -> None:
    progress = Progress(stall_after=10)
    memo = kopf.Memo(runtime=SimpleNamespace(progress=progress))
    progress.started("ns/a")
    assert liveness(memo=memo)["streams"] == 1
    progress.last_finished -= 11
    with pytest.raises(kopf.PermanentError, match="no reconciliation finished"):
        liveness(memo=memo)


def test_streams_by_state() -> None:
    metrics = Metrics()
    metrics.set_state("ns/a", "Running")
    metrics.set_state("ns/b", "Running")
    metrics.set_state("ns/c", "Suspended")
    metrics.forget("ns/b")
    value = metrics.registry.get_sample_value
    assert value("telemetra_operator_streams", {"state": "Running"}) == 1
    assert value("telemetra_operator_streams", {"state": "Suspended"}) == 1
    assert value("telemetra_operator_streams", {"state": "Failed"}) == 0
