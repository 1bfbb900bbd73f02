"""What the local servers share: free ports, readiness polling, and stopping exactly the PIDs we started."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

_LIVE: set[subprocess.Popen[bytes]] = set()


class ServerError(RuntimeError):
    """A local server could not be set up or started; the message says why and where its log is."""


def cache_root() -> Path:
    """Where downloaded and built tools live: ``${XDG_CACHE_HOME:-~/.cache}/telemetra``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "telemetra"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def track(process: subprocess.Popen[bytes]) -> None:
    _LIVE.add(process)


def terminate(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Signal this one process (never a name or a group we did not create) and reap it."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _LIVE.discard(process)


def wait_until(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float, what: str, log: Path
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise ServerError(f"{what} exited with code {process.returncode}; {log}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise ServerError(f"{what} not ready after {timeout:.0f} s; {log}:\n{tail(log)}")
        time.sleep(0.05)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").rstrip().splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log yet)"


def progress(message: str) -> None:
    print(f"telemetra: {message}", file=sys.stderr, flush=True)


@atexit.register
def _stop_leftovers() -> None:
    """A server nobody stopped (a crashed test run) must not outlive the interpreter that started it."""
    for process in list(_LIVE):
        terminate(process, timeout=10)
