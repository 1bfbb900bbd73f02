"""Fixtures for the Spark job's tests.

Real parts only: the session's Kafka broker (``kafka_broker``), PostgreSQL and Redis (started on first use),
and one local-mode SparkSession for the whole session (a JVM start costs seconds), with the job's own settings.
Each test uses its own stream id (so its own topics), database, cache namespace and checkpoint directory.
Tests that stop a server start their own instance of it.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from telemetra.dev.localstack.postgres import PostgresServer
from telemetra.dev.localstack.pytest_services import postgres_server, redis_server
from telemetra.dev.localstack.redis import RedisServer
from telemetra.dev.localstack.spark_jars import export_spark_jars
from telemetra.dev.testing.spark import Backends
from telemetra.spark.session import create_session
from telemetra.spark.settings import JobSettings

__all__ = ["postgres_server", "redis_server"]  # session fixtures: a real PostgreSQL and Redis, on first use
_names = itertools.count()


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    template = JobSettings(stream_id="tests", kafka_bootstrap="", checkpoint_dir="", store_url="unused")
    export_spark_jars()  # the Kafka connector, resolved once; jobs started by the tests inherit it too
    session = create_session(template)
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture
def backends(postgres_server: PostgresServer, redis_server: RedisServer, tmp_path: Path) -> Backends:
    tag = f"{next(_names)}{uuid.uuid4().hex[:6]}"
    return Backends(
        stream_id=f"s{tag}",
        store_url=postgres_server.create_database(f"spark_{tag}"),
        cache_url=redis_server.url(),
        namespace=f"t{tag}",
        checkpoint=tmp_path / "checkpoint",
    )
