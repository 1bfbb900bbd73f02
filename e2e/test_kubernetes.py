"""The Kubernetes journey on real pods: `make cluster` → the images → the Spark operator and the telemetra chart
(with its default TelemetraPool: the pool's Spark job and shared producer, and two alert dispatchers) → the alerts
example with its Secret: AlertsReady, and its config in the alert outbox's table → `kubectl apply` the minimal example,
which joins that pool → its source runs in the shared producer, its events go through Kafka to the pool's Spark
driver and executors, PostgreSQL → the API pod serves advancing windows → the dashboard renders them in Chromium
→ the driver pod is killed mid-run and the stored windows still equal the embedded engine's over the stream's
events → suspend (its source stops, the pool's job keeps running), resume → delete, and nothing of the stream is
left (its records in the pool's topics are tombstones).

Nothing here runs on a kwok node: the node is :class:`NodeCluster` (containerd, kubelet, kube-proxy, CoreDNS).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from support import differences, engine_outputs, wait_for

from telemetra.dev.kube.binaries import ensure_binaries
from telemetra.dev.kube.deploy import deploy
from telemetra.dev.kube.images import built_images
from telemetra.dev.kube.node import NodeCluster
from telemetra.dev.localstack.process import terminate, track

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE, RELEASE, STREAM = "telemetra", "telemetra", "demo"
STREAM_SELECTOR = f"telemetra.io/stream={STREAM}"
POOL_SELECTOR = "telemetra.io/pool=default"
EVENTS_TOPIC = "telemetra.pool.default.events"  # the default pool's, keyed by stream id
KAFKA_BOOTSTRAP = f"{RELEASE}-kafka-kafka-bootstrap:9092"
IN_POD_KAFKA = Path(__file__).with_name("in_pod_kafka.py")
KUBECTL = ensure_binaries() / "kubectl"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@dataclass
class Platform:
    node: NodeCluster
    api: str  # http://127.0.0.1:PORT, a port-forward to the API Service

    def kubectl(self, *args: str, timeout: float = 120, stdin: Path | None = None) -> str:
        if stdin is None:
            return self.node.kubectl("--namespace", NAMESPACE, *args, timeout=timeout).stdout
        result = subprocess.run(
            [str(KUBECTL), "--namespace", NAMESPACE, *args],
            env=self.node.env(), stdin=stdin.open("rb"), capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
        return result.stdout.decode()

    def objects(self, kind: str, selector: str = STREAM_SELECTOR) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(self.kubectl("get", kind, "-l", selector, "-o", "json"))[
            "items"
        ]
        return items

    def running(self, selector: str) -> list[str]:
        return [
            pod["metadata"]["name"]
            for pod in self.objects("pods", selector)
            if pod["status"].get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")
        ]

    def get(self, path: str) -> Any:
        response = httpx.get(self.api + path, timeout=10)
        response.raise_for_status()
        return response.json()

    def windows(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get(f"/api/v1/streams/{STREAM}/metrics?limit=1000")["items"]
        return [w for w in items if w.get("final", True)]

    def latest_window(self) -> str:
        return max((str(w["window_start"]) for w in self.windows()), default="")

    def in_pod_kafka(self, *args: str) -> str:
        """``in_pod_kafka.py`` run by the operator's pod (it has aiokafka, and the NetworkPolicy admits it)."""
        return self.kubectl(
            "exec", "-i", f"deployment/{RELEASE}-operator", "--", "python", "-", KAFKA_BOOTSTRAP, *args,
            stdin=IN_POD_KAFKA, timeout=180,
        )  # fmt: skip

    def topics(self) -> set[str]:
        return set(self.in_pod_kafka().split())

    def events(self) -> list[bytes]:
        """Every record of the stream in its pool's events topic (all partitions), in event-time order."""
        lines = [line.encode() for line in self.in_pod_kafka(EVENTS_TOPIC).splitlines() if line]
        mine = [line for line in lines if orjson.loads(line)["stream_id"] == STREAM]
        return sorted(mine, key=lambda line: str(orjson.loads(line)["ts"]))

    def stream_state(self) -> str:
        stream = json.loads(self.kubectl("get", "telemetrastream", STREAM, "-o", "json"))
        return str(stream.get("status", {}).get("lifecycleState", ""))

    def explain(self) -> str:
        """What the cluster looks like: for a failure message."""
        parts = [
            self.node.kubectl("--namespace", NAMESPACE, *args, timeout=60, check=False).stdout[-limit:]
            for limit, args in (
                (4000, ("get", "pods,deployments,sparkapplications,telemetrapools,telemetrastreams", "-o", "wide")),
                (3000, ("describe", "pods", "-l", POOL_SELECTOR)),
                (2000, ("get", "events", "--sort-by=.lastTimestamp")),
                (2000, ("get", "telemetrapools,telemetrastreams", "-o", "jsonpath={range .items[*]}"
                        "{.metadata.name}: {.status.conditions}{'\\n'}{end}")),
                (3000, ("logs", f"deployment/{RELEASE}-operator", "--tail=30")),
            )
        ]  # fmt: skip
        return "\n".join(parts)  # each part cut on its own: the pods' state is never lost behind the logs

    def wait(self, check: Callable[[], Any], within: float, what: str) -> Any:
        """``wait_for``, with the cluster's state in the failure."""
        try:
            return wait_for(check, within, what)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.explain()}") from None

    def driver_uid(self) -> str | None:
        drivers = [
            p for p in self.objects("pods", "spark-role=driver") if p["status"].get("phase") == "Running"
        ]
        return drivers[0]["metadata"]["uid"] if drivers else None


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    images = built_images()
    cluster = NodeCluster(tmp_path_factory.mktemp("node"), crds=())
    cluster.start()
    try:
        cluster.load_images(images.values())
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def platform(node: NodeCluster) -> Iterator[Platform]:
    deploy(node.kubeconfig, NAMESPACE)
    forward = subprocess.Popen(
        [str(KUBECTL), "--kubeconfig", str(node.kubeconfig), "--namespace", NAMESPACE, "port-forward",
         f"service/{RELEASE}-api", "0:80", "--address", "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    track(forward)
    try:
        assert forward.stdout is not None
        announced = forward.stdout.readline().decode()
        port = re.search(r"127\.0\.0\.1:(\d+)", announced)
        assert port, announced
        yield Platform(node, f"http://127.0.0.1:{port.group(1)}")
    finally:
        terminate(forward)


def test_the_platform_runs_in_real_pods(platform: Platform) -> None:
    def all_running() -> list[dict[str, Any]]:
        # The default pool's Spark driver may have been created moments ago: give it time to start.
        pods: list[dict[str, Any]] = json.loads(platform.kubectl("get", "pods", "-o", "json"))["items"]
        return pods if all(pod["status"]["phase"] == "Running" for pod in pods) else []

    pods = platform.wait(all_running, 120, "every pod Running")
    components = {pod["metadata"]["labels"].get("app.kubernetes.io/component") for pod in pods}
    assert {"api", "operator", "kafka", "postgresql", "redis", "alerts"} <= components, components
    assert (
        len(platform.running("app.kubernetes.io/component=alerts")) == 2
    )  # the dispatchers share the outbox
    for pod in pods:
        assert pod["spec"]["nodeName"] == "telemetra-node"
        assert pod["status"]["phase"] == "Running", pod["metadata"]["name"]
        assert pod["spec"]["securityContext"].get("runAsNonRoot") is True, pod["metadata"]["name"]
    assert platform.get("/health")["status"] == "ok"


def test_a_streams_alerts_reach_the_outbox(platform: Platform, tmp_path: Path) -> None:
    """The alerts example (suspended here: no traffic, its alerts config is kept all the same) with the Secret its
    comment creates: AlertsReady=True, and its row in the outbox's table, as the dispatchers read it; deleting the
    stream deletes the row."""
    platform.kubectl(
        "create", "secret", "generic", "stream-alerts",
        "--from-literal=discord-url=https://discord.com/api/webhooks/1/e2e", "--from-literal=webhook-key=e2e-key",
    )  # fmt: skip
    (stream,) = yaml.safe_load_all((ROOT / "operator" / "examples" / "alerts.yaml").read_text())
    stream["spec"]["state"] = "suspended"
    manifest = tmp_path / "alerts.yaml"
    manifest.write_text(yaml.safe_dump(stream))
    name = stream["metadata"]["name"]
    platform.kubectl("apply", "-f", str(manifest))

    def configured() -> bool:
        body = json.loads(platform.kubectl("get", "telemetrastream", name, "-o", "json"))
        conditions = {c["type"]: c for c in body.get("status", {}).get("conditions") or []}
        alerts = conditions.get("AlertsReady") or {}
        return (
            alerts.get("status") == "True"
            and alerts.get("observedGeneration") == body["metadata"]["generation"]
        )

    platform.wait(configured, 120, f"{name}: AlertsReady=True")
    rows = _alert_configs(platform)
    assert rows[stream["spec"]["streamId"]] == {
        "origin": f"resource:{NAMESPACE}/{name}",
        "destinations": ["mods-discord", "editors"],
        "secrets": [f"{NAMESPACE}/stream-alerts/discord-url", f"{NAMESPACE}/stream-alerts/webhook-key"],
    }
    platform.kubectl("delete", "telemetrastream", name, "--timeout=120s", timeout=150)
    platform.wait(lambda: stream["spec"]["streamId"] not in _alert_configs(platform), 60, "its row deleted")
    platform.kubectl("delete", "secret", "stream-alerts")


ALERT_CONFIGS = """
import asyncio, json, os
from telemetra.services.alerts.outbox import open_outbox

async def main():
    outbox = open_outbox(os.environ["TELEMETRA_OPERATOR_ALERTS_OUTBOX_URL"])
    try:
        rows = await outbox.configs()
    finally:
        await outbox.close()
    print(json.dumps({
        stream_id: {
            "origin": row.origin,
            "destinations": [d.name for d in row.config.destinations],
            "secrets": [f"{r.namespace}/{r.name}/{r.key}" for r in row.config.secret_refs()],
        }
        for stream_id, row in rows.items()
    }))

asyncio.run(main())
"""


def _alert_configs(platform: Platform) -> dict[str, Any]:
    """The outbox's ``alert_configs``, read in the operator's pod with its own settings (the database's URL, from
    the PostgreSQL Secret, never leaves the pod)."""
    out = platform.node.kubectl(
        "--namespace", NAMESPACE, "exec", f"deployment/{RELEASE}-operator", "--", "python", "-c", ALERT_CONFIGS,
        timeout=60,
    ).stdout  # fmt: skip
    rows: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return rows


def test_a_stream_from_kubectl_apply_to_the_dashboard(platform: Platform, tmp_path: Path) -> None:
    platform.kubectl("apply", "-f", str(ROOT / "operator" / "examples" / "minimal.yaml"))
    platform.wait(lambda: platform.running(f"{POOL_SELECTOR},app.kubernetes.io/component=producer"), 180,
                  "the pool's shared producer pod")  # fmt: skip
    platform.wait(lambda: platform.running("spark-role=driver"), 300, "the pool's Spark driver pod")
    platform.wait(lambda: platform.running("spark-role=executor"), 300, "a Spark executor pod")
    assert EVENTS_TOPIC in platform.topics()
    assert platform.objects("sparkapplications") == []  # the stream has no job of its own

    first = wait_for(platform.latest_window, 300, "a stored window")
    wait_for(lambda: platform.latest_window() > first, 60, "the windows advancing")
    assert platform.get(f"/api/v1/streams/{STREAM}")["stream_id"] == STREAM
    _renders_the_stream(platform.api, tmp_path)


def test_killing_the_driver_loses_and_doubles_nothing(platform: Platform) -> None:
    driver, uid = platform.running("spark-role=driver")[0], platform.driver_uid()
    killed_at = platform.latest_window()
    platform.kubectl("delete", "pod", driver, "--wait=false")
    wait_for(lambda: platform.driver_uid() not in (None, uid), 300, "a new driver")
    before = platform.latest_window()
    wait_for(lambda: platform.latest_window() > before, 240, "windows after the restart")

    expected, _ = engine_outputs(platform.events())
    last = expected[-1]["window_start"]
    # the job runs a few seconds behind the topic: wait until it has stored every window the engine closed
    wait_for(lambda: platform.latest_window() >= last, 60, "the job catching up with the topic")
    stored = sorted(platform.windows(), key=lambda w: str(w["window_start"]))
    stored = [w for w in stored if w["window_start"] <= last]
    expected = [w for w in expected if w["window_start"] >= stored[0]["window_start"]]
    assert stored[0]["window_start"] <= killed_at < stored[-1]["window_start"]  # across the restart
    assert differences(stored, expected) == []


def test_suspend_and_resume(platform: Platform) -> None:
    platform.kubectl(
        "patch", "telemetrastream", STREAM, "--type=merge", "-p", '{"spec":{"state":"suspended"}}'
    )
    wait_for(lambda: platform.stream_state() == "Suspended", 60, "the stream Suspended")
    driver = platform.driver_uid()
    count = _events_stopped(platform)
    assert platform.driver_uid() == driver  # the pool's job runs on for its other streams
    platform.kubectl("patch", "telemetrastream", STREAM, "--type=merge", "-p", '{"spec":{"state":"running"}}')
    wait_for(lambda: len(platform.events()) > count, 60, "its events back")
    wait_for(lambda: platform.stream_state() == "Running", 60, "the stream Running")


def test_deleting_the_stream_leaves_nothing_behind(platform: Platform) -> None:
    platform.kubectl("delete", "telemetrastream", STREAM, "--timeout=180s", timeout=200)
    for kind in ("deployments", "sparkapplications", "configmaps", "services"):
        wait_for(lambda kind=kind: platform.objects(kind) == [], 120, f"the stream's {kind} deleted")  # type: ignore[misc]
    _events_stopped(platform)  # its source is gone from the shared producer
    assert platform.running("spark-role=driver")  # the pool and its job stay


def _events_stopped(platform: Platform) -> int:
    """The stream's events once none came for 10 s (after 5 s for the shared producer's last batch)."""
    time.sleep(5)
    count = len(platform.events())
    time.sleep(10)
    assert len(platform.events()) == count, "the stream's source still produces"
    return count


def _renders_the_stream(api: str, tmp_path: Path) -> None:
    """Chromium (headless) loads the stream page through the port-forward and renders its metrics."""
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is installed by make system-deps"
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=15000", "--dump-dom",
         f"{api}/streams/{STREAM}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    text = " ".join(re.sub(r"<[^>]+>", " ", result.stdout).split())
    assert f"{STREAM} · Just Chatting" in text, text[:3000]  # the stream's header, from its stream_meta
    assert re.search(r"Viewers [\d,]+ ", text) and re.search(r"Chat / s [\d.]+ ", text), text[:3000]
