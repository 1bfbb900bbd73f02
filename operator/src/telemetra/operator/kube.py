"""A small asyncio client for the Kubernetes REST API, on kopf's own credentials and aiohttp.

kopf logs in with the official client's configuration loader (in-cluster service account or kubeconfig);
this reuses that login (:func:`kopf.login_via_client`) so the handlers talk to the API with the same identity
and without a second, thread-based client. Only what the operator needs: get (also whether an object exists), list,
server-side apply, merge patch (``/status`` too) and delete, on the kinds in :data:`KINDS`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import kopf

log = logging.getLogger("telemetra.operator.kube")
MAX_ATTEMPTS = 5  # for 429 Too Many Requests, honouring Retry-After (at most 5 s each)
# A server-side Table without the object (``includeObject=None``): the printer columns alone (a Secret's are its
# name, type, number of keys and age), never data or annotations. No fallback to the full object: a server that
# cannot do this refuses (406) rather than send the values.
TABLE_ONLY = "application/json;as=Table;g=meta.k8s.io;v=v1"


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        base = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name)}"
        if subresource:
            base += f"/{subresource}"
        return base


def _kinds(*kinds: Kind) -> dict[tuple[str, str], Kind]:
    return {(k.api_version, k.kind): k for k in kinds}


KINDS = _kinds(
    Kind("v1", "ConfigMap", "configmaps"),
    Kind("v1", "ServiceAccount", "serviceaccounts"),
    Kind("v1", "Secret", "secrets"),
    Kind("v1", "Namespace", "namespaces", namespaced=False),
    Kind("v1", "Node", "nodes", namespaced=False),
    Kind("v1", "Pod", "pods"),
    Kind("v1", "Event", "events"),
    Kind("apps/v1", "Deployment", "deployments"),
    Kind("sparkoperator.k8s.io/v1beta2", "SparkApplication", "sparkapplications"),
    Kind("kafka.strimzi.io/v1", "KafkaTopic", "kafkatopics"),
    Kind("kafka.strimzi.io/v1beta2", "KafkaTopic", "kafkatopics"),
    Kind("telemetra.io/v1alpha1", "TelemetraStream", "telemetrastreams"),
    Kind("telemetra.io/v1alpha1", "TelemetraPool", "telemetrapools"),
    Kind("coordination.k8s.io/v1", "Lease", "leases"),
    Kind("rbac.authorization.k8s.io/v1", "Role", "roles"),
    Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    Kind("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", namespaced=False),
    Kind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
)


def kind_of(api_version: str, kind: str) -> Kind:
    try:
        return KINDS[(api_version, kind)]
    except KeyError:
        raise ValueError(f"unknown kind {api_version} {kind}") from None


def kind_for(obj: Mapping[str, Any]) -> Kind:
    return kind_of(obj["apiVersion"], obj["kind"])


class KubeError(Exception):
    """A request the API server refused (``status`` is the HTTP status; 0 for a connection failure)."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message


class Kube:
    """One aiohttp session to the API server; re-logs in once when a token expires (401)."""

    def __init__(self, info: kopf.ConnectionInfo, *, timeout: float = 30.0, connections: int = 64):
        self._info = info
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def login(cls, *, timeout: float = 30.0) -> Kube:
        """In-cluster service account, else ``$KUBECONFIG`` / ``~/.kube/config``."""
        info = kopf.login_via_client(logger=log, settings=kopf.OperatorSettings())
        if info is None:
            raise RuntimeError("cannot log in: the kubernetes client library is not installed")
        return cls(info, timeout=timeout)

    @property
    def server(self) -> str:
        return str(self._info.server).rstrip("/")

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, ssl=self._info.as_ssl_context()),
                headers=self._info.as_http_headers(),
                timeout=self._timeout,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
        accept: str = "application/json",
    ) -> Any:
        url = self.server + path + (f"?{urlencode(params)}" if params else "")
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type, "Accept": accept}
        relogged = False
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with self._open().request(method, url, data=data, headers=headers) as response:
                    text = await response.text()
                    if response.status == 401 and not relogged:
                        relogged = True
                        await self._relogin()
                        continue
                    if response.status == 429 and attempt < MAX_ATTEMPTS:  # throttled, or a cache warming up
                        await asyncio.sleep(_retry_after(response.headers.get("Retry-After")))
                        continue
                    if response.status >= 400:
                        raise _error(response.status, text)
                    return json.loads(text) if text else None
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise KubeError(0, type(exc).__name__, str(exc) or "request failed") from exc
        raise KubeError(
            429, "TooManyRequests", f"{method} {path}: still throttled after {MAX_ATTEMPTS} attempts"
        )

    async def request_text(self, path: str) -> str:
        """A plain-text GET (``/metrics``, ``/version`` …)."""
        try:
            async with self._open().get(self.server + path) as response:
                text = await response.text()
                if response.status >= 400:
                    raise _error(response.status, text)
                return text
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise KubeError(0, type(exc).__name__, str(exc) or "request failed") from exc

    async def _relogin(self) -> None:
        fresh = Kube.login()
        self._info = fresh._info
        if self._session is not None:
            await self._session.close()
        self._session = None

    # -- verbs ---------------------------------------------------------------------------------------------
    async def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = await self.request("GET", kind.path(namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    async def exists(self, kind: Kind, namespace: str | None, name: str) -> bool:
        """Whether the object exists, asked so that nothing of it but its printer columns comes back: how the
        operator checks Secrets, whose values (and annotations) never reach it."""
        try:
            await self.request(
                "GET", kind.path(namespace, name), accept=TABLE_ONLY, params={"includeObject": "None"}
            )
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def list(
        self, kind: Kind, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        answer = await self.request("GET", kind.path(namespace), params=params)
        items: list[dict[str, Any]] = answer.get("items") or []
        return items

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        kind, meta = kind_for(obj), obj["metadata"]
        created: dict[str, Any] = await self.request("POST", kind.path(meta.get("namespace")), body=obj)
        return created

    async def apply(self, obj: Mapping[str, Any], *, manager: str, force: bool = True) -> dict[str, Any]:
        """Server-side apply: creates, or updates the fields ``manager`` owns (a no-op when nothing differs)."""
        kind, meta = kind_for(obj), obj["metadata"]
        params = {"fieldManager": manager, "force": "true" if force else "false"}
        applied: dict[str, Any] = await self.request(
            "PATCH",
            kind.path(meta.get("namespace"), meta["name"]),
            body=obj,
            content_type="application/apply-patch+yaml",
            params=params,
        )
        return applied

    async def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        body: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """JSON merge patch (``None`` values remove keys)."""
        patched: dict[str, Any] = await self.request(
            "PATCH",
            kind.path(namespace, name, subresource),
            body=body,
            content_type="application/merge-patch+json",
        )
        return patched

    async def delete(
        self, kind: Kind, namespace: str | None, name: str, *, propagation: str = "Background"
    ) -> bool:
        """Whether it existed."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        try:
            await self.request("DELETE", kind.path(namespace, name), body=body)
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True


def _retry_after(header: str | None) -> float:
    try:
        return min(5.0, max(0.1, float(header or 1)))
    except ValueError:
        return 1.0


def _error(status: int, text: str) -> KubeError:
    try:
        answer = json.loads(text)
        return KubeError(status, str(answer.get("reason") or status), str(answer.get("message") or text))
    except ValueError:
        return KubeError(status, str(status), text[:500])
