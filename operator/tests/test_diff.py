"""Drift detection between a desired child and the live object (pure)."""

from __future__ import annotations

from telemetra.operator.diff import drift


def test_server_defaults_are_not_drift() -> None:
    desired = {
        "kind": "Deployment",
        "metadata": {"labels": {"a": "1"}},
        "spec": {"replicas": 1, "x": [{"n": 1}]},
    }
    live = {
        "kind": "Deployment",
        "metadata": {"labels": {"a": "1", "extra": "y"}, "resourceVersion": "9"},
        "spec": {"replicas": 1, "progressDeadlineSeconds": 600, "x": [{"n": 1, "protocol": "TCP"}]},
        "status": {"replicas": 1},
    }
    assert drift(desired, live) == []


def test_edits_and_removals_are_drift() -> None:
    desired = {
        "metadata": {"annotations": {"o": "ns/a"}},
        "spec": {"replicas": 1, "x": [{"n": 1}], "flag": False},
    }
    assert drift(
        desired, {"metadata": {"annotations": {"o": "ns/a"}}, "spec": {"replicas": 3, "x": [{"n": 1}]}}
    ) == [
        ".spec.replicas",
        ".spec.flag",
    ]
    assert drift(desired, {"metadata": {}, "spec": {"replicas": 1, "x": [], "flag": False}}) == [
        ".metadata.annotations",
        ".spec.x",
    ]
    assert drift({"spec": {"flag": False}}, {"spec": {"flag": 0}}) == [".spec.flag"]
    assert drift({"data": {"k": "v"}}, {"data": {"k": "v2"}}) == [".data.k"]
