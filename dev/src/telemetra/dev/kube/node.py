"""A real one-node Kubernetes on this machine, for ``make cluster`` and the e2e journey: real pods, no Docker.

``NodeCluster.start()`` builds an isolated node and runs, as child processes stopped by PID:

* a **network namespace** of its own (``telemetra-<slot>``) joined to the host by one veth pair with a /30:
  the host end is ``172.30.<slot>.1``, the node IP ``172.30.<slot>.2``. The node has no default route, so
  nothing is routed off the machine; its bridge, pod network and iptables rules (kube-proxy) live inside it.
* a **holder** process whose mount namespace (a slave of the host's) every node component shares: containers'
  root filesystems, volume mounts and pod network namespaces are mounted there and vanish with it. Tmpfs
  mounts inside it cover the fixed paths kubelet and CNI write to (``/run/netns``, ``/var/lib/cni``,
  ``/var/log/containers``), so the host's files are untouched.
* the control plane (:class:`KubeCluster` bound to the node IP), containerd (runc, cgroupfs, Debian's CNI
  plugins, a local pause image), kubelet, kube-proxy (iptables) and CoreDNS (a process on the node IP that
  answers only for ``cluster.local``; there is no upstream resolver).
* a default StorageClass ``local-hostpath`` with hostPath PersistentVolumes in the work directory.

Pods' cgroups live under ``/telemetra-<slot>`` in every hierarchy. ``stop`` kills the containers, stops every
component, removes those cgroups and the namespaces, and writes back the kernel settings kubelet tunes
(``vm.overcommit_memory``, ``kernel.panic``, …) to the values they had before ``start``. ``host_state()``
describes what a node could leave behind (the e2e test compares it before and after).

Images reach the node with :func:`telemetra.dev.kube.images.load_into_containerd` (``load_images``).
Needs root, iproute2, util-linux (nsenter, unshare), iptables, containerd, runc and the CNI plugins
(``make cluster`` installs the Debian packages when missing).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]

from telemetra.dev.kube.binaries import ensure_binaries, ensure_node_binaries
from telemetra.dev.kube.cluster import POD_CIDR, SERVICE_CIDR, KubeCluster, upstream_crds
from telemetra.dev.localstack.process import (
    LocalServer,
    ServerError,
    cache_root,
    progress,
    serve_in_foreground,
    terminate,
    track,
)

NODE_NAME = "telemetra-node"
CLUSTER_DOMAIN = "cluster.local"
PAUSE_IMAGE = "localhost/telemetra-pause:1"
STORAGE_CLASS = "local-hostpath"
CNI_PLUGINS = Path("/usr/lib/cni")
CGROUPS = Path("/sys/fs/cgroup")
NODE_POD_CIDR = "10.244.0.0/24"
KUBELET_PORT = 10250
VOLUMES = 12
VOLUME_SIZE = "20Gi"
# Host-wide kernel settings kubelet tunes (protectKernelDefaults: false) or a bridge could change.
HOST_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
)
# Fixed paths kubelet, containerd and the CNI plugins write to: a tmpfs over each inside the node.
NETNS_DIR = "/run/netns"
PRIVATE_DIRS = (NETNS_DIR, "/var/lib/cni", "/var/log/containers", "/var/log/pods")
REQUIRED_COMMANDS = {
    "ip": "iproute2",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "iptables": "iptables",
    "containerd": "containerd",
    "containerd-shim-runc-v2": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "sysctl": "procps",
}
_NODE_COMPONENTS = ("coredns", "kube-proxy", "kubelet")
_NODE_PROCESS_NAMES = {"containerd", "containerd-shim", "containerd-shim-runc-v2", "kubelet", "kube-proxy",
                       "coredns", "pause", "runc"}  # fmt: skip


class NodeCluster(LocalServer):
    """One node and its control plane. ``work_dir`` keeps certificates, containerd's images, volumes and logs
    (a temporary directory, removed by ``cleanup``, when None); a given work dir is used by one cluster at a
    time. The methods block; they need root."""

    def __init__(
        self,
        work_dir: Path | str | None = None,
        *,
        crds: Iterable[Path] | None = None,
        startup_timeout: float = 180.0,
    ):
        self._owns_dir = work_dir is None
        self.root = (
            Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="telemetra-node-"))
        )
        self.crds = list(crds) if crds is not None else upstream_crds()
        self.startup_timeout = startup_timeout
        self.slot = -1
        self.control_plane: KubeCluster | None = None
        self._holder: subprocess.Popen[bytes] | None = None
        self._sysctls: dict[str, str] = {}
        self._created_dirs: list[Path] = []
        self._netns_mount_was = True  # /run/netns a mount point before start? (`ip netns add` makes it one)

    # -- addresses -----------------------------------------------------------------------------------------
    @property
    def netns(self) -> str:
        return f"telemetra-{self.slot}"

    @property
    def host_ip(self) -> str:
        return f"172.30.{self.slot}.1"

    @property
    def node_ip(self) -> str:
        return f"172.30.{self.slot}.2"

    @property
    def cgroup_parent(self) -> str:
        return f"telemetra-{self.slot}"

    @property
    def kubeconfig(self) -> Path:
        return self._plane().kubeconfig

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def running(self) -> bool:
        return self.control_plane is not None and self.control_plane.running

    def env(self) -> dict[str, str]:
        return self._plane().env()

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return self._plane().kubectl(*args, check=check, timeout=timeout)

    def node_exec(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a command inside the node (its network and mount namespaces)."""
        return _run([*self._enter(), *argv], timeout=timeout)

    def load_images(self, references: Iterable[str]) -> None:
        """Import images from podman's store into the node's containerd (``imagePullPolicy: Never`` works)."""
        from telemetra.dev.kube.images import load_into_containerd

        load_into_containerd(list(references), self.containerd_socket)

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.running:
            return
        _check_requirements()
        bin_dir, node_bin = ensure_binaries(), ensure_node_binaries()
        started = time.monotonic()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._sysctls = {name: _read_sysctl(name) for name in HOST_SYSCTLS}
        self._netns_mount_was = _is_mount(NETNS_DIR)
        try:
            self._network()
            self._hold()
            plane = KubeCluster(
                self.root / "control-plane",
                bin_dir=bin_dir,
                crds=self.crds,
                startup_timeout=self.startup_timeout,
                address=self.node_ip,
                launcher=self._enter(),
                fake_node=False,
            )
            self.control_plane = plane
            plane.start()
            self._containerd()
            self._import_pause(node_bin / "pause")
            self._kubelet(bin_dir)
            plane.wait(self._node_ready, f"node {NODE_NAME} Ready (kubelet)", self.startup_timeout)
            self._kube_proxy(bin_dir)
            self._coredns(node_bin)
            plane.wait(self._dns_answers, "CoreDNS answering for kubernetes.default", self.startup_timeout)
            self._storage()
        except BaseException:
            self.stop()
            raise
        progress(f"node {NODE_NAME} ({self.node_ip}) ready in {time.monotonic() - started:.1f} s")

    def stop(self, timeout: float = 20.0) -> None:
        """Containers first, then the node's components, the control plane, the holder and the namespace;
        cgroups removed and host kernel settings restored. Safe to call after a failed ``start``."""
        plane = self.control_plane
        if plane is not None:
            plane.stop_components(_NODE_COMPONENTS, timeout)
            self._kill_cgroup_processes()
            plane.stop_components(["containerd"], timeout)
            self._kill_shims()
            plane.stop(timeout)
            self.control_plane = None
        if self._holder is not None:
            terminate(self._holder, signal.SIGKILL)
            self._holder = None
        self._remove_cgroups()
        if self.slot >= 0:
            _run(["ip", "netns", "delete", self.netns], check=False)
            _run(["ip", "link", "delete", f"tmra{self.slot}h"], check=False)  # gone with the netns normally
        if not self._netns_mount_was and _is_mount(NETNS_DIR) and not _run(["ip", "netns", "list"]).stdout:
            # iproute2 made it a mount for our namespace, and no other namespace is in it
            _run(["umount", NETNS_DIR], check=False)
        for path in reversed(self._created_dirs):
            with contextlib.suppress(OSError):
                path.rmdir()
        self._created_dirs.clear()
        for name, value in self._sysctls.items():
            if value and _read_sysctl(name) != value:
                _write_sysctl(name, value)

    # -- the network -----------------------------------------------------------------------------------------
    def _network(self) -> None:
        self.slot = _free_slot()
        host_end, node_end = f"tmra{self.slot}h", f"tmra{self.slot}n"
        _run(["ip", "netns", "add", self.netns])
        _run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", node_end])
        _run(["ip", "link", "set", node_end, "netns", self.netns])
        _run(["ip", "address", "add", f"{self.host_ip}/30", "dev", host_end])
        _run(["ip", "link", "set", host_end, "up"])
        inside = ["ip", "netns", "exec", self.netns]
        _run([*inside, "ip", "link", "set", "lo", "up"])
        _run([*inside, "ip", "address", "add", f"{self.node_ip}/30", "dev", node_end])
        _run([*inside, "ip", "link", "set", node_end, "up"])
        # The node's own processes (the API server calling a webhook) reach Services: a route is needed before
        # kube-proxy's DNAT can rewrite the address.
        _run([*inside, "ip", "route", "add", SERVICE_CIDR, "dev", node_end])
        _run([*inside, "sysctl", "-qw", "net.ipv4.ip_forward=1"])  # this namespace's own setting

    def _hold(self) -> None:
        """The holder: the node's network namespace, plus a mount namespace (slave of the host's) with a tmpfs
        over each of ``PRIVATE_DIRS``."""
        for directory in PRIVATE_DIRS:
            self._make_dir(Path(directory))
        mounts = " && ".join(f"mount -t tmpfs -o mode=0755 telemetra {d}" for d in PRIVATE_DIRS)
        log = (self.log_dir / "holder.log").open("ab")
        self._holder = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.netns}", "--", "unshare", "--mount", "--propagation", "slave",
             "--", "sh", "-c", f"{mounts} && echo ready && exec sleep infinity"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True,
        )  # fmt: skip
        log.close()
        track(self._holder)
        assert self._holder.stdout is not None
        if self._holder.stdout.readline().strip() != b"ready":
            raise ServerError(f"the node's namespaces could not be set up; {self.log_dir / 'holder.log'}")

    def _enter(self) -> list[str]:
        if self._holder is None:
            raise ServerError("the node is not running")
        return ["nsenter", f"--target={self._holder.pid}", "--mount", "--net", "--"]

    def _make_dir(self, path: Path) -> None:
        missing = [p for p in (path, *path.parents) if not p.exists()]
        path.mkdir(parents=True, exist_ok=True)
        self._created_dirs.extend(reversed(missing))

    # -- containerd ------------------------------------------------------------------------------------------
    def _containerd(self) -> None:
        base = self.root / "containerd"
        cni_conf = self.root / "cni" / "net.d"
        cni_conf.mkdir(parents=True, exist_ok=True)
        (cni_conf / "10-telemetra.conflist").write_text(json.dumps(self._cni_config(), indent=2))
        config = base / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(_containerd_config(base, cni_conf))
        self._plane().launch("containerd", ["containerd", f"--config={config}"])
        self._plane().wait(self.containerd_socket.exists, "containerd socket", 60)
        self._plane().wait(lambda: self._ctr("version").returncode == 0, "containerd answering", 60)

    def _cni_config(self) -> dict[str, Any]:
        return {
            "cniVersion": "1.0.0",
            "name": "telemetra",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": False,  # nothing leaves the node
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": NODE_POD_CIDR}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.root / "cni" / "ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }

    def _ctr(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["ctr", "--address", str(self.containerd_socket), "--namespace", "k8s.io", *args],
            input=stdin, capture_output=True, timeout=300, check=False,
        )  # fmt: skip

    def _import_pause(self, binary: Path) -> None:
        archive = _single_file_image(binary, PAUSE_IMAGE, entrypoint="/pause")
        result = self._ctr("images", "import", "-", stdin=archive)
        if result.returncode != 0:
            raise ServerError(f"importing the pause image failed: {result.stderr.decode(errors='replace')}")

    # -- kubelet, kube-proxy, CoreDNS -------------------------------------------------------------------------
    def _kubelet(self, bin_dir: Path) -> None:
        kubelet_dir = self.root / "kubelet"
        kubelet_dir.mkdir(parents=True, exist_ok=True)
        resolv = self.root / "resolv.conf"
        resolv.write_text("# no upstream resolver: pods resolve cluster names only\noptions ndots:5\n")
        config = kubelet_dir / "config.yaml"
        config.write_text(yaml.safe_dump(self._kubelet_config(resolv), sort_keys=False))
        self._cgroup_parent_dirs()
        self._plane().launch(
            "kubelet",
            [
                str(bin_dir / "kubelet"), f"--config={config}", f"--kubeconfig={self.kubeconfig}",
                f"--root-dir={kubelet_dir / 'root'}", f"--cert-dir={kubelet_dir / 'pki'}",
                f"--hostname-override={NODE_NAME}", f"--node-ip={self.node_ip}", "--v=1",
            ],
        )  # fmt: skip

    def _kubelet_config(self, resolv: Path) -> dict[str, Any]:
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": self.node_ip,
            "port": KUBELET_PORT,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            # Reachable only inside the node's namespace and from this host: the API server's proxy (logs,
            # exec, port-forward) is its only client.
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{self.cgroup_parent}",
            "failCgroupV1": False,
            "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "clusterDNS": [self.node_ip],
            "clusterDomain": CLUSTER_DOMAIN,
            "resolvConf": str(resolv),
            "podLogsDir": str(self.root / "pod-logs"),
            "podCIDR": NODE_POD_CIDR,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "nodefs.inodesFree": "1%",
                "imagefs.inodesFree": "1%",
            },
            "imageGCHighThresholdPercent": 100,  # the images were imported, nothing could pull them again
            "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False,
            "protectKernelDefaults": False,
            "rotateCertificates": False,
            "syncFrequency": "10s",
        }

    def _kube_proxy(self, bin_dir: Path) -> None:
        config = self.root / "kube-proxy.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                    "kind": "KubeProxyConfiguration",
                    "clientConnection": {"kubeconfig": str(self.kubeconfig)},
                    "mode": "iptables",
                    "clusterCIDR": POD_CIDR,
                    "hostnameOverride": NODE_NAME,
                    "bindAddress": self.node_ip,
                    "healthzBindAddress": "127.0.0.1:10256",
                    "metricsBindAddress": "127.0.0.1:10249",
                    # Replies of a Service's pod to a pod on the same bridge must pass the node's conntrack:
                    # without br_netfilter on the host, SNAT to the bridge makes them do so.
                    "iptables": {"masqueradeAll": True},
                    "conntrack": {"maxPerCore": 0},  # leave the host-wide table size alone
                },
                sort_keys=False,
            )
        )
        self._plane().launch("kube-proxy", [str(bin_dir / "kube-proxy"), f"--config={config}"])

    def _coredns(self, node_bin: Path) -> None:
        corefile = self.root / "Corefile"
        corefile.write_text(
            f".:53 {{\n    bind {self.node_ip}\n    errors\n"
            f"    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{\n"
            f"        kubeconfig {self.kubeconfig} telemetra\n        pods insecure\n"
            "        fallthrough in-addr.arpa ip6.arpa\n    }\n    cache 5\n}\n"
        )
        self._plane().launch("coredns", [str(node_bin / "coredns"), "-conf", str(corefile)])

    # -- storage ---------------------------------------------------------------------------------------------
    def _storage(self) -> None:
        """A default StorageClass without a provisioner and hostPath volumes for it (one node: ReadWriteOnce
        and ReadWriteMany are the same directory)."""
        objects: list[dict[str, Any]] = [
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {
                    "name": STORAGE_CLASS,
                    "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                },
                "provisioner": "kubernetes.io/no-provisioner",
                "volumeBindingMode": "Immediate",  # one node: bind at once (helm --wait waits for claims)
                "reclaimPolicy": "Delete",
            }
        ]
        for index in range(VOLUMES):
            path = self.root / "volumes" / f"pv-{index}"
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o1777)  # pods run as assorted non-root users; fsGroup does not apply to hostPath
            objects.append(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {"name": f"local-{index}"},
                    "spec": {
                        "capacity": {"storage": VOLUME_SIZE},
                        "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
                        "persistentVolumeReclaimPolicy": "Retain",
                        "storageClassName": STORAGE_CLASS,
                        "hostPath": {"path": str(path), "type": "Directory"},
                        "nodeAffinity": {
                            "required": {
                                "nodeSelectorTerms": [
                                    {
                                        "matchExpressions": [
                                            {
                                                "key": "kubernetes.io/hostname",
                                                "operator": "In",
                                                "values": [NODE_NAME],
                                            }
                                        ]
                                    }
                                ]
                            }
                        },
                    },
                }
            )
        manifest = self.root / "storage.yaml"
        manifest.write_text(yaml.safe_dump_all(objects, sort_keys=False))
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))

    # -- readiness -------------------------------------------------------------------------------------------
    def _node_ready(self) -> bool:
        result = self.kubectl("get", "node", NODE_NAME, "-o", "json", check=False, timeout=10)
        if result.returncode != 0:
            return False
        conditions = json.loads(result.stdout).get("status", {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def _dns_answers(self) -> bool:
        return bool(dns_query(self.node_ip, f"kubernetes.default.svc.{CLUSTER_DOMAIN}"))

    def _plane(self) -> KubeCluster:
        if self.control_plane is None:
            raise ServerError("the cluster has not been started")
        return self.control_plane

    # -- stopping --------------------------------------------------------------------------------------------
    def _cgroup_dirs(self) -> list[Path]:
        return [h / self.cgroup_parent for h in _hierarchies() if (h / self.cgroup_parent).is_dir()]

    def _cgroup_parent_dirs(self) -> None:
        """kubelet wants its cgroup root to exist in every hierarchy; cpuset needs its CPUs and memory nodes."""
        for hierarchy in _hierarchies():
            directory = hierarchy / self.cgroup_parent
            directory.mkdir(exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if (hierarchy / name).is_file() and (directory / name).is_file():
                    (directory / name).write_text((hierarchy / name).read_text())

    def _kill_cgroup_processes(self, timeout: float = 20.0) -> None:
        """SIGKILL every process in the pods' cgroups until none is left (containers, pause processes)."""
        deadline = time.monotonic() + timeout
        while pids := {pid for d in self._cgroup_dirs() for pid in cgroup_pids(d)}:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                progress(
                    f"processes still in {self.cgroup_parent} after {timeout:.0f} s: {sorted(pids)[:10]}"
                )
                return
            time.sleep(0.2)

    def _kill_shims(self) -> None:
        """SIGKILL containerd's shims, which outlive containerd (they run in mount namespaces of their own and
        name our containerd's socket on their command line)."""
        socket_path = str(self.containerd_socket).encode()
        shims = [p for p in _pids() if socket_path in _cmdline(p) and _comm(p).startswith("containerd-shim")]
        for pid in shims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in shims) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _remove_cgroups(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        for top in self._cgroup_dirs() if self.slot >= 0 else []:
            for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                _rmdir_cgroup(directory, deadline)
            _rmdir_cgroup(top, deadline)


# -- host state (what a node could leave behind) --------------------------------------------------------------
def _mount_points() -> list[str]:
    return sorted(line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())


def _is_mount(path: str) -> bool:
    """Also a bind mount of a directory onto itself (which ``os.path.ismount`` does not see)."""
    return path in _mount_points()


def host_state() -> dict[str, list[str]]:
    """Interfaces, network namespaces, mounts, iptables chains, top-level cgroups, kernel settings and node
    processes of this host: equal before ``start`` and after ``stop``."""
    mounts = _mount_points()
    chains = []
    for command in ("iptables-save", "ip6tables-save"):
        if shutil.which(command):
            output = _run([command], check=False).stdout
            chains += sorted(line.split()[0] for line in output.splitlines() if line.startswith(":"))
    return {
        "links": sorted(re.findall(r"^\d+: ([^:@]+)", _run(["ip", "-o", "link"]).stdout, re.M)),
        "netns": sorted(
            line.split()[0] for line in _run(["ip", "netns", "list"]).stdout.splitlines() if line
        ),
        "mounts": mounts,
        "iptables": chains,
        "cgroups": sorted(str(p) for h in _hierarchies() for p in h.iterdir() if p.is_dir()),
        "sysctls": [f"{name}={_read_sysctl(name)}" for name in HOST_SYSCTLS],
        "processes": sorted(
            f"{pid} {comm}"
            for pid in _pids()
            for comm in [_comm(pid)]
            if comm in _NODE_PROCESS_NAMES and _alive(pid)
        ),
    }


# -- helpers ----------------------------------------------------------------------------------------------
def dns_query(server: str, name: str, timeout: float = 1.0) -> list[str]:
    """IPv4 addresses for ``name`` from the DNS server at ``server``:53 (an A query over UDP); [] if none."""
    query_id = int.from_bytes(os.urandom(2), "big")
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(packet, (server, 53))
            reply = sock.recv(4096)
        except OSError:
            return []
    answers = struct.unpack(">H", reply[6:8])[0]
    offset = 12 + len(question) + 4
    addresses = []
    for _ in range(answers):
        offset += 2 if reply[offset] & 0xC0 == 0xC0 else reply.index(b"\0", offset) + 1 - offset
        kind, _cls, _ttl, length = struct.unpack(">HHIH", reply[offset : offset + 10])
        offset += 10
        if kind == 1 and length == 4:
            addresses.append(socket.inet_ntoa(reply[offset : offset + 4]))
        offset += length
    return addresses


def _containerd_config(base: Path, cni_conf: Path) -> str:
    cri = '[plugins."io.containerd.grpc.v1.cri"]'
    return f"""version = 2
root = "{base / "root"}"
state = "{base / "state"}"

[grpc]
  address = "{base / "containerd.sock"}"

[ttrpc]
  address = "{base / "containerd.sock.ttrpc"}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{base / "opt"}"

{cri}
  sandbox_image = "{PAUSE_IMAGE}"
  # Without CAP_SYS_RESOURCE (this sandbox) a sandbox's oom_score_adj may only be raised.
  restrict_oom_score_adj = true
  enable_selinux = false

{cri[:-1]}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

{cri[:-1]}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

{cri[:-1]}.containerd.runtimes.runc.options]
  SystemdCgroup = false

{cri[:-1]}.cni]
  bin_dir = "{CNI_PLUGINS}"
  conf_dir = "{cni_conf}"
"""


def _single_file_image(binary: Path, reference: str, *, entrypoint: str) -> bytes:
    """A docker-archive (what ``docker save`` writes) of an image holding one static executable."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tar.gettarinfo(str(binary), arcname=entrypoint.lstrip("/"))
        info.mode, info.uid, info.gid, info.uname, info.gname, info.mtime = 0o755, 0, 0, "", "", 0
        with binary.open("rb") as handle:
            tar.addfile(info, handle)
    layer_bytes = layer.getvalue()
    diff_id = hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": [entrypoint], "User": "65535:65535"},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        }
    ).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": [reference], "Layers": [f"{diff_id}/layer.tar"]}]
    )
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in ((f"{diff_id}/layer.tar", layer_bytes), (config_name, config),
                           ("manifest.json", manifest.encode())):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive.getvalue()


def _check_requirements() -> None:
    if os.geteuid() != 0:
        raise ServerError("a real node needs root (network and mount namespaces, cgroups, containerd)")
    missing = sorted({package for command, package in REQUIRED_COMMANDS.items() if not shutil.which(command)})
    if not (CNI_PLUGINS / "bridge").is_file():
        missing.append("containernetworking-plugins")
    if missing:
        raise ServerError(
            f"a real node needs the Debian packages {' '.join(missing)} (make cluster installs them)"
        )


def _free_slot() -> int:
    """A /30 under 172.30.0.0/16 that no interface or namespace of this host uses yet."""
    used_addresses = _run(["ip", "-o", "address"]).stdout
    namespaces = _run(["ip", "netns", "list"]).stdout
    for slot in range(1, 255):
        if f"172.30.{slot}." not in used_addresses and not re.search(
            rf"^telemetra-{slot}\b", namespaces, re.M
        ):
            return slot
    raise ServerError("no free 172.30.<n>.0/30 for a node network")


def _hierarchies() -> list[Path]:
    """Mounted cgroup hierarchies (v1 controllers and the v2 tree)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        if fstype in ("cgroup", "cgroup2") and fields[4].startswith(str(CGROUPS)):
            found.append(Path(fields[4]))
    return found


def cgroup_pids(directory: Path) -> set[int]:
    """The processes in the cgroup tree; cgroups that go away while it is read (their pods ending) are
    skipped: os.walk ignores a directory it cannot list, where Path.rglob raises."""
    pids: set[int] = set()
    for parent, _, files in os.walk(directory):
        if "cgroup.procs" in files:
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in Path(parent, "cgroup.procs").read_text().split())
    return pids


def _rmdir_cgroup(directory: Path, deadline: float) -> None:
    while True:
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                progress(f"could not remove cgroup {directory}")
                return
            time.sleep(0.1)


def _pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def _alive(pid: int) -> bool:
    """Running, or dead but not yet reaped by its parent (init reaps orphans when it gets to them)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _read_sysctl(name: str) -> str:
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return ""


def _write_sysctl(name: str, value: str) -> None:
    with contextlib.suppress(OSError):
        Path("/proc/sys", name).write_text(value)


def _run(argv: list[str], *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise ServerError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m telemetra.dev.kube.node`` (``make cluster``): a real one-node cluster in the
    foreground until Ctrl-C; ``--images`` also loads the images ``make images`` built."""
    import argparse

    parser = argparse.ArgumentParser(prog="make cluster", description=main.__doc__)
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=cache_root() / "cluster",
        help="certificates, containerd's images, volumes, logs (kept; default: %(default)s)",
    )
    parser.add_argument(
        "--images", action="store_true", help="load the images of `make images` into the node"
    )
    args = parser.parse_args(argv)
    cluster = NodeCluster(args.work_dir)

    def announce() -> None:
        if args.images:
            from telemetra.dev.kube.images import built_images

            cluster.load_images(built_images().values())
        print(f"export KUBECONFIG={cluster.kubeconfig}", flush=True)
        print(
            f"# node {NODE_NAME} at {cluster.node_ip}; containerd at {cluster.containerd_socket}", flush=True
        )
        progress(f"logs in {cluster.log_dir} and {cluster.root / 'control-plane' / 'logs'}; Ctrl-C stops it")

    def exited() -> str:
        plane = cluster.control_plane
        codes = plane.exited() if plane is not None else {}
        return "; ".join(f"{name} exited on its own (code {code})" for name, code in codes.items())

    return serve_in_foreground(cluster, announce, exited, keep=True)


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["NODE_NAME", "STORAGE_CLASS", "NodeCluster", "dns_query", "host_state"]
