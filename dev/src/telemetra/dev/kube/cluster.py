"""A real Kubernetes control plane on 127.0.0.1 for tests and local development: no Docker, no containers.

``KubeCluster.start()`` runs, as plain child processes on free loopback ports, etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok, creates one fake Node that kwok keeps Ready, and installs the
vendored upstream CRDs (Strimzi, spark-operator, prometheus-operator, CloudNativePG, grafana-operator). The
controller manager and scheduler make Deployments, ReplicaSets, garbage collection and namespace deletion work as
in a real cluster; kwok marks scheduled pods Running and Ready without running them.

Each component logs to ``<work dir>/logs/<name>.log``; a component that fails to start raises ``ServerError``
with its log tail. ``stop`` signals exactly the PIDs this object started. Binaries come from
:func:`telemetra.dev.kube.binaries.ensure_binaries` (built once, cached).

    cluster = KubeCluster()
    cluster.start()
    subprocess.run(["kopf", "run", ...], env=cluster.env())
    cluster.cleanup()
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import yaml  # type: ignore[import-untyped,unused-ignore]  # no types-PyYAML in the dev extra
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from telemetra.dev.kube.binaries import ensure_binaries
from telemetra.dev.localstack.process import (
    LocalServer,
    ServerError,
    free_port,
    openssl,
    progress,
    tail,
    terminate,
    track,
)

UPSTREAM_CRDS_DIR = Path(__file__).parent / "upstream-crds"
NODE_NAME = "kwok-node-0"
SERVICE_CIDR = "10.0.0.0/24"
POD_CIDR = "10.244.0.0/16"
NODE_IP = "10.1.0.1"  # outside the pod and service ranges
FIELD_MANAGER = "telemetra-localstack"
# Start order; stop runs in reverse, one group at a time (clients before the API server, etcd last).
_STOP_GROUPS = (("kwok", "kube-scheduler", "kube-controller-manager"), ("kube-apiserver",), ("etcd",))

try:  # libyaml parses the multi-megabyte CRDs ~10x faster than the pure-Python loader
    _YamlLoader: type[yaml.SafeLoader] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _YamlLoader = yaml.SafeLoader


def upstream_crds() -> list[Path]:
    """The vendored upstream CRD files (see ``upstream-crds/README.md``), in a stable order."""
    return sorted(UPSTREAM_CRDS_DIR.rglob("*.yaml"))


class KubeCluster(LocalServer):
    """One throwaway control plane. ``work_dir`` holds certificates, the kubeconfig, etcd's data and the logs;
    a temporary directory (removed by ``cleanup``) when None. ``crds``: CRD files installed by ``start``
    (default: the upstream ones; ``()`` for none). Every component binds ``address``; a real node
    (:class:`telemetra.dev.kube.node.NodeCluster`) passes its node IP, and a ``launcher`` prefix
    (``nsenter …``) that starts the components inside its network namespace. ``fake_node``: run kwok with one
    fake node (for tests without containers). The methods block."""

    def __init__(
        self,
        work_dir: Path | str | None = None,
        *,
        bin_dir: Path | None = None,
        crds: Iterable[Path] | None = None,
        startup_timeout: float = 120.0,
        address: str = "127.0.0.1",
        launcher: Sequence[str] = (),
        fake_node: bool = True,
    ):
        self._owns_dir = work_dir is None
        self.root = (
            Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="telemetra-kube-"))
        )
        self.bin_dir = bin_dir
        self.crds = list(crds) if crds is not None else upstream_crds()
        self.startup_timeout = startup_timeout
        self.address = address
        self.launcher = tuple(launcher)
        self.fake_node = fake_node
        self.ports: dict[str, int] = {}
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self._token = ""
        self._ssl: ssl.SSLContext | None = None

    # -- addresses and credentials -------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def server(self) -> str:
        if "apiserver" not in self.ports:
            raise RuntimeError("the cluster has not been started")
        return f"https://{self.address}:{self.ports['apiserver']}"

    @property
    def ca_file(self) -> Path:
        return self.pki_dir / "ca.crt"

    @property
    def token(self) -> str:
        """Bearer token of the admin user (group system:masters)."""
        return self._token

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def etcd_data_dir(self) -> Path:
        return self.root / "etcd"

    @property
    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self._processes.items()}

    @property
    def running(self) -> bool:
        return bool(self._processes) and all(p.poll() is None for p in self._processes.values())

    def exited(self) -> dict[str, int]:
        """Components that have exited on their own, with their exit codes."""
        codes = {name: process.poll() for name, process in self._processes.items()}
        return {name: code for name, code in codes.items() if code is not None}

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``os.environ`` (or ``base``) plus KUBECONFIG, for kopf, helm and kubectl subprocesses."""
        env = dict(os.environ if base is None else base)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def api_client(self) -> k8s_client.ApiClient:
        """A new ``kubernetes.client.ApiClient`` for this cluster (the global default config is untouched)."""
        api: k8s_client.ApiClient = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig), persist_config=False
        )
        return api

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        binary = (self.bin_dir or ensure_binaries()) / "kubectl"
        return subprocess.run(
            [str(binary), *args], env=self.env(), capture_output=True, text=True, timeout=timeout, check=check
        )

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.running:
            return
        self.stop()  # whatever is left of an earlier start in which a component died
        self.bin_dir = self.bin_dir or ensure_binaries()
        started = time.monotonic()
        for attempt in range(3):
            try:
                self._start_once(self.bin_dir)
                break
            except ServerError as error:
                self.stop()
                if attempt < 2 and "address already in use" in str(error):  # lost a port race with someone
                    progress("a port was taken meanwhile; starting the cluster again on new ports")
                    continue
                raise
            except BaseException:
                self.stop()
                raise
        progress(
            f"Kubernetes {self.server} ready in {time.monotonic() - started:.1f} s (logs: {self.log_dir})"
        )

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM our own processes, clients first and etcd last; SIGKILL whatever is still there after
        ``timeout``. One signal each: a second SIGTERM makes Kubernetes components skip their clean shutdown."""
        for group in _STOP_GROUPS:
            self.stop_components(group, timeout)
        self.stop_components(list(self._processes), timeout)  # what others launched: none expected here
        for handle in self._logs:
            handle.close()
        self._logs.clear()

    def stop_components(self, names: Iterable[str], timeout: float = 20.0) -> None:
        """SIGTERM these components at once, wait for them, SIGKILL whichever outlived ``timeout``."""
        members = [self._processes.pop(name) for name in names if name in self._processes]
        for process in members:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in members:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))
            terminate(process, signal.SIGKILL, timeout)  # kills only if it outlived the deadline; reaps

    def cleanup(self) -> None:
        """Stop; remove the work directory if this object created it, else only etcd's data (logs stay)."""
        super().cleanup()
        if not self._owns_dir:
            shutil.rmtree(self.etcd_data_dir, ignore_errors=True)

    # -- CRDs ----------------------------------------------------------------------------------------------
    def apply_crds(self, paths: Iterable[Path], timeout: float = 60.0) -> list[str]:
        """Create or update (server-side apply) every CustomResourceDefinition in the files, then wait until
        each is Established. Returns their names."""
        pending: dict[str, dict[str, Any]] = {}
        for path in paths:
            for document in yaml.load_all(Path(path).read_bytes(), Loader=_YamlLoader):
                if not document:
                    continue
                if document.get("kind") != "CustomResourceDefinition":
                    raise ValueError(f"{path}: not a CustomResourceDefinition: {document.get('kind')!r}")
                name = document["metadata"]["name"]
                applied = self._request(
                    "PATCH",
                    f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
                    f"?fieldManager={FIELD_MANAGER}&force=true",
                    document,
                    content_type="application/apply-patch+yaml",  # JSON is YAML
                )
                pending[name] = applied
        names = list(pending)
        deadline = time.monotonic() + timeout
        while pending:
            for name, crd in list(pending.items()):
                if _condition(crd, "Established"):
                    del pending[name]
                else:
                    pending[name] = self._request(
                        "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
                    )
            if pending:
                if time.monotonic() > deadline:
                    raise ServerError(f"CRDs not Established after {timeout:.0f} s: {', '.join(pending)}")
                time.sleep(0.1)
        return names

    # -- internals -----------------------------------------------------------------------------------------
    def _start_once(self, bin_dir: Path) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._credentials()
        self.ports = {name: free_port() for name in ("etcd", "etcd-peer", "apiserver", "kcm", "scheduler")}
        self._write_kubeconfig()

        self._launch("etcd", bin_dir, self._etcd_args())
        self.wait(lambda: self._http_ok(f"http://{self.address}:{self.ports['etcd']}/health"), "etcd", 30)
        self._launch("kube-apiserver", bin_dir, self._apiserver_args())
        self.wait(self._api_ready, "kube-apiserver /readyz", self.startup_timeout)

        # The API server answers: the rest starts in parallel, and the CRDs go in while they come up.
        self._launch("kube-controller-manager", bin_dir, self._kcm_args())
        self._launch("kube-scheduler", bin_dir, self._scheduler_args())
        if self.fake_node:
            self._launch(
                "kwok", bin_dir, self._kwok_args(), env={"HOME": str(self.root)}
            )  # no ~/.kwok config
            self._create_node()
        if self.crds:
            self.apply_crds(self.crds, timeout=self.startup_timeout)
        checks: list[tuple[str, Callable[[], bool]]] = [
            ("kube-controller-manager /healthz", lambda: self._http_ok(self._local("kcm", "/healthz"))),
            ("kube-scheduler /healthz", lambda: self._http_ok(self._local("scheduler", "/healthz"))),
            ("ServiceAccount default/default (kube-controller-manager)", self._default_service_account),
        ]
        if self.fake_node:
            checks.append((f"node {NODE_NAME} Ready (kwok)", self._node_ready))
        for what, ready in checks:
            self.wait(ready, what, self.startup_timeout)

    def _credentials(self) -> None:
        """A CA, a serving certificate for 127.0.0.1, a service-account signing key and an admin token; kept
        across restarts of the same work directory (so an existing kubeconfig stays valid)."""
        pki = self.pki_dir
        pki.mkdir(parents=True, exist_ok=True)
        tokens = pki / "tokens.csv"
        if not tokens.is_file():
            openssl(pki, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
            openssl(
                pki, "req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "3650", "-subj",
                "/CN=telemetra-localstack-ca", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", "-out", "ca.crt",
            )  # fmt: skip
            openssl(pki, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key")
            openssl(pki, "ec", "-in", "sa.key", "-pubout", "-out", "sa.pub")
            partial = pki / "tokens.tmp"
            partial.write_text(f'{secrets.token_urlsafe(32)},admin,admin,"system:masters"\n')
            partial.chmod(0o600)
            os.replace(partial, tokens)
        self._serving_certificate()
        self._token = tokens.read_text().split(",", 1)[0]
        self._ssl = ssl.create_default_context(cafile=str(self.ca_file))

    def _serving_certificate(self) -> None:
        """The API server's certificate for ``address`` (and the in-cluster names), issued again when the
        address changed since the last start of this work directory."""
        pki = self.pki_dir
        names = [f"IP:{self.address}", "IP:127.0.0.1", "IP:10.0.0.1", "DNS:localhost", "DNS:kubernetes",
                 "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
                 "DNS:kubernetes.default.svc.cluster.local"]  # fmt: skip
        extensions = (
            f"subjectAltName={','.join(dict.fromkeys(names))}\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
        )
        ext_file = pki / "apiserver.ext"
        if (pki / "apiserver.crt").is_file() and ext_file.is_file() and ext_file.read_text() == extensions:
            return
        ext_file.write_text(extensions)
        openssl(pki, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "apiserver.key")
        openssl(
            pki, "req", "-new", "-key", "apiserver.key", "-subj", "/CN=kube-apiserver", "-out", "apiserver.csr"
        )  # fmt: skip
        openssl(
            pki, "x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "3650", "-sha256", "-extfile", "apiserver.ext", "-out", "apiserver.crt",
        )  # fmt: skip

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "telemetra",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": "admin", "user": {"token": self._token}}],
            "contexts": [{"name": "telemetra", "context": {"cluster": "telemetra", "user": "admin"}}],
            "current-context": "telemetra",
        }
        partial = self.kubeconfig.with_suffix(".tmp")
        partial.write_text(yaml.safe_dump(config, sort_keys=False))
        partial.chmod(0o600)
        os.replace(partial, self.kubeconfig)

    def _etcd_args(self) -> list[str]:
        client = f"http://{self.address}:{self.ports['etcd']}"
        peer = f"http://{self.address}:{self.ports['etcd-peer']}"
        return [
            "--name=telemetra", f"--data-dir={self.etcd_data_dir}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=telemetra={peer}",
            "--unsafe-no-fsync",  # throwaway data; as in envtest
            "--log-level=warn",
        ]  # fmt: skip

    def _apiserver_args(self) -> list[str]:
        pki = self.pki_dir
        return [
            f"--etcd-servers=http://{self.address}:{self.ports['etcd']}",
            f"--bind-address={self.address}", f"--advertise-address={self.address}",
            f"--secure-port={self.ports['apiserver']}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}", f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--allow-privileged=true",
            # as kwokctl: no endpoint reconciler for a loopback advertise address (pods on a real node reach
            # the `kubernetes` Service at the node IP), no APF bookkeeping
            f"--endpoint-reconciler-type={'none' if self.address == '127.0.0.1' else 'lease'}",
            "--enable-priority-and-fairness=false",
            "--kubelet-preferred-address-types=InternalIP,Hostname",  # kubectl logs/exec/port-forward
            # published in kube-system/extension-apiserver-authentication, where the controller manager's and
            # scheduler's delegated authentication look for it (they log errors every second without it)
            f"--requestheader-client-ca-file={pki / 'ca.crt'}", "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        ]  # fmt: skip

    def _component_args(self, port: str) -> list[str]:
        kubeconfig = str(self.kubeconfig)
        return [
            f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--leader-elect=false",
            f"--bind-address={self.address}", f"--secure-port={self.ports[port]}",
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
        ]  # fmt: skip

    def _kcm_args(self) -> list[str]:
        pki = self.pki_dir
        return [
            *self._component_args("kcm"),
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
        ]  # fmt: skip

    def _scheduler_args(self) -> list[str]:
        return self._component_args("scheduler")

    def _kwok_args(self) -> list[str]:
        return [
            f"--kubeconfig={self.kubeconfig}", "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",  # its own fake nodes only
            f"--cidr={POD_CIDR}", f"--node-ip={NODE_IP}", "--node-lease-duration-seconds=40",
        ]  # fmt: skip

    def _launch(
        self, name: str, bin_dir: Path, args: list[str], env: Mapping[str, str] | None = None
    ) -> None:
        self.launch(name, [str(bin_dir / name), *args], env)

    def launch(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """Start one component (behind ``launcher``), logging to ``<log_dir>/<name>.log``; ``stop`` ends it."""
        log = (self.log_dir / f"{name}.log").open("ab")
        self._logs.append(log)
        child_env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        child_env.update(env or {})
        process = subprocess.Popen(
            [*self.launcher, *argv],
            cwd=self.root,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal reaches us; we stop the components in order
        )
        track(process)
        self._processes[name] = process

    def wait(self, ready: Callable[[], bool], what: str, timeout: float) -> None:
        """Poll ``ready``; fail fast with the log of any of our components that exited meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            for name, process in self._processes.items():
                if process.poll() is not None:
                    log = self.log_dir / f"{name}.log"
                    raise ServerError(f"{name} exited with code {process.returncode}; {log}:\n{tail(log)}")
            with contextlib.suppress(ServerError, OSError):  # a transient API error: ask again
                if ready():
                    return
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {log}:\n{tail(log, 15)}" for log in sorted(self.log_dir.glob("*.log")))
                raise ServerError(f"{what} not ready after {timeout:.0f} s\n{logs}")
            time.sleep(0.1)

    def _local(self, port: str, path: str) -> str:
        return f"https://{self.address}:{self.ports[port]}{path}"

    def _http_ok(self, url: str) -> bool:
        """A GET answered 200, for etcd and the self-signed health endpoints of the controller manager and
        scheduler (nothing is sent but the request, so their certificates are not verified)."""
        context = None
        if url.startswith("https:"):
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _api_ready(self) -> bool:
        try:
            with self._open("GET", "/readyz") as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _open(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> Any:
        request = urllib.request.Request(f"{self.server}{path}", data=body, method=method)
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("Accept", "application/json")
        if body is not None:
            request.add_header("Content-Type", content_type)
        return urllib.request.urlopen(request, timeout=30, context=self._ssl)

    def _request(
        self, method: str, path: str, body: object = None, content_type: str = "application/json"
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        try:
            with self._open(method, path, data, content_type) as response:
                result: dict[str, Any] = json.loads(response.read())
                return result
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:2000]
            raise ServerError(f"{method} {path}: HTTP {error.code}: {detail}") from None

    def _create_node(self) -> None:
        """One fake node that kwok manages (heartbeats, Ready) and the scheduler binds pods to. No taints, so
        workloads need no tolerations."""
        resources = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"}
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": NODE_NAME,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                },
            },
            "status": {"allocatable": resources, "capacity": resources},
        }
        try:
            self._request("POST", "/api/v1/nodes", node)
        except ServerError as error:
            if "HTTP 409" not in str(error):  # already there (a restarted work directory)
                raise

    def _node_ready(self) -> bool:
        return _condition(self._request("GET", f"/api/v1/nodes/{NODE_NAME}"), "Ready")

    def _default_service_account(self) -> bool:
        try:
            self._request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        except ServerError:
            return False
        return True


def _condition(obj: Mapping[str, Any], kind: str) -> bool:
    conditions = obj.get("status", {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


__all__ = ["NODE_NAME", "UPSTREAM_CRDS_DIR", "KubeCluster", "upstream_crds"]
