"""Pytest fixtures for a real PostgreSQL and a real Redis, one each per session, started on first use.

``services/tests/conftest.py`` imports them; other suites can register the module with
``pytest_plugins = ["telemetra.dev.localstack.pytest_services"]`` in the root ``conftest.py``. Tests that
stop a server (fault tests) should start their own ``PostgresServer``/``RedisServer`` rather than stop these.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from telemetra.dev.localstack.postgres import PostgresServer
from telemetra.dev.localstack.redis import RedisServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()
