"""Secret references resolved at send time: env variables, mounted files, and the Kubernetes API (a real
kube-apiserver, as the operator's tests use): a dispatcher's service account with a Role that may get Secrets
reads one, sees a rotation once its cache expires, and a deleted Secret, a missing key or a namespace it may
not read end as SecretMissing naming the reference, never the value."""

from __future__ import annotations

import base64
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from telemetra.dev.kube.cluster import KubeCluster
from telemetra.services.alerts import AlertSettings, SecretRef
from telemetra.services.alerts.secrets import InCluster, KubernetesSecrets, SecretMissing, SecretResolver

VALUE = "https://discord.com/api/webhooks/1/sEcReT-value-never-logged"
ROTATED = "https://discord.com/api/webhooks/1/rotated-value-never-logged"


def ref(name: str = "stream-alerts", key: str = "url", namespace: str | None = None) -> SecretRef:
    return SecretRef(name=name, key=key, namespace=namespace)


async def test_env_and_mounted_references(tmp_path: Path) -> None:
    (tmp_path / "stream-alerts").mkdir()
    (tmp_path / "stream-alerts" / "url").write_text(VALUE + "\n")
    (tmp_path / "team-a" / "stream-alerts").mkdir(parents=True)
    (tmp_path / "team-a" / "stream-alerts" / "url").write_text(ROTATED)
    resolver = SecretResolver(tmp_path, environ={"HOOK_KEY": "k"})
    assert await resolver.resolve(SecretRef(env="HOOK_KEY")) == "k"
    assert await resolver.resolve(ref()) == VALUE
    assert await resolver.resolve(ref(namespace="team-a")) == ROTATED  # <dir>/<namespace>/<name>/<key>
    with pytest.raises(SecretMissing, match=r"^env OTHER: not set$"):
        await resolver.resolve(SecretRef(env="OTHER"))
    with pytest.raises(SecretMissing, match=r"^secret team-b/stream-alerts/url: not mounted$"):
        await resolver.resolve(ref(namespace="team-b"))


def test_the_kubernetes_source_needs_in_cluster_credentials(tmp_path: Path) -> None:
    settings = AlertSettings(secrets_source="kubernetes", namespace="team-a")
    with pytest.raises(ValueError, match="KUBERNETES_SERVICE_HOST is not set"):
        SecretResolver.from_settings(settings, environ={})
    with pytest.raises(ValueError, match="no service-account token"):
        InCluster.from_environment({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, tmp_path)
    (tmp_path / "token").write_text("t")
    found = InCluster.from_environment(
        {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}, tmp_path
    )
    assert found == InCluster("https://[fd00::1]:6443", tmp_path / "token", None)


# -- against a real API server ------------------------------------------------------------------------------
@dataclass
class Cluster:
    admin: httpx.AsyncClient
    server: str
    ca_file: Path
    namespace: str  # the dispatcher's: its service account may get Secrets here
    other: str  # a namespace it has no rights in
    service_account: Path  # a pod's service-account directory: token, ca.crt, namespace

    async def put_secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
        path = f"/api/v1/namespaces/{namespace}/secrets"
        answer = await self.admin.put(f"{path}/{name}", json=body)
        if answer.status_code == 404:
            answer = await self.admin.post(path, json=body)
        answer.raise_for_status()

    async def delete_secret(self, namespace: str, name: str) -> None:
        (await self.admin.delete(f"/api/v1/namespaces/{namespace}/secrets/{name}")).raise_for_status()


async def _create(admin: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await admin.post(path, json=body)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


@pytest.fixture
async def cluster(kube_cluster: KubeCluster, tmp_path: Path) -> AsyncIterator[Cluster]:
    admin = httpx.AsyncClient(
        base_url=kube_cluster.server,
        verify=ssl.create_default_context(cafile=str(kube_cluster.ca_file)),
        headers={"Authorization": f"Bearer {kube_cluster.token}"},
        timeout=10,
    )
    suffix = uuid.uuid4().hex[:8]
    namespace, other = f"alerts-{suffix}", f"elsewhere-{suffix}"
    try:
        for name in (namespace, other):
            await _create(
                admin,
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            )
        meta = {"name": "telemetra-alerts", "namespace": namespace}
        await _create(admin, f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": meta})
        rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
        rule = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
        await _create(admin, f"{rbac}/roles", {"metadata": meta, "rules": [rule]})
        binding = {
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "telemetra-alerts"},
            "subjects": [{"kind": "ServiceAccount", "name": "telemetra-alerts", "namespace": namespace}],
        }
        await _create(admin, f"{rbac}/rolebindings", binding)
        # A bound token, as the kubelet mounts one into the dispatcher's pod.
        token = await _create(
            admin,
            f"/api/v1/namespaces/{namespace}/serviceaccounts/telemetra-alerts/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": 3600},
            },
        )
        account = tmp_path / "serviceaccount"
        account.mkdir()
        (account / "token").write_text(token["status"]["token"])
        (account / "ca.crt").write_bytes(kube_cluster.ca_file.read_bytes())
        (account / "namespace").write_text(namespace)
        yield Cluster(admin, kube_cluster.server, kube_cluster.ca_file, namespace, other, account)
    finally:
        for name in (namespace, other):
            await admin.delete(f"/api/v1/namespaces/{name}")
        await admin.aclose()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def in_pod_resolver(cluster: Cluster, clock: Clock) -> SecretResolver:
    """The resolver a dispatcher pod builds: credentials from the service-account directory and the
    KUBERNETES_SERVICE_* variables, its namespace from the namespace file."""
    host, port = cluster.server.removeprefix("https://").rsplit(":", 1)
    environ = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
    credentials = InCluster.from_environment(environ, cluster.service_account)
    settings = AlertSettings(
        secrets_source="kubernetes", namespace=(cluster.service_account / "namespace").read_text()
    )
    return SecretResolver(
        environ={},
        kubernetes=KubernetesSecrets(credentials, cache_s=30, clock=clock),
        namespace=settings.namespace,
    )


