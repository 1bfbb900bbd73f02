"""The local node is real: kubelet runs pods in containerd under their limits, Services resolve through CoreDNS,
and stopping the node leaves the host exactly as it was (processes, mounts, interfaces, namespaces, iptables
chains, cgroups, kernel settings)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetra.dev.kube.node import NODE_NAME, PAUSE_IMAGE, NodeCluster, cgroup_pids, dns_query, host_state

SLEEPERS = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: sleeper}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: sleeper}}}}
  template:
    metadata: {{labels: {{app: sleeper}}}}
    spec:
      securityContext: {{runAsNonRoot: true, runAsUser: 65535}}
      containers:
        - name: pause
          image: {PAUSE_IMAGE}
          imagePullPolicy: Never
          resources: {{limits: {{memory: 48Mi, cpu: 100m}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: sleeper}}
spec:
  selector: {{app: sleeper}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


@pytest.fixture(scope="module")
def host_before() -> dict[str, list[str]]:
    return host_state()


@pytest.fixture(scope="module")
def node(
    host_before: dict[str, list[str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NodeCluster]:
    cluster = NodeCluster(tmp_path_factory.mktemp("node"), crds=())
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_node_registers_ready_with_containerd(node: NodeCluster) -> None:
    info = json.loads(node.kubectl("get", "node", NODE_NAME, "-o", "json").stdout)
    assert info["status"]["nodeInfo"]["kubeletVersion"] == "v1.35.4"
    assert info["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert {"type": "InternalIP", "address": node.node_ip} in info["status"]["addresses"]


def test_pods_run_under_their_limits_and_services_resolve(node: NodeCluster, tmp_path: Path) -> None:
    manifest = tmp_path / "sleepers.yaml"
    manifest.write_text(SLEEPERS)
    node.kubectl("apply", "-f", str(manifest))
    node.kubectl("rollout", "status", "deployment/sleeper", "--timeout=120s", timeout=130)

    pods = json.loads(node.kubectl("get", "pods", "-l", "app=sleeper", "-o", "json").stdout)["items"]
    assert {pod["status"]["phase"] for pod in pods} == {"Running"}
    assert len({pod["status"]["podIP"] for pod in pods}) == 2
    for pod in pods:
        limits = list(Path("/sys/fs/cgroup/memory", node.cgroup_parent).rglob(f"pod{pod['metadata']['uid']}"))
        assert limits, f"no cgroup for pod {pod['metadata']['name']}"
        assert int((limits[0] / "memory.limit_in_bytes").read_text()) == 48 * 1024 * 1024

    cluster_ip = node.kubectl("get", "service", "sleeper", "-o", "jsonpath={.spec.clusterIP}").stdout
    deadline = time.monotonic() + 30
    while dns_query(node.node_ip, "sleeper.default.svc.cluster.local") != [cluster_ip]:
        assert time.monotonic() < deadline, "CoreDNS did not resolve the Service"
        time.sleep(0.5)
    assert dns_query(node.node_ip, "example.com") == []  # no upstream: nothing leaves the machine


def test_stop_leaves_the_host_as_it_was(node: NodeCluster, host_before: dict[str, list[str]]) -> None:
    assert host_state() != host_before  # the node is up: there is something to clean
    node.stop()
    after = host_state()
    assert {
        key: sorted(set(after[key]) ^ set(host_before[key]))
        for key in after
        if after[key] != host_before[key]
    } == {}


def test_cgroup_processes_are_read_from_a_tree_that_may_vanish(tmp_path: Path) -> None:
    """Stopping the node reads every cgroup.procs below its cgroups while pods end and their cgroups go."""
    (tmp_path / "kubepods" / "pod1" / "c1").mkdir(parents=True)
    (tmp_path / "kubepods" / "pod1" / "c1" / "cgroup.procs").write_text("11\n12\n")
    (tmp_path / "kubepods" / "cgroup.procs").write_text("7\n")
    assert cgroup_pids(tmp_path) == {7, 11, 12}
    assert cgroup_pids(tmp_path / "gone") == set()  # a cgroup removed meanwhile: nothing, not an error
