"""Test and benchmark support: the operator as a real subprocess, a client for the test cluster, and the parts
of Strimzi and the Spark operator that the tests play (they write the status those operators would write).

Nothing here fakes the API server or the operator: the tests run ``python -m telemetra.operator run`` against
the local control plane of :mod:`telemetra.dev.kube`. Only the Topic Operator and the Spark
operator, which do not run there, are stood in for by status patches of the same shape as theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

import aiohttp
import kopf
import yaml  # type: ignore[import-untyped,unused-ignore]

from telemetra.dev.localstack.process import free_port
from telemetra.operator.kube import Kind, Kube, KubeError, kind_of
from telemetra.operator.settings import OperatorSettings
from telemetra.records import dead_letter_topic, events_topic

T = TypeVar("T")
EXAMPLES_DIR = Path(__file__).resolve().parents[5] / "operator" / "examples"
KAFKA_TOPIC = kind_of("kafka.strimzi.io/v1", "KafkaTopic")
SPARK_APP = kind_of("sparkoperator.k8s.io/v1beta2", "SparkApplication")
STREAM = kind_of("telemetra.io/v1alpha1", "TelemetraStream")
DEPLOYMENT = kind_of("apps/v1", "Deployment")
CONFIG_MAP = kind_of("v1", "ConfigMap")
SERVICE_ACCOUNT = kind_of("v1", "ServiceAccount")
NAMESPACE = kind_of("v1", "Namespace")
EVENT = kind_of("v1", "Event")
SECRET = kind_of("v1", "Secret")


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- examples and bodies -----------------------------------------------------------------------------------
def example_names() -> list[str]:
    return sorted(path.stem for path in EXAMPLES_DIR.glob("*.yaml"))


def load_example(name: str) -> list[dict[str, Any]]:
    """The documents of ``operator/examples/<name>.yaml``."""
    return [doc for doc in yaml.safe_load_all((EXAMPLES_DIR / f"{name}.yaml").read_text()) if doc]


def stream_manifest(name: str, stream_id: str | None = None, **spec: Any) -> dict[str, Any]:
    """A TelemetraStream on mock traffic unless ``source`` is given."""
    body = {"streamId": stream_id or name, "source": {"type": "mock", "mock": {"rate": 10}}, **spec}
    return {
        "apiVersion": "telemetra.io/v1alpha1",
        "kind": "TelemetraStream",
        "metadata": {"name": name},
        "spec": body,
    }


# -- waiting -----------------------------------------------------------------------------------------------
async def wait_for(
    probe: Callable[[], Awaitable[T | None]], *, within: float, interval: float = 0.1, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy; raise TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + within
    last: T | None = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {within:.1f} s (last: {last!r})")
        await asyncio.sleep(interval)


def condition(obj: Mapping[str, Any] | None, kind: str) -> Mapping[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


# -- a client and namespaces -------------------------------------------------------------------------------
def client(server: str, ca_file: Path | str, token: str) -> Kube:
    return Kube(kopf.ConnectionInfo(server=server, ca_path=str(ca_file), token=token, scheme="Bearer"))


async def service_account_kubeconfig(
    kube: Kube, server: str, ca_file: Path, namespace: str, path: Path, account: str = "telemetra-operator"
) -> Path:
    """A kubeconfig at ``path`` that acts as ``account`` with a bound token (the TokenRequest API, as the
    kubelet mounts one into a pod), so a test runs the operator with exactly that ServiceAccount's rights."""
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600},
    }
    answer = await kube.request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token", body=request
    )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": account, "user": {"token": answer["status"]["token"]}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": account, "namespace": namespace}}],
        "current-context": "c",
    }
    await asyncio.to_thread(path.write_text, yaml.safe_dump(config))
    return path


async def create_namespace(kube: Kube, name: str) -> None:
    await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


async def delete_namespace(kube: Kube, name: str) -> None:
    with contextlib.suppress(KubeError):
        await kube.delete(NAMESPACE, None, name)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def apply_all(kube: Kube, namespace: str, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        doc = {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}
        await kube.create(doc)


async def create_secret(kube: Kube, namespace: str, name: str, data: Mapping[str, str]) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace}
    return await kube.create(
        {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": dict(data)}
    )


async def create_backend_secrets(kube: Kube, namespace: str) -> None:
    """The Secrets every Spark job takes its store and cache URLs from, under the operator's default names (in a
    real install the chart makes them): the operator reports a stream whose Secrets are missing as not Ready."""
    fields = OperatorSettings.model_fields
    for name, key, url in (
        (fields["store_secret"].default, fields["store_secret_key"].default, "sqlite:////tmp/telemetra.db"),
        (fields["cache_secret"].default, fields["cache_secret_key"].default, "memory://"),
    ):
        await create_secret(kube, namespace, name, {key: url})


# -- standing in for Strimzi and the Spark operator --------------------------------------------------------
async def mark_topic_ready(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    """What Strimzi's Topic Operator writes once the topic exists in Kafka."""
    topic = await kube.get(KAFKA_TOPIC, namespace, name)
    if topic is None:
        raise LookupError(f"KafkaTopic {namespace}/{name} does not exist")
    status = {
        "observedGeneration": topic["metadata"]["generation"],
        "topicName": topic["metadata"]["name"],
        "topicId": uuid.uuid5(uuid.NAMESPACE_URL, topic["metadata"]["uid"]).hex[:22],
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now()}],
    }
    return await kube.patch(KAFKA_TOPIC, namespace, name, {"status": status}, subresource="status")


