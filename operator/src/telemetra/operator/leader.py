"""Leader election on a ``coordination.k8s.io/v1`` Lease, so several operator replicas can run safely.

kopf's peering only pauses operators by priority (and needs its own CRDs); this is the usual Kubernetes
pattern instead. Before kopf starts, a replica *stands by* (answering its liveness endpoint) until it holds
the Lease: free, released, or not renewed for ``leaseDurationSeconds``. The leader renews it every third of the
duration; if it cannot renew before the lease would expire (or finds another holder), it exits at once, so
it never reconciles alongside a new leader; its pod restarts as a standby. On a clean shutdown it releases the
Lease, so a standby takes over immediately. Every write carries the ``resourceVersion`` it read: of two
replicas racing for a free Lease, one write wins and the other gets a conflict.

:func:`decide` is the pure rule; :class:`Elector` does the requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from aiohttp import web

from telemetra.operator.kube import Kube, KubeError, kind_of

LEASE = kind_of("coordination.k8s.io/v1", "Lease")
log = logging.getLogger("telemetra.operator.leader")
Decision = Literal["renew", "acquire", "wait"]


def identity() -> str:
    """Unique per process: the pod's name (the host name) and a random suffix."""
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def micro_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def decide(lease: Mapping[str, Any] | None, me: str, now: datetime) -> Decision:
    """What a replica may do with ``lease``: renew it (it holds it), acquire it (missing, released or
    expired), or wait (another replica holds it)."""
    spec = (lease or {}).get("spec") or {}
    holder = spec.get("holderIdentity")
    if holder == me:
        return "renew"
    renewed = _time(spec.get("renewTime")) or _time(spec.get("acquireTime"))
    duration = float(spec.get("leaseDurationSeconds") or 0)
    if not holder or renewed is None or (now - renewed).total_seconds() > duration:
        return "acquire"
    return "wait"


def lease_spec(me: str, duration: float, now: datetime, previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """The Lease's spec when ``me`` acquires (or renews) it at ``now``."""
    spec = dict((previous or {}).get("spec") or {})
    acquiring = spec.get("holderIdentity") != me
    return {
        "holderIdentity": me,
        "leaseDurationSeconds": max(1, round(duration)),
        "acquireTime": micro_time(now) if acquiring else spec.get("acquireTime", micro_time(now)),
        "renewTime": micro_time(now),
        "leaseTransitions": int(spec.get("leaseTransitions") or 0) + (1 if acquiring and spec else 0),
    }


class Elector:
    def __init__(self, kube: Kube, namespace: str, name: str, duration: float, me: str | None = None):
        self.kube, self.namespace, self.name, self.duration = kube, namespace, name, duration
        self.me = me or identity()

    async def try_acquire(self) -> bool:
        """One attempt: whether this replica holds the Lease afterwards."""
        now = datetime.now(UTC)
        lease = await self.kube.get(LEASE, self.namespace, self.name)
        if decide(lease, self.me, now) == "wait":
            return False
        spec = lease_spec(self.me, self.duration, now, lease)
        try:
            if lease is None:
                meta = {"name": self.name, "namespace": self.namespace}
                await self.kube.create(
                    {"apiVersion": LEASE.api_version, "kind": "Lease", "metadata": meta, "spec": spec}
                )
            else:
                version = lease["metadata"]["resourceVersion"]
                body = {"metadata": {"resourceVersion": version}, "spec": spec}
                await self.kube.patch(LEASE, self.namespace, self.name, body)
        except KubeError as exc:
            if exc.status in (409, 422):  # another replica wrote first
                return False
            raise
        return True

    async def acquire(self, retry: float) -> None:
        """Stand by until this replica holds the Lease."""
        while True:
            try:
                if await self.try_acquire():
                    log.info("leader: holding Lease %s/%s as %s", self.namespace, self.name, self.me)
                    return
            except KubeError as exc:
                log.warning("leader election: %s", exc)
            await asyncio.sleep(retry)

    async def keep(self, lost: Callable[[str], None]) -> None:
        """Renew every third of the duration; call ``lost`` when the lease is gone or cannot be renewed in time."""
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(self.duration / 3)
            try:
                if await self.try_acquire():
                    renewed = time.monotonic()
                    continue
                lost(f"Lease {self.namespace}/{self.name} is held by another replica")
                return
            except KubeError as exc:
                log.warning("cannot renew the Lease: %s", exc)
            if time.monotonic() - renewed > self.duration * 2 / 3:
                lost(f"Lease {self.namespace}/{self.name} not renewed for {time.monotonic() - renewed:.0f} s")
                return

    async def release(self) -> None:
        """Give the Lease up (a clean shutdown): a standby takes over at once."""
        with contextlib.suppress(KubeError):
            lease = await self.kube.get(LEASE, self.namespace, self.name)
            if lease is not None and (lease.get("spec") or {}).get("holderIdentity") == self.me:
                body = {
                    "metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]},
                    "spec": {"holderIdentity": None, "renewTime": None, "acquireTime": None},
                }
                await self.kube.patch(LEASE, self.namespace, self.name, body)


def exit_now(reason: str) -> None:
    """Leadership lost: stop at once (no cleanup that could still write), the pod restarts as a standby."""
    log.error("leader election: %s; exiting", reason)
    logging.shutdown()
    os._exit(3)


async def stand_by(elector: Elector, liveness_endpoint: str, retry: float) -> None:
    """Wait for leadership, answering the liveness endpoint meanwhile (a standby is alive)."""
    runner: web.AppRunner | None = None
    if liveness_endpoint:
        url = urlsplit(liveness_endpoint)

        async def healthz(_: web.Request) -> web.Response:
            return web.json_response({"standby": True, "lease": f"{elector.namespace}/{elector.name}"})

        app = web.Application()
        app.router.add_get(url.path or "/", healthz)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, url.hostname or "0.0.0.0", url.port or 80).start()
    try:
        log.info("standing by for Lease %s/%s as %s", elector.namespace, elector.name, elector.me)
        await elector.acquire(retry)
    finally:
        if runner is not None:
            await runner.cleanup()