async def test_a_secret_is_read_rotated_and_gone(cluster: Cluster) -> None:
    clock = Clock()
    resolver = in_pod_resolver(cluster, clock)
    try:
        await cluster.put_secret(cluster.namespace, "stream-alerts", {"url": VALUE, "webhook-key": "k1"})
        assert await resolver.resolve(ref()) == VALUE  # no namespace: the dispatcher's own
        assert await resolver.resolve(ref(namespace=cluster.namespace)) == VALUE
        assert await resolver.resolve(ref(key="webhook-key")) == "k1"

        await cluster.put_secret(cluster.namespace, "stream-alerts", {"url": ROTATED})
        assert await resolver.resolve(ref()) == VALUE  # cached
        clock.now += 31
        assert await resolver.resolve(ref()) == ROTATED  # picked up once the cache expired
        with pytest.raises(SecretMissing) as missing_key:
            await resolver.resolve(ref(key="webhook-key"))

        await cluster.delete_secret(cluster.namespace, "stream-alerts")
        clock.now += 31
        with pytest.raises(SecretMissing) as gone:
            await resolver.resolve(ref())
        with pytest.raises(SecretMissing) as forbidden:
            await resolver.resolve(ref(namespace=cluster.other))
    finally:
        await resolver.close()
    assert str(missing_key.value) == "secret stream-alerts/webhook-key: the Secret has no such key"
    assert str(gone.value) == "secret stream-alerts/url: no such Secret"
    assert str(forbidden.value).startswith(
        f"secret {cluster.other}/stream-alerts/url: the dispatcher may not read it"
    )
    for error in (missing_key.value, gone.value, forbidden.value):
        assert "never-logged" not in str(error) and "k1" not in str(error)


async def test_an_unreachable_api_server_is_a_missing_secret_for_now(
    cluster: Cluster, tmp_path: Path
) -> None:
    credentials = InCluster("https://127.0.0.1:9", cluster.service_account / "token", cluster.ca_file)
    resolver = SecretResolver(
        kubernetes=KubernetesSecrets(credentials, timeout=2), namespace=cluster.namespace
    )
    try:
        with pytest.raises(
            SecretMissing, match=r"^secret stream-alerts/url: Kubernetes API unreachable \(ConnectError\)$"
        ):
            await resolver.resolve(ref())
    finally:
        await resolver.close()
