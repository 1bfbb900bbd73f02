"""Operator scale: N TelemetraStreams applied at once → every child created and every stream Ready; the operator's
peak memory.

``--mode pooled`` (the default, as the chart deploys it): the streams join one TelemetraPool, ``default``; the
operator writes their records to the pool's control and sources topics on a Kafka broker the script starts
(topics through the Admin API), and each stream's only child is its dashboard. ``--mode dedicated``: each stream
gets its own job, topics and producer, as a stream with ``spec.dedicated`` does (the numbers before pools).

The script starts what it needs: a local Kubernetes control plane of its own (``telemetra.dev.kube``:
etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, with the upstream CRDs and ours), extra
kwok nodes so every producer pod can be scheduled (a node takes 110 pods), and the operator as a separate
process (``python -m telemetra.operator run``, the settings' defaults unless given: a full pass every 300 s,
3 s while a stream converges, at once on a child's watch event). Then, at t = 0, it creates ``--streams``
TelemetraStreams as fast as the API server takes them, while this process plays the Topic Operator and the
Spark operator: it marks each KafkaTopic Ready and each SparkApplication RUNNING as soon as it appears (the
status those operators write). kwok makes the producer pods Ready, the controller manager the Deployments
Available.

Reported: when every child existed, when every stream was Ready (``Ready=True`` for its current generation),
the operator's reconciliations and their durations (from its ``/metrics``), and its peak resident memory
(``VmHWM`` from ``/proc``).

``--alerts``: every stream has ``spec.alerts`` (two destinations naming one Secret), and the operator an alert
outbox in a PostgreSQL the script starts; reported also when every stream's ``AlertsReady`` was True. ``--idle S``:
once everything is Ready, S more seconds in which the API requests served are counted (the steady state: with
``--resync 10``, a full pass over every stream every 10 s).

Usage::

    .venv/bin/python bench/operator_scale.py [--streams 200] [--resync 300] [--progress 3] [--timeout 300]
                                             [--alerts] [--idle 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from telemetra.dev.kube.cluster import KubeCluster
from telemetra.dev.localstack.kafka import KafkaBroker
from telemetra.dev.localstack.postgres import PostgresServer
from telemetra.dev.testing import operator as t
from telemetra.operator.crd import CHART_PATH, POOL_CHART_PATH
from telemetra.operator.kube import Kube, KubeError
from telemetra.operator.owner import MANAGER

REPO = Path(__file__).resolve().parents[1]
PODS_PER_NODE = 110
TABLE = "application/json;as=Table;g=meta.k8s.io;v=v1"
CHILDREN_PER_STREAM = {
    "dedicated": {
        "KafkaTopic": 2,
        "ServiceAccount": 1,
        "ConfigMap": 2,
        "Deployment": 1,
        "SparkApplication": 1,
    },
    "pooled": {},  # on its pool's dashboard; its events in its pool's topics, its source in its shared producer
}
POOL_CHILDREN = (
    4  # the pool's SparkApplication, dashboard, and its shared producer's ServiceAccount and Deployment
)
DEDICATED = "dedicated-0"  # pooled mode: one stream with a job of its own besides the pools
DEDICATED_CHILDREN = (
    5  # its SparkApplication, dashboard, and its producer's ServiceAccount, ConfigMap, Deployment
)
POOL_LABEL = "bench.telemetra.io/pool"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--mode", choices=["pooled", "dedicated"], default="pooled")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=1000,
        help="pooled: streams per pool (the first pool is the default one, the others are named in spec.pool)",
    )
    parser.add_argument("--resync", type=float, default=300.0, help="TELEMETRA_OPERATOR_RESYNC_SECONDS")
    parser.add_argument("--progress", type=float, default=3.0, help="TELEMETRA_OPERATOR_PROGRESS_SECONDS")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    parser.add_argument(
        "--operator-env", action="append", default=[], metavar="KEY=VALUE", help="an operator setting (env)"
    )
    parser.add_argument("--work-dir", type=Path, help="keep the cluster's files (logs) here")
    parser.add_argument("--alerts", action="store_true", help="every stream with spec.alerts (an outbox too)")
    parser.add_argument("--idle", type=float, default=0.0, help="seconds of steady state measured at the end")
    return parser.parse_args(argv)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_mib(pid: int) -> float:
    """Peak resident set of a process, from /proc (kB → MiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def add_nodes(kube: Kube, pods: int) -> int:
    """kwok nodes for ``pods`` more pods (kwok manages every node; the scheduler spreads pods over them)."""
    resources = {"cpu": "32", "memory": "256Gi", "pods": str(PODS_PER_NODE), "ephemeral-storage": "1Ti"}
    count = -(-pods // PODS_PER_NODE)
    for i in range(count):
        name = f"kwok-bench-{i}"
        await kube.create(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok"},
                },
                "status": {"allocatable": resources, "capacity": resources},
            }
        )
    return count