async def set_spark_state(
    kube: Kube, namespace: str, name: str, state: str, *, submission: str | None = None, error: str = ""
) -> dict[str, Any]:
    """What the Spark operator writes: ``applicationState``, a submission id per submission, executors."""
    app = await kube.get(SPARK_APP, namespace, name)
    if app is None:
        raise LookupError(f"SparkApplication {namespace}/{name} does not exist")
    executors = int(app["spec"]["executor"].get("instances", 1)) if state == "RUNNING" else 0
    status: dict[str, Any] = {
        "applicationState": {"state": state, "errorMessage": error},
        "driverInfo": {"podName": f"{name}-driver", "webUIServiceName": f"{name}-ui-svc", "webUIPort": 4040},
        "executorState": {f"{name}-exec-{i + 1}": "RUNNING" for i in range(executors)} or None,
        "lastSubmissionAttemptTime": now(),
    }
    if submission is not None:
        status["submissionID"] = submission
    return await kube.patch(SPARK_APP, namespace, name, {"status": status}, subresource="status")


async def play_operators(kube: Kube, namespace: str, kafka_namespace: str, stream_id: str) -> str:
    """Mark the stream's topics Ready and its job RUNNING (a fresh submission id, which is returned)."""
    for topic in (events_topic(stream_id), dead_letter_topic(stream_id)):
        await mark_topic_ready(kube, kafka_namespace, topic)
    submission = str(uuid.uuid4())
    await set_spark_state(kube, namespace, f"telemetra-{stream_id}", "RUNNING", submission=submission)
    return submission


async def get_stream(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    stream = await kube.get(STREAM, namespace, name)
    if stream is None:
        raise LookupError(f"TelemetraStream {namespace}/{name} does not exist")
    return stream


async def wait_condition(
    kube: Kube,
    namespace: str,
    name: str,
    kind: str,
    status: str,
    *,
    reason: str | None = None,
    within: float = 20,
) -> dict[str, Any]:
    """The stream once its condition ``kind`` has ``status`` (and ``reason``) for its current generation."""

    async def probe() -> dict[str, Any] | None:
        stream = await get_stream(kube, namespace, name)
        cond = condition(stream, kind)
        current = cond.get("observedGeneration") == stream["metadata"]["generation"]
        matches = cond.get("status") == status and (reason is None or cond.get("reason") == reason)
        return stream if current and matches else None

    return await wait_for(probe, within=within, what=f"{name}: {kind}={status} {reason or ''}".rstrip())


async def run_ready(
    kube: Kube, namespace: str, kafka_namespace: str, manifest: dict[str, Any]
) -> dict[str, Any]:
    """Create the stream, wait for its children, play Strimzi and Spark, and wait until it is Ready."""
    doc = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
    await kube.create(doc)
    name, stream_id = manifest["metadata"]["name"], manifest["spec"]["streamId"]

    async def children() -> bool:  # created concurrently: each of them, not one for the others
        app = await kube.get(SPARK_APP, namespace, f"telemetra-{stream_id}")
        topics = [
            await kube.get(KAFKA_TOPIC, kafka_namespace, topic)
            for topic in (events_topic(stream_id), dead_letter_topic(stream_id))
        ]
        return app is not None and None not in topics

    await wait_for(children, within=10, what=f"children of {name}")
    await play_operators(kube, namespace, kafka_namespace, stream_id)
    return await wait_condition(kube, namespace, name, "Ready", "True", within=30)


async def events_for(kube: Kube, namespace: str, name: str) -> list[dict[str, Any]]:
    events = await kube.list(EVENT, namespace)
    return [e for e in events if (e.get("involvedObject") or {}).get("name") == name]


async def http_get(url: str) -> tuple[int, str]:
    """Status and body; status 0 when nothing answers."""
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status, await response.text()
    except aiohttp.ClientError:
        return 0, ""


async def operator_alive(process: OperatorProcess) -> bool:
    status, _ = await http_get(f"http://127.0.0.1:{process.liveness_port}/healthz")
    return status == 200


# -- the operator as a subprocess --------------------------------------------------------------------------
class OperatorProcess:
    """``python -m telemetra.operator run`` for one namespace, with its own metrics and liveness ports."""

    def __init__(
        self,
        env: Mapping[str, str],
        namespace: str,
        kafka_namespace: str,
        log_path: Path,
        *,
        resync_seconds: float = 2.0,
        progress_seconds: float = 0.5,
        extra_env: Mapping[str, str] | None = None,
        verbose: bool = True,
    ):
        self.metrics_port, self.liveness_port = free_port(), free_port()
        self.env = {
            **env,
            "TELEMETRA_OPERATOR_WATCH_NAMESPACE": namespace,
            "TELEMETRA_OPERATOR_KAFKA_NAMESPACE": kafka_namespace,
            "TELEMETRA_OPERATOR_RESYNC_SECONDS": str(resync_seconds),
            "TELEMETRA_OPERATOR_PROGRESS_SECONDS": str(progress_seconds),
            "TELEMETRA_OPERATOR_METRICS_PORT": str(self.metrics_port),
            "TELEMETRA_OPERATOR_LIVENESS_ENDPOINT": f"http://127.0.0.1:{self.liveness_port}/healthz",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.log_path = log_path
        self.verbose = verbose  # kopf's debug log: every handler call (the chart's default is off)
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> OperatorProcess:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "telemetra.operator", "run", *(["--verbose"] if self.verbose else [])],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("not started")
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL, as a crashed or OOM-killed pod."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def kinds() -> dict[str, Kind]:
    return {
        "KafkaTopic": KAFKA_TOPIC,
        "SparkApplication": SPARK_APP,
        "Deployment": DEPLOYMENT,
        "ConfigMap": CONFIG_MAP,
        "ServiceAccount": SERVICE_ACCOUNT,
    }
