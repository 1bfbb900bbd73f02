"""A real redis-server on a free 127.0.0.1 port, without persistence (the cache is rebuilt from new data).
In the foreground::

    python -m telemetra.dev.localstack.redis [--port N]     # prints TELEMETRA_CACHE_URL=redis://…
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import IO

from telemetra.dev.localstack.process import (
    LocalServer,
    ServerError,
    free_port,
    progress,
    serve_in_foreground,
    tail,
    terminate,
    track,
    wait_until,
)


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise ServerError("redis-server not found (apt-get install redis-server)")
    return found


def ping(port: int) -> bool:
    """True when a Redis server answers PING on the port."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(64).startswith(b"+PONG")
    return False


class RedisServer(LocalServer):
    """``start``/``stop``/``restart`` keep the port, so clients reconnect to the same URL. Data does not
    survive a stop (no RDB, no AOF), like a cache restarted in production. Blocking methods."""

    def __init__(
        self, *, port: int | None = None, work_dir: Path | str | None = None, startup_timeout: float = 20
    ):
        self._owns_dir = work_dir is None
        self.root = (
            Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="telemetra-redis-"))
        )
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def log_file(self) -> Path:
        return self.root / "redis.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        command = [
            find_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.root), "--daemonize", "no", "--loglevel", "warning",
            "--maxclients", "2000",
        ]  # fmt: skip
        self._log = self.log_file.open("ab")
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        track(self._process)
        try:
            wait_until(
                lambda: ping(self.port), self._process, self.startup_timeout, "redis-server", self.log_file
            )
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is not None:
            terminate(process, signal.SIGTERM, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m telemetra.dev.localstack.redis",
        description="Run a redis-server without persistence in the foreground until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=None, help="default: a free one")
    args = parser.parse_args(argv)
    server = RedisServer(port=args.port)

    def announce() -> None:
        print(f"TELEMETRA_CACHE_URL={server.url()}", flush=True)
        progress(f"redis-server pid {server.pid}; Ctrl-C stops it")

    return serve_in_foreground(
        server,
        announce,
        lambda: f"redis-server exited on its own; {server.log_file}:\n{tail(server.log_file)}",
    )


if __name__ == "__main__":
    raise SystemExit(main())