async def play_strimzi_and_spark(kube: Kube, namespace: str, kafka: str, stop: asyncio.Event) -> None:
    """Mark every new KafkaTopic Ready and every new SparkApplication RUNNING, as their operators would."""
    done: set[str] = set()
    while not stop.is_set():
        topics = await kube.list(t.KAFKA_TOPIC, kafka)
        apps = await kube.list(t.SPARK_APP, namespace)
        work = [
            t.mark_topic_ready(kube, kafka, o["metadata"]["name"])
            for o in topics
            if f"topic/{o['metadata']['name']}" not in done
        ]
        work += [
            t.set_spark_state(
                kube, namespace, o["metadata"]["name"], "RUNNING", submission=f"sub-{o['metadata']['uid']}"
            )
            for o in apps
            if f"app/{o['metadata']['name']}" not in done
        ]
        await asyncio.gather(*work)
        done |= {f"topic/{o['metadata']['name']}" for o in topics} | {
            f"app/{o['metadata']['name']}" for o in apps
        }
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


async def count_children(kube: Kube, namespace: str, kafka: str) -> int:
    selector = f"app.kubernetes.io/managed-by={MANAGER}"
    total = 0
    for name, kind in t.kinds().items():
        where = kafka if name == "KafkaTopic" else namespace
        total += len(await kube.list(kind, where, label_selector=selector))
    return total


async def count_available(kube: Kube, namespace: str) -> int:
    """Producer Deployments the controller manager reports Available (kwok made their pods Ready)."""
    return sum(
        1
        for d in await kube.list(t.DEPLOYMENT, namespace)
        if any(
            c.get("type") == "Available" and c.get("status") == "True"
            for c in d.get("status", {}).get("conditions", [])
        )
    )


async def count_ready(kube: Kube, namespace: str) -> int:
    """Streams whose Ready printer column says True: asked as a Table without the objects, so that polling
    10,000 streams does not cost the API server their whole JSON every time (they are all at generation 1)."""
    try:
        return (await ready_column(kube, namespace)).count("True")
    except KubeError:  # a busy API server: the next poll asks again
        return -1


def pool_name(k: int) -> str:
    return "default" if k == 0 else f"pool-{k}"


async def ready_column(kube: Kube, namespace: str, selector: str | None = None) -> list[str]:
    """The Ready printer column of the streams (``selector``: a label selector), asked as a Table."""
    params = {"includeObject": "None", **({"labelSelector": selector} if selector else {})}
    table = await kube.request("GET", t.STREAM.path(namespace), params=params, accept=TABLE)
    column = [c["name"] for c in table["columnDefinitions"]].index("Ready")
    return [row["cells"][column] for row in table["rows"]]


