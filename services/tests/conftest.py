"""Fixtures for the service tests: real PostgreSQL and Redis servers (one each per session, started only if a
selected test needs them), engine output from the mock producer, and the API served over loopback for each
combination of store and cache."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from telemetra.dev.localstack.postgres import PostgresServer
from telemetra.dev.localstack.pytest_services import postgres_server, redis_server
from telemetra.dev.localstack.redis import RedisServer
from telemetra.dev.testing.services import SCENARIOS, STREAMS, ServerThread, process_mock, settings_for_tests
from telemetra.engine.offline import OfflineResult
from telemetra.services.api import create_app
from telemetra.services.output import ServiceOutput
from telemetra.services.settings import Settings

BACKENDS = [("sqlite", "memory"), ("sqlite", "redis"), ("postgres", "memory"), ("postgres", "redis")]
_names = itertools.count()
__all__ = ["postgres_server", "redis_server"]  # session fixtures: a real PostgreSQL and Redis, on first use
# kube_cluster: a real Kubernetes API server, started only if a selected test needs it (the alert secrets' tests)
pytest_plugins = ["telemetra.dev.kube.pytest_plugin"]


@pytest.fixture(scope="session")
def dataset() -> OfflineResult:
    """Ten minutes of three streams through the real engine: 65 closed windows per stream, and moments
    (a chat spike on each, a raid on beta, a gift bomb on gamma)."""
    return process_mock(STREAMS, seconds=600, scenarios=SCENARIOS)


def store_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'telemetra.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"t{next(_names)}_{uuid.uuid4().hex[:8]}")


def cache_url(kind: str, request: pytest.FixtureRequest) -> str:
    if kind == "memory":
        return "memory://"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url()


@dataclass
class Api:
    """A running API with the dataset written through the engine's sink."""

    server: ServerThread
    settings: Settings
    data: OfflineResult
    backends: tuple[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **options)

    def output(self) -> ServiceOutput:
        state = self.server.state
        return ServiceOutput(state.store, state.cache)

    def write(self, result: OfflineResult) -> None:
        async def write() -> None:
            sink = self.output()
            await sink.write_windows(result.windows)
            await sink.write_moments(result.moments)
            assert sink.stats.store_failures == 0 and sink.stats.cache_failures == 0

        self.server.run(write())


def start_api(settings: Settings, data: OfflineResult | None, backends: tuple[str, str]) -> Api:
    server = ServerThread(create_app(settings), settings).start()
    api = Api(server, settings, data or OfflineResult([], [], [], 0, 0), backends)
    if data is not None:
        api.write(data)
    return api


@pytest.fixture(scope="module", params=BACKENDS, ids=["+".join(b) for b in BACKENDS])
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, dataset: OfflineResult
) -> Iterator[Api]:
    store_kind, cache_kind = request.param
    settings = settings_for_tests(
        store_url(store_kind, request, tmp_path_factory.mktemp(store_kind)), cache_url(cache_kind, request)
    )
    running = start_api(settings, dataset, request.param)
    try:
        yield running
    finally:
        running.server.stop()


@pytest.fixture
def make_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Api]]:
    """Start an API with custom settings (``store``/``cache``: kinds; the rest: Settings overrides); every one
    started is stopped at the end of the test."""
    started: list[Api] = []

    def start(
        store: str = "sqlite", cache: str = "memory", data: OfflineResult | None = None, **overrides: Any
    ) -> Api:
        settings = settings_for_tests(
            store_url(store, request, tmp_path_factory.mktemp(store)), cache_url(cache, request), **overrides
        )
        api = start_api(settings, data, (store, cache))
        started.append(api)
        return api

    try:
        yield start
    finally:
        for api in started:
            api.server.stop()
