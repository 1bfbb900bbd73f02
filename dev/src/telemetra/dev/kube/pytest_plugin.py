"""Pytest fixtures for a real Kubernetes API server.

Register with ``pytest_plugins = ["telemetra.dev.kube.pytest_plugin"]`` (``operator/tests/conftest.py``
does). ``kube_cluster`` is one started :class:`KubeCluster` per session, with the upstream CRDs installed; tests
must not stop it (start their own ``KubeCluster`` for that). ``KUBECONFIG`` is not set globally: use
``kube_cluster.api_client()``, ``kube_cluster.kubeconfig`` or ``env=kube_cluster.env()`` for subprocesses.
``helm_binary`` is the path of the helm executable.

The binaries are built (once per version, 10-25 min cold) during collection, when a selected test uses one of
the fixtures, so that the build does not count against the per-test timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetra.dev.kube.binaries import ensure_binaries, ensure_helm
from telemetra.dev.kube.cluster import KubeCluster
from telemetra.dev.localstack.process import ServerError, progress


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if config.option.collectonly:
        return
    used: set[str] = set()
    for item in items:
        used.update(getattr(item, "fixturenames", ()))
    try:
        if "kube_cluster" in used:
            ensure_binaries()
        if "helm_binary" in used:
            ensure_helm()
    except ServerError as error:  # the fixtures raise it again, so only the tests that need them fail
        progress(str(error))


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    cluster = KubeCluster(tmp_path_factory.mktemp("kube"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.cleanup()  # keeps the logs in pytest's temporary directory


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    return ensure_helm()
