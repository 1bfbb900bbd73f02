"""Drift detection between a desired child and the live object (pure)."""

from __future__ import annotations

from telemetra.operator.diff import drift, rendered_hash, rendering_changed, stamped


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


def test_the_rendered_hash_tells_the_operators_updates_from_someone_elses_edits() -> None:
    key = "telemetra.io/spec-hash"
    desired = stamped({"kind": "Deployment", "metadata": {"name": "p"}, "spec": {"replicas": 1}}, key)
    assert desired["metadata"]["annotations"][key] == rendered_hash(desired, key)  # the stamp is left out
    applied = {**desired, "status": {}}
    edited = {**applied, "spec": {"replicas": 3}}
    assert drift(desired, edited) and not rendering_changed(desired, edited, key)  # someone else: drift
    spec_change = stamped({**desired, "metadata": {"name": "p"}, "spec": {"replicas": 0}}, key)
    assert drift(spec_change, applied) and rendering_changed(spec_change, applied, key)  # the operator's own
    unstamped = {"kind": "Deployment", "metadata": {"name": "p"}, "spec": {"replicas": 1}}
    assert rendering_changed(desired, unstamped, key)  # written before children were stamped
    assert stamped({"metadata": {"annotations": {key: "set-by-builder"}}}, key)["metadata"][
        "annotations"
    ] == {key: "set-by-builder"}
