"""Which existing objects a stream may write (pure): its owner reference is proof, the annotation is a fallback."""

from __future__ import annotations

from typing import Any

from telemetra.operator.owner import OWNER_ANNOTATION
from telemetra.operator.reconcile import foreign_owner

from .test_builders import make


def live(annotation: str | None = None, **controller: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x", "namespace": "team"}
    if annotation:
        meta["annotations"] = {OWNER_ANNOTATION: annotation}
    if controller:
        ref = {
            "apiVersion": "telemetra.io/v1alpha1",
            "kind": "TelemetraStream",
            "controller": True,
            **controller,
        }
        meta["ownerReferences"] = [ref]
    return {"kind": "Deployment", "metadata": meta}


def test_the_owner_reference_is_proof_and_the_annotation_a_fallback() -> None:
    stream = make()  # team/demo, uid uid-1
    assert foreign_owner(stream, live(name="demo", uid="uid-1")) is None  # annotation removed: still ours
    assert foreign_owner(stream, live("team/other", name="demo", uid="uid-1")) is None
    assert (
        foreign_owner(stream, live("team/demo")) is None
    )  # a KafkaTopic in another namespace, a retained one
    assert foreign_owner(stream, live("team/demo", name="demo", uid="old")) is None  # a former incarnation's


def test_an_object_someone_else_holds_is_a_conflict() -> None:
    stream = make()
    assert "exists and is not managed" in str(foreign_owner(stream, live()))
    assert "belongs to TelemetraStream team/other" in str(foreign_owner(stream, live("team/other")))
    other = live("team/demo", name="other", uid="uid-2")  # the annotation does not override the controller
    assert "is controlled by TelemetraStream other" in str(foreign_owner(stream, other))
    foreign = live(kind="ReplicaSet", name="demo", uid="uid-3", apiVersion="apps/v1")
    assert "is controlled by ReplicaSet demo" in str(foreign_owner(stream, foreign))
    assert foreign_owner(stream, live(name="demo", uid="old")) is not None  # a former incarnation's, unmarked
