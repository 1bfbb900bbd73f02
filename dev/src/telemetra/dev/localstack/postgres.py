"""A real PostgreSQL server in a temporary (or given) directory, on a free 127.0.0.1 port.

``initdb`` refuses to run as root, so when we are root the cluster is owned by, and the server runs as, the
``postgres`` system user (the one Debian's ``postgresql`` package creates): the child drops privileges
itself, so the PID we hold is the server's and ``stop`` signals exactly it. Tuned for tests (no fsync).
In the foreground::

    python -m telemetra.dev.localstack.postgres [--port N] [--data-dir D]   # prints TELEMETRA_STORE_URL=…
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import shutil
import signal
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

SUPERUSER = "telemetra"
RUN_AS_ROOT_USER = "postgres"
# For throwaway clusters: durability off (the tests never crash the host), small memory.
TEST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "64MB",
    "max_connections": "200",
    "listen_addresses": "127.0.0.1",
    "log_min_messages": "warning",
}


def find_bin_dir() -> Path:
    """``$TELEMETRA_PG_BIN``, else the newest ``/usr/lib/postgresql/*/bin``, else ``initdb`` on PATH."""
    candidates = [os.environ.get("TELEMETRA_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    found = shutil.which("initdb")
    candidates.append(str(Path(found).parent) if found else "")
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file() and (Path(candidate) / "postgres").is_file():
            return Path(candidate)
    raise ServerError(
        "PostgreSQL server binaries not found (apt-get install postgresql, or set TELEMETRA_PG_BIN)"
    )


def _version_key(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


class PostgresServer(LocalServer):
    """``start``/``stop``/``restart`` keep the data directory and port, so clients reconnect to the same DSN.
    The methods block; from async code call them through ``asyncio.to_thread``."""

    def __init__(
        self,
        data_dir: Path | str | None = None,
        *,
        port: int | None = None,
        bin_dir: Path | None = None,
        startup_timeout: float = 60.0,
    ):
        self._owns_dir = data_dir is None
        # Not under pytest's tmp dirs: they are private to root, and the server may run as another user.
        self.root = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="telemetra-pg-"))
        self.port = port or free_port()
        self.bin_dir = bin_dir
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- addresses -------------------------------------------------------------------------------------
    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.running:
            return
        bin_dir = self.bin_dir or find_bin_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "sock").mkdir(exist_ok=True)
        self._hand_over(self.root)
        if not (self.data_dir / "PG_VERSION").is_file():
            self._initdb(bin_dir)
        self._launch(bin_dir)
        try:
            wait_until(
                lambda: self._ready(bin_dir), self._proc(), self.startup_timeout, "PostgreSQL", self.log_file
            )
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 30.0) -> None:
        process, self._process = self._process, None
        if process is not None:
            terminate(process, signal.SIGINT, timeout)  # SIGINT = "fast" shutdown: no waiting for clients
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- administration ------------------------------------------------------------------------------
    def create_database(self, name: str) -> str:
        """Create an empty database (for test isolation) and return its DSN."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database names here are [A-Za-z0-9_]: {name!r}")
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL with psql as the superuser; returns the rows, one per line, columns separated by ``|``."""
        bin_dir = self.bin_dir or find_bin_dir()
        # -X: no ~/.psqlrc; -At: bare values, one row per line (easy to parse).
        command = [
            str(bin_dir / "psql"),
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            self.dsn(database),
        ]
        command += ["-c", sql]
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0:
            raise ServerError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    # -- internals -----------------------------------------------------------------------------------
    def _proc(self) -> subprocess.Popen[bytes]:
        assert self._process is not None
        return self._process

    def _user(self) -> pwd.struct_passwd | None:
        """The unprivileged account to run as when we are root; None when we are not root."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(RUN_AS_ROOT_USER)
        except KeyError:
            raise ServerError(
                f"running as root needs the {RUN_AS_ROOT_USER!r} user (apt-get install postgresql creates it)"
            ) from None

    def _hand_over(self, path: Path) -> None:
        user = self._user()
        if user is None:
            return
        for current, _, files in os.walk(path):
            os.chown(current, user.pw_uid, user.pw_gid)
            for name in files:
                os.chown(Path(current) / name, user.pw_uid, user.pw_gid)

    def _as_user(self) -> dict[str, object]:
        user = self._user()
        if user is None:
            return {}
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "cwd": str(self.root)}

    def _initdb(self, bin_dir: Path) -> None:
        command = [
            str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "-A", "trust",
            "-E", "UTF8", "--no-locale", "-N",
        ]  # fmt: skip
        result = subprocess.run(
            command,
            capture_output=True,
            env=_env(),
            timeout=120,
            check=False,
            **self._as_user(),  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")[-3000:]
            raise ServerError(f"initdb failed ({result.returncode}):\n{output}")

    def _launch(self, bin_dir: Path) -> None:
        settings = {
            **TEST_SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": str(self.root / "sock"),
        }
        command = [str(bin_dir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        self._log = self.log_file.open("ab")
        self._hand_over(self.log_file)
        self._process = subprocess.Popen(  # type: ignore[call-overload]
            command,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal reaches us; we stop the server in order
            **self._as_user(),
        )
        track(self._proc())

    def _ready(self, bin_dir: Path) -> bool:
        command = [
            str(bin_dir / "pg_isready"),
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
        ]
        return subprocess.run(command, capture_output=True, timeout=10, check=False).returncode == 0


def _env() -> dict[str, str]:
    # PG* variables of the caller (PGDATA, PGPORT…) must not leak into the throwaway cluster.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m telemetra.dev.localstack.postgres",
        description="Run a throwaway PostgreSQL server in the foreground until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=None, help="default: a free one")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temporary directory")
    args = parser.parse_args(argv)
    server = PostgresServer(args.data_dir, port=args.port)

    def announce() -> None:
        print(f"TELEMETRA_STORE_URL={server.dsn()}", flush=True)
        progress(f"PostgreSQL pid {server.pid}, data in {server.data_dir}; Ctrl-C stops it")

    return serve_in_foreground(
        server,
        announce,
        lambda: f"PostgreSQL exited on its own; {server.log_file}:\n{tail(server.log_file)}",
        keep=args.data_dir is not None,
    )


if __name__ == "__main__":
    raise SystemExit(main())
