"""What the local servers share: free ports, readiness polling, stopping exactly the PIDs we started, their
lifecycle (:class:`LocalServer`) and running one in the foreground (:func:`serve_in_foreground`)."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, Self

_LIVE: set[subprocess.Popen[bytes]] = set()


class ServerError(RuntimeError):
    """A local server could not be set up or started; the message says why and where its log is."""


class LocalServer(ABC):
    """A server the tooling runs as local processes: ``start`` waits until it serves, ``stop`` ends exactly
    its processes. ``root`` is its work directory; ``cleanup`` also removes it when this object created it."""

    root: Path
    _owns_dir: bool = False

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @property
    @abstractmethod
    def running(self) -> bool: ...

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop, and remove the work directory if this object created it."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.cleanup()


def serve_in_foreground(
    server: LocalServer, announce: Callable[[], None], exited: Callable[[], str], keep: bool = False
) -> int:
    """A ``python -m …`` entry point's life: start ``server``, ``announce`` it (print what a shell exports),
    then wait for Ctrl-C or SIGTERM (0) or for the server to exit on its own (1, with ``exited()`` said).
    Afterwards stop it, and with ``keep`` false also remove its work directory."""
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: it is ignored in a background job
        signal.signal(signum, _interrupt)
    try:
        server.start()
        announce()
        while server.running:
            time.sleep(0.5)
        progress(exited())
        return 1
    except KeyboardInterrupt:
        return 0
    except ServerError as error:
        progress(str(error))
        return 1
    finally:
        server.stop() if keep else server.cleanup()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


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


def openssl(cwd: Path, *args: str) -> None:
    """Run the openssl CLI in ``cwd`` (certificates of local servers); ``ServerError`` with its stderr."""
    if shutil.which("openssl") is None:
        raise ServerError("local certificates need the openssl CLI (apt-get install openssl)")
    result = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode != 0:
        raise ServerError(f"openssl {args[0]} failed: {result.stderr.strip()}")


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


def run_with_heartbeat(
    command: list[str],
    *,
    output: IO[Any],
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    every: float = 60.0,
) -> int:
    """Run a long build step with its output in ``output``; say "still <what> (N min)" every ``every`` seconds,
    and stop the step if we are interrupted. Returns its exit code."""
    started = beat = time.monotonic()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
    )
    try:
        while process.poll() is None:
            time.sleep(1.0)
            if time.monotonic() - beat >= every:
                beat = time.monotonic()
                progress(f"  still {what} ({duration(beat - started)})")
    finally:
        if process.poll() is None:  # interrupted: do not leave the step running
            process.terminate()
            process.wait()
    returncode: int = process.returncode
    return returncode


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


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
