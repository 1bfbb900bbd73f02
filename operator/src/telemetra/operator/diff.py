"""Drift between a desired child and the live object (pure).

The live object carries everything the API server defaulted (``imagePullPolicy``, ``protocol`` …), so the
comparison is one-sided: a field the operator sets must hold the value it set; fields only the live object
has are left alone. Lists compare item by item and must keep their length. Whether a difference is the
operator's own update or someone else's edit is told by the hash of the rendering the child carries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

IGNORED_TOP_LEVEL = {"apiVersion", "kind", "metadata", "status"}
COMPARED_METADATA = ("labels", "annotations", "ownerReferences")


def differences(desired: Any, live: Any, path: str = "") -> list[str]:
    """Paths (``.spec.replicas``, ``.spec.template.spec.containers[0].image`` …) where ``live`` differs."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return [path or "."]
        found: list[str] = []
        for key, value in desired.items():
            found += differences(value, live.get(key), f"{path}.{key}")
        return found
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return [path]
        found = []
        for index, (want, have) in enumerate(zip(desired, live, strict=True)):
            found += differences(want, have, f"{path}[{index}]")
        return found
    if isinstance(desired, bool) or isinstance(live, bool):
        return [] if desired is live else [path]
    return [] if desired == live else [path]


def drift(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """What of ``desired`` (its metadata labels, annotations and owners, and everything but status) the live
    object does not hold."""
    found: list[str] = []
    meta, live_meta = desired.get("metadata") or {}, live.get("metadata") or {}
    for key in COMPARED_METADATA:
        if key in meta:
            found += differences(meta[key], live_meta.get(key), f".metadata.{key}")
    for key, value in desired.items():
        if key not in IGNORED_TOP_LEVEL:
            found += differences(value, live.get(key), f".{key}")
    return found


# -- whose change --------------------------------------------------------------------------------------------
# Drift says *that* a child differs, not *why*. Each child carries the hash of what the operator rendered when it
# last wrote it: when the rendering changed since (a spec edit, a new setting), the operator's write is an update;
# when it did not, someone else changed the child.


def rendered_hash(desired: Mapping[str, Any], key: str) -> str:
    """Stable across processes and key order; the annotation ``key`` itself is left out."""
    meta = dict(desired.get("metadata") or {})
    meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items() if k != key}
    canonical = json.dumps({**desired, "metadata": meta}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def stamped(desired: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``desired`` with its rendered hash in the annotation ``key`` (kept if the builder set one)."""
    meta = dict(desired["metadata"])
    annotations = dict(meta.get("annotations") or {})
    annotations.setdefault(key, rendered_hash(desired, key))
    return {**desired, "metadata": {**meta, "annotations": annotations}}


def rendering_changed(desired: Mapping[str, Any], live: Mapping[str, Any], key: str) -> bool:
    """Whether the operator's own rendering changed since it wrote ``live``: the hashes differ, or ``live`` has
    none (written before children were stamped)."""
    have = ((live.get("metadata") or {}).get("annotations") or {}).get(key)
    want: str = desired["metadata"]["annotations"][key]
    return have != want