async def failing_jobs(kube: Kube, namespace: str) -> dict[str, float]:
    """Issue 15: a SparkApplication set to FAILED shows in its streams' status. The dedicated stream's job,
    then the default pool's: seconds until its streams say Ready False."""
    out = {}
    started = time.monotonic()
    await t.set_spark_state(kube, namespace, f"telemetra-{DEDICATED}", "FAILED", submission="x", error="OOM")

    async def dedicated_failed() -> bool:
        body = await kube.get(t.STREAM, namespace, DEDICATED) or {}
        return bool(body.get("status", {}).get("lifecycleState") == "Failed")

    await t.wait_for(dedicated_failed, within=60, interval=0.05, what="the dedicated stream Failed")
    out["the dedicated stream Failed"] = time.monotonic() - started
    started = time.monotonic()
    await t.set_spark_state(kube, namespace, "telemetra-pool-default", "FAILED", submission="x", error="OOM")
    selector = f"{POOL_LABEL}=default"
    first = None
    while time.monotonic() - started < 120:
        column = await ready_column(kube, namespace, selector)
        failed = sum(1 for cell in column if cell == "False")
        if failed and first is None:
            first = out[f"the first of pool default's {len(column)} streams Ready False"] = (
                time.monotonic() - started
            )
        if failed == len(column):
            out[f"all {len(column)} of pool default's streams Ready False"] = time.monotonic() - started
            break
        await asyncio.sleep(0.1)
    return out


def operator_metrics(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"reconciles": 0.0, "errors": 0.0, "buckets": {}}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "telemetra_operator_reconciles_total":
                out["reconciles"] += sample.value
            elif sample.name == "telemetra_operator_reconcile_errors_total":
                out["errors"] += sample.value
            elif sample.name == "telemetra_operator_reconcile_duration_seconds_bucket":
                out["buckets"][float(sample.labels["le"])] = sample.value
            elif sample.name == "telemetra_operator_reconcile_duration_seconds_sum":
                out["seconds"] = sample.value
    return out


async def apiserver_requests(kube: Kube) -> dict[tuple[str, str], float]:
    """Requests served so far by (verb, resource), from the API server's own metrics."""
    text = await kube.request_text("/metrics")
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "apiserver_request":
            continue
        for sample in family.samples:
            if sample.name == "apiserver_request_total":
                key = (sample.labels.get("verb", ""), sample.labels.get("resource", ""))
                counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def quantile(buckets: dict[float, float], q: float) -> float:
    """Upper bound of the histogram bucket holding quantile ``q``."""
    total = buckets.get(float("inf"), 0.0)
    for bound in sorted(buckets):
        if buckets[bound] >= q * total:
            return bound
    return float("nan")


ALERTS = {
    "destinations": [
        {"name": "mods", "type": "discord", "urlFrom": {"name": "stream-alerts", "key": "discord-url"}},
        {
            "name": "editors",
            "type": "webhook",
            "url": "https://editors.example.com/hooks/telemetra",
            "signingSecretFrom": {"name": "stream-alerts", "key": "webhook-key"},
        },
    ],
    "rules": [{"name": "all", "destinations": ["mods", "editors"]}],
}


async def count_alerts_ready(kube: Kube, namespace: str) -> int:
    try:
        streams = await kube.list(t.STREAM, namespace)
    except KubeError:
        return -1
    return sum(1 for s in streams if t.condition(s, "AlertsReady").get("status") == "True")


