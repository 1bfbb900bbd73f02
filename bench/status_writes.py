"""The API server's own floor for status writes: 1,000 TelemetraStreams' statuses patched on the dev control plane
with no operator running (whole statuses at 16 and 64 in flight, then one-field patches), timed, with the API
server's and etcd's CPU. It tells how fast any operator could show a pool's failure in 1,000 streams' status.

    .venv/bin/python bench/status_writes.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from operator_scale import cpu_seconds

from telemetra.dev.kube.cluster import KubeCluster
from telemetra.dev.testing import operator as t
from telemetra.operator.crd import CHART_PATH, POOL_CHART_PATH
from telemetra.operator.kube import Kube

REPO = Path(__file__).resolve().parents[1]
STREAMS = 1000
KINDS = ("Ready", "TopicsReady", "ProcessorReady", "ProducerReady", "DashboardReady")


def status(ready: str) -> dict[str, Any]:
    """A pooled stream's status as the operator writes it (five conditions, its pool)."""
    message = "pool default's Spark job processes the stream"
    conditions = [
        {"type": kind, "status": ready, "reason": "Running", "message": message,
         "lastTransitionTime": "2026-12-07T10:00:00Z", "observedGeneration": 1}
        for kind in KINDS
    ]  # fmt: skip
    return {"observedGeneration": 1, "lifecycleState": "Running", "pool": "default", "conditions": conditions}


async def timed(
    cluster: KubeCluster, what: str, write: Callable[[int], Awaitable[Any]], in_flight: int
) -> None:
    limit = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with limit:
            await write(i)

    api, etcd = cpu_seconds(cluster.pids["kube-apiserver"]), cpu_seconds(cluster.pids["etcd"])
    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(STREAMS)))
    seconds = time.monotonic() - started
    api = cpu_seconds(cluster.pids["kube-apiserver"]) - api
    etcd = cpu_seconds(cluster.pids["etcd"]) - etcd
    print(
        f"{what}, {in_flight} in flight: {STREAMS} in {seconds:.2f} s; API server CPU {api:.2f} s, etcd {etcd:.2f} s"
    )


async def run(cluster: KubeCluster) -> None:
    kube: Kube = t.client(cluster.server, cluster.ca_file, cluster.token)
    await t.create_namespace(kube, "s")

    async def create(i: int) -> None:
        body = t.stream_manifest(f"s{i:04d}", source={"type": "mock", "mock": {"rate": 20}})
        await kube.create({**body, "metadata": {"name": f"s{i:04d}", "namespace": "s"}})

    await timed(cluster, "creates", create, 32)
    for in_flight in (16, 64):
        for ready in ("False", "True"):
            whole = status(ready)

            async def patch(i: int, whole: dict[str, Any] = whole) -> None:
                await kube.patch(t.STREAM, "s", f"s{i:04d}", {"status": whole}, subresource="status")

            await timed(cluster, f"whole status patches (Ready={ready})", patch, in_flight)

    async def one_field(i: int) -> None:
        await kube.patch(
            t.STREAM, "s", f"s{i:04d}", {"status": {"lifecycleState": "Failed"}}, subresource="status"
        )

    await timed(cluster, "one-field status patches", one_field, 16)
    await kube.close()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="telemetra-status-writes-"))
    cluster = KubeCluster(work / "kube")
    cluster.start()
    try:
        cluster.apply_crds([REPO / CHART_PATH, REPO / POOL_CHART_PATH])
        asyncio.run(run(cluster))
    finally:
        cluster.cleanup()


if __name__ == "__main__":
    main()
