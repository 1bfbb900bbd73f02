"""Resolving :class:`~telemetra.services.alerts.rules.SecretRef` into values, at send time only.

* ``env`` references read the dispatcher's environment (the embedded demo, ``make stack``).
* Secret references (``name`` and ``key``) come from one of two sources (``AlertSettings.secrets_source``):

  - ``dir`` (default): Secrets mounted as files, ``<secrets_dir>/<name>/<key>`` (a reference with a namespace:
    ``<secrets_dir>/<namespace>/<name>/<key>``); a rotated file is read on the next delivery.
  - ``kubernetes``: the API server, with the pod's service-account credentials
    (``GET /api/v1/namespaces/{ns}/secrets/{name}``; the dispatcher's Role must allow ``get`` on Secrets).
    The namespace is the reference's (the operator sets it to the stream's) or else the dispatcher's own.
    A Secret read is kept for ``cache_s`` (30 s): a rotated Secret is used within that.

Values are never logged: an error (:class:`SecretMissing`) names the reference only, and no response body of
the API server is ever logged or kept.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from telemetra.services.alerts.rules import SecretRef
from telemetra.services.alerts.settings import SERVICE_ACCOUNT_DIR, AlertSettings

CACHE_S: Final = 30.0


class SecretMissing(LookupError):
    """A reference that resolves to nothing (no such variable, Secret or key; or its source cannot be read
    right now). Its message names the reference, never a value. The dispatcher retries such a delivery."""


@dataclass(frozen=True, slots=True)
class InCluster:
    """The credentials a pod has for its API server (injectable for tests)."""

    server: str  # https://HOST:PORT
    token_file: Path  # read on every request: projected tokens are rotated by the kubelet
    ca_file: Path | None  # None: the system's trust store

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, directory: Path = SERVICE_ACCOUNT_DIR
    ) -> InCluster:
        """``KUBERNETES_SERVICE_HOST``/``_PORT`` and the service account's ``token`` and ``ca.crt``; a
        ValueError says what is missing (not running in a pod, or no service-account token mounted)."""
        env = os.environ if environ is None else environ
        host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise ValueError("secrets_source kubernetes: KUBERNETES_SERVICE_HOST is not set (not in a pod?)")
        token = directory / "token"
        if not token.is_file():
            raise ValueError(f"secrets_source kubernetes: no service-account token at {token}")
        ca = directory / "ca.crt"
        host = f"[{host}]" if ":" in host else host  # an IPv6 address
        return cls(f"https://{host}:{port}", token, ca if ca.is_file() else None)


class KubernetesSecrets:
    """Secret values from the API server, each Secret cached for ``cache_s`` seconds (concurrent reads of the
    same Secret share one request)."""

    def __init__(
        self,
        credentials: InCluster,
        *,
        cache_s: float = CACHE_S,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.credentials = credentials
        self.cache_s = cache_s
        self._clock = clock
        verify: ssl.SSLContext | bool = True
        if credentials.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(credentials.ca_file))
        self._client = httpx.AsyncClient(
            base_url=credentials.server, timeout=timeout, verify=verify, follow_redirects=False
        )
        self._cache: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def close(self) -> None:
        await self._client.aclose()

    async def value(self, ref: SecretRef, namespace: str) -> str:
        assert ref.name is not None and ref.key is not None  # a Secret reference (SecretRef's validator)
        data = await self._secret(ref, namespace, ref.name)
        encoded = data.get(ref.key)
        if encoded is None:
            raise SecretMissing(f"{ref.describe()}: the Secret has no such key")
        try:
            value = base64.b64decode(encoded, validate=True).decode("utf-8").strip()
        except (binascii.Error, UnicodeDecodeError):
            raise SecretMissing(f"{ref.describe()}: the key's value is not UTF-8 text") from None
        if not value:
            raise SecretMissing(f"{ref.describe()}: empty")
        return value

    async def _secret(self, ref: SecretRef, namespace: str, name: str) -> dict[str, str]:
        key = (namespace, name)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._cache.get(key)
            if cached is not None and self._clock() < cached[0]:
                return cached[1]
            self._cache.pop(key, None)
            data = await self._fetch(ref, namespace, name)
            self._cache[key] = (self._clock() + self.cache_s, data)
            return data

    async def _fetch(self, ref: SecretRef, namespace: str, name: str) -> dict[str, str]:
        where = ref.describe()
        try:
            token = self.credentials.token_file.read_text("utf-8").strip()
        except OSError:
            raise SecretMissing(f"{where}: the service-account token cannot be read") from None
        try:
            response = await self._client.get(
                f"/api/v1/namespaces/{namespace}/secrets/{name}",
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )
        except httpx.HTTPError as error:  # its text is not logged: only the type
            raise SecretMissing(f"{where}: Kubernetes API unreachable ({type(error).__name__})") from None
        status = response.status_code
        if status == 404:
            raise SecretMissing(f"{where}: no such Secret")
        if status in (401, 403):
            raise SecretMissing(f"{where}: the dispatcher may not read it (HTTP {status}; check its Role)")
        if status != 200:
            raise SecretMissing(f"{where}: Kubernetes API answered HTTP {status}")
        try:
            data = response.json().get("data") or {}
        except ValueError:
            raise SecretMissing(f"{where}: Kubernetes API answered something other than a Secret") from None
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


class SecretResolver:
    """``await resolver.resolve(ref)``: an env reference from ``environ``; a Secret reference from the mounted
    ``secrets_dir``, or from ``kubernetes`` when given (then in ``ref.namespace`` or else ``namespace``)."""

    def __init__(
        self,
        secrets_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        kubernetes: KubernetesSecrets | None = None,
        namespace: str | None = None,
    ):
        self.secrets_dir = secrets_dir
        self.kubernetes = kubernetes
        self.namespace = namespace
        self._environ = environ if environ is not None else os.environ

    @classmethod
    def from_settings(
        cls, settings: AlertSettings, *, environ: Mapping[str, str] | None = None
    ) -> SecretResolver:
        """The resolver ``settings`` describe; a ValueError if ``secrets_source`` is kubernetes outside a pod."""
        kubernetes = None
        if settings.secrets_source == "kubernetes":
            credentials = InCluster.from_environment(environ)
            kubernetes = KubernetesSecrets(credentials, cache_s=settings.secrets_cache_s)
        return cls(settings.secrets_dir, environ, kubernetes=kubernetes, namespace=settings.namespace)

    async def close(self) -> None:
        if self.kubernetes is not None:
            await self.kubernetes.close()

    async def resolve(self, ref: SecretRef) -> str:
        if ref.env is not None:
            value = self._environ.get(ref.env)
            if not value:
                raise SecretMissing(f"{ref.describe()}: not set")
            return value
        assert ref.name is not None and ref.key is not None  # SecretRef's validator
        if self.kubernetes is not None:
            namespace = ref.namespace or self.namespace
            if namespace is None:
                raise SecretMissing(f"{ref.describe()}: no namespace (set TELEMETRA_ALERTS_NAMESPACE)")
            return await self.kubernetes.value(ref, namespace)
        return self._mounted(ref)

    def _mounted(self, ref: SecretRef) -> str:
        assert ref.name is not None and ref.key is not None
        if self.secrets_dir is None:
            raise SecretMissing(f"{ref.describe()}: no secrets directory is configured")
        base = self.secrets_dir if ref.namespace is None else self.secrets_dir / ref.namespace
        try:
            value = (base / ref.name / ref.key).read_text("utf-8").strip()
        except OSError:
            raise SecretMissing(f"{ref.describe()}: not mounted") from None
        if not value:
            raise SecretMissing(f"{ref.describe()}: empty")
        return value
