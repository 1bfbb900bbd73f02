"""The local PostgreSQL and Redis servers: start, stop by PID, restart on the same address."""

from __future__ import annotations

import os

from telemetra.dev.localstack.postgres import PostgresServer
from telemetra.dev.localstack.process import port_open
from telemetra.dev.localstack.redis import RedisServer, ping


def test_postgres_restarts_with_its_data() -> None:
    with PostgresServer() as server:
        dsn = server.create_database("kept")
        server.psql("CREATE TABLE t (n int); INSERT INTO t VALUES (42)", "kept")
        pid = server.pid
        server.stop()
        assert pid is not None and not _alive(pid) and not port_open(server.port)
        server.start()
        assert server.psql("SELECT n FROM t", "kept").strip().endswith("42")
        assert dsn.endswith(f":{server.port}/kept")
    assert not server.root.exists()  # the temporary directory is removed


def test_redis_restarts_empty_on_the_same_port() -> None:
    with RedisServer() as server:
        assert ping(server.port)
        pid = server.pid
        server.stop()
        assert pid is not None and not _alive(pid) and not ping(server.port)
        server.restart()
        assert ping(server.port) and server.url().endswith(f":{server.port}/0")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