async def run(
    args: argparse.Namespace, cluster: KubeCluster, log_dir: Path, bootstrap: str, outbox: str | None = None
) -> int:
    kube = t.client(cluster.server, cluster.ca_file, cluster.token)
    namespace, kafka = "streams", "kafka"
    pooled = args.mode == "pooled"
    try:
        for name in (namespace, kafka):
            await t.create_namespace(kube, name)
        await t.create_backend_secrets(kube, namespace)
        if outbox is not None:
            await t.create_secret(kube, namespace, "stream-alerts", {"discord-url": "x", "webhook-key": "k"})
        nodes = await add_nodes(kube, 1 if pooled else args.streams)
        env = cluster.env()
        pool_env = {
            "TELEMETRA_OPERATOR_DEFAULT_POOL": "default",
            "TELEMETRA_OPERATOR_TOPICS": "admin",
            "TELEMETRA_OPERATOR_KAFKA_BOOTSTRAP": bootstrap,
        }
        process = t.OperatorProcess(
            env,
            namespace,
            kafka,
            log_dir / "operator.log",
            resync_seconds=args.resync,
            progress_seconds=args.progress,
            extra_env={
                **(pool_env if pooled else {}),
                **({"TELEMETRA_OPERATOR_ALERTS_OUTBOX_URL": outbox} if outbox else {}),
                **dict(item.split("=", 1) for item in args.operator_env),
            },
            verbose=False,  # as the chart runs it (operator.verbose: false)
        )
        with process:
            await t.wait_for(lambda: t.operator_alive(process), within=60, what="operator liveness")
            baseline = vm_hwm_mib(process.pid)
            watched = {"operator": process.pid, **cluster.pids, "bench": os.getpid()}
            cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
            requests_before = await apiserver_requests(kube)
            stop = asyncio.Event()
            player = asyncio.create_task(play_strimzi_and_spark(kube, namespace, kafka, stop))
            pools = -(-args.streams // args.pool_size) if pooled else 0
            for k in range(pools):
                pool = {"apiVersion": "telemetra.io/v1alpha1", "kind": "TelemetraPool", "spec": {}}
                await kube.create({**pool, "metadata": {"name": pool_name(k), "namespace": namespace}})
            limit = asyncio.Semaphore(32)

            async def create(i: int) -> None:
                name = f"s{i:03d}"
                spec: dict[str, Any] = {"source": {"type": "mock", "mock": {"rate": 20}}}
                if outbox is not None:
                    spec["alerts"] = ALERTS
                labels = {}
                if pooled and i // args.pool_size:  # the first pool's streams join the default pool
                    spec["pool"] = pool_name(i // args.pool_size)
                if pooled:
                    labels[POOL_LABEL] = pool_name(i // args.pool_size)
                body = t.stream_manifest(name, **spec)
                async with limit:
                    await kube.create(
                        {**body, "metadata": {"name": name, "namespace": namespace, "labels": labels}}
                    )

            started = time.monotonic()
            if pooled:  # and one big channel on a job of its own
                body = t.stream_manifest(DEDICATED, dedicated=True, **({"alerts": ALERTS} if outbox else {}))
                await kube.create({**body, "metadata": {"name": DEDICATED, "namespace": namespace}})
            await asyncio.gather(*(create(i) for i in range(args.streams)))
            applied = time.monotonic() - started
            total = args.streams + (1 if pooled else 0)
            expected = args.streams * sum(CHILDREN_PER_STREAM[args.mode].values()) + (
                pools * POOL_CHILDREN + DEDICATED_CHILDREN if pooled else 0
            )
            children_at = ready_at = available_at = None
            while time.monotonic() - started < args.timeout:
                if children_at is None and await count_children(kube, namespace, kafka) >= expected:
                    children_at = time.monotonic() - started
                if available_at is None and await count_available(kube, namespace) == (
                    pools + 1 if pooled else args.streams
                ):
                    available_at = time.monotonic() - started
                if children_at is not None and await count_ready(kube, namespace) == total:
                    ready_at = time.monotonic() - started
                    break
                await asyncio.sleep(max(1.0, args.streams / 2000))  # listing 10,000 streams is itself load
            alerts_at = None
            while outbox is not None and ready_at is not None and time.monotonic() - started < args.timeout:
                if await count_alerts_ready(kube, namespace) == total:
                    alerts_at = time.monotonic() - started
                    break
                await asyncio.sleep(max(1.0, args.streams / 2000))
            stop.set()
            await player
            idle_served = None
            if args.idle and ready_at is not None:  # only the operator's requests now (and these two reads)
                idle_before = await apiserver_requests(kube)
                await asyncio.sleep(args.idle)
                idle_after = await apiserver_requests(kube)
                idle_served = {k: v - idle_before.get(k, 0.0) for k, v in idle_after.items()}
            failures = await failing_jobs(kube, namespace) if pooled and ready_at else {}
            peak = vm_hwm_mib(process.pid)
            cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in watched.items()}
            requests_after = await apiserver_requests(kube)
            _, text = await t.http_get(f"http://127.0.0.1:{process.metrics_port}/metrics")
            reasons = Counter(e.get("reason") for e in await kube.list(t.EVENT, namespace))
        stats = operator_metrics(text)
        print(
            f"streams: {args.streams} ({args.mode}"
            + (f", {pools} pools of ≤ {args.pool_size}, and 1 dedicated" if pooled else "")
            + f"); kwok nodes added: {nodes}; resync {args.resync} s, progress {args.progress} s"
        )
        print(f"created all {args.streams} TelemetraStreams in {applied:.1f} s")
        print(f"all {expected} children created: {_s(children_at)}")
        print(f"all producer Deployments Available (controller manager + kwok): {_s(available_at)}")
        print(f"all streams Ready: {_s(ready_at)}")
        if outbox is not None:
            print(f"all streams AlertsReady: {_s(alerts_at)}")
        for what, seconds in failures.items():
            print(f"SparkApplication FAILED → {what}: {seconds:.2f} s")
        print(f"operator peak RSS (VmHWM): {peak:.0f} MiB (idle before the streams: {baseline:.0f} MiB)")
        reconciles = stats["reconciles"]
        mean = stats.get("seconds", 0.0) / reconciles if reconciles else float("nan")
        print(
            f"reconciliations: {reconciles:.0f} ({stats['errors']:.0f} errors); duration mean {mean * 1000:.0f} ms, "
            f"p50 ≤ {quantile(stats['buckets'], 0.5)} s, p99 ≤ {quantile(stats['buckets'], 0.99)} s"
        )
        served = {k: v - requests_before.get(k, 0.0) for k, v in requests_after.items()}
        busiest = sorted(((v, k) for k, v in served.items() if v >= 1), reverse=True)[:12]
        print(
            f"API requests served: {sum(served.values()):.0f}; busiest: "
            + ", ".join(f"{verb} {resource} {count:.0f}" for count, (verb, resource) in busiest)
        )
        if idle_served is not None:
            busiest = sorted(((v, k) for k, v in idle_served.items() if v >= 1), reverse=True)[:12]
            print(
                f"API requests served in the {args.idle:.0f} s of steady state: {sum(idle_served.values()):.0f}; "
                + ", ".join(f"{verb} {resource} {count:.0f}" for count, (verb, resource) in busiest)
            )
        print("events posted, by reason: " + ", ".join(f"{r} {n}" for r, n in reasons.most_common()))
        print("CPU seconds while converging: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
        load = os.getloadavg()
        print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores)")
        return 0 if ready_at is not None else 1
    finally:
        await kube.close()


def _s(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else "not reached"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="telemetra-operator-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cluster = KubeCluster(work / "kube")
    cluster.start()
    try:
        cluster.apply_crds([REPO / CHART_PATH, REPO / POOL_CHART_PATH])
        with KafkaBroker(work / "kafka") as broker:  # the pools' control and sources topics
            if not args.alerts:
                return asyncio.run(run(args, cluster, work, broker.bootstrap))
            postgres = PostgresServer()  # the alert outbox
            postgres.start()
            try:
                outbox = postgres.create_database("alerts")
                return asyncio.run(run(args, cluster, work, broker.bootstrap, outbox))
            finally:
                postgres.cleanup()
    finally:
        cluster.cleanup()
        print(f"logs: {work}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
