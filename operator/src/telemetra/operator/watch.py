"""Children's watch events → their owner's loop: which stream or pool an event on a child concerns, and a
wake-up.

The operator watches what it owns (``handlers.child_changed``: Deployments, SparkApplications and ConfigMaps
labelled ``app.kubernetes.io/managed-by: telemetra-operator``). An event on a child marks that child *touched*
in its stream's :class:`~telemetra.operator.reconcile.Memory` (its next pass gives it the full treatment:
re-read, drift restored, readiness observed) and wakes the stream's loop, so a failed job or an edited child
shows in the stream's status within moments instead of at the next resync. The periodic full pass stays as a
safety net for whatever a watch missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telemetra.operator import pool_spec
from telemetra.operator.owner import MANAGER, OWNER_ANNOTATION, key_of
from telemetra.operator.reconcile import Memory
from telemetra.operator.spec import GROUP, KIND

CHILD_LABELS = {"app.kubernetes.io/managed-by": MANAGER}
OWNER_KINDS = (KIND, pool_spec.KIND)


def owner_key(child: Mapping[str, Any]) -> str | None:
    """The key of the stream or pool ``child`` belongs to (:attr:`telemetra.operator.owner.Owner.owner`): its
    controller owner reference (a same-namespace child), else its owner annotation (a child in another
    namespace); None for neither."""
    meta = child.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        group = str(ref.get("apiVersion") or "").split("/")[0]
        kind = ref.get("kind")
        if ref.get("controller") and group == GROUP and kind in OWNER_KINDS and ref.get("name"):
            return key_of(kind, str(meta.get("namespace")), ref["name"])
    owner = (meta.get("annotations") or {}).get(OWNER_ANNOTATION)
    return str(owner) if owner else None


def child_label(child: Mapping[str, Any]) -> str:
    """The child's label as a pass names it (``reconcile.Child.label``)."""
    meta = child.get("metadata") or {}
    return f"{child.get('kind')} {meta.get('namespace')}/{meta.get('name')}"


@dataclass(frozen=True)
class Loop:
    wakeup: asyncio.Event
    memory: Memory


class Loops:
    """The running loops of this process's streams and pools, by their key."""

    def __init__(self) -> None:
        self._loops: dict[str, Loop] = {}

    def register(self, key: str, wakeup: asyncio.Event, memory: Memory) -> None:
        self._loops[key] = Loop(wakeup, memory)

    def unregister(self, key: str) -> None:
        self._loops.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._loops

    def wake(self, key: str) -> bool:
        """Wake the loop of ``key``; whether there is one."""
        loop = self._loops.get(key)
        if loop is not None:
            loop.wakeup.set()
        return loop is not None

    def notify(self, child: Mapping[str, Any]) -> str | None:
        """Mark ``child`` touched and wake its owner's loop; the owner's key, or None when no loop of this
        process owns it (a child of a stream being created or deleted: its own pass sees the child anyway)."""
        key = owner_key(child)
        loop = self._loops.get(key) if key else None
        if loop is None:
            return None
        label = child_label(child)
        if _version(loop.memory.live.get(label)) == _version(child) is not None:
            return None  # the echo of the loop's own write (or read): nothing it has not seen
        loop.memory.touch(label)
        loop.wakeup.set()
        return key


def _version(obj: Mapping[str, Any] | None) -> str | None:
    return ((obj or {}).get("metadata") or {}).get("resourceVersion")
