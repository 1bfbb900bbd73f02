"""Jars resolved from Maven Central once into the user's cache: ``mvn dependency:copy-dependencies`` of a small
POM into ``<home>/libs``, under a file lock and with a completion marker, so concurrent first runs resolve
once and an interrupted one is redone. Used for the Kafka broker and the Spark Kafka connector."""

from __future__ import annotations

import contextlib
import fcntl
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from telemetra.dev.localstack.process import progress

_MARKER = ".complete"


class MavenError(RuntimeError):
    """Maven is missing or the resolution failed; the message says what went wrong."""


def is_resolved(home: Path) -> bool:
    return (home / _MARKER).is_file() and (home / "libs").is_dir()


def resolve_libs(home: Path, pom: Path, properties: Mapping[str, str], expected_jar: str, what: str) -> Path:
    """``home/libs`` with the runtime dependencies of ``pom`` (``-Dkey=value`` for ``properties``), resolved
    now unless already there; raises :class:`MavenError` unless the result holds ``expected_jar``."""
    if is_resolved(home):
        return home / "libs"
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenError(
            f"Maven (mvn) is needed once to fetch {what} from Maven Central: apt-get install maven"
        )
    home.mkdir(parents=True, exist_ok=True)
    with _file_lock(home / ".lock"):
        if not is_resolved(home):  # another process may have finished while we waited for the lock
            _resolve(mvn, home, pom, properties, expected_jar, what)
    return home / "libs"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _resolve(
    mvn: str, home: Path, pom: Path, properties: Mapping[str, str], expected_jar: str, what: str
) -> None:
    staging, libs = home / "libs.partial", home / "libs"
    for stale in (staging, libs):
        shutil.rmtree(stale, ignore_errors=True)
    shutil.copyfile(pom, home / "pom.xml")  # mvn may write next to its POM; the package dir can be read-only
    command = [
        mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(home / "pom.xml"),
        *(f"-D{key}={value}" for key, value in properties.items()),
        "dependency:copy-dependencies", f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
    ]  # fmt: skip
    progress(f"resolving {what} from Maven Central into {libs} (first run only)...")
    started = time.monotonic()
    result = subprocess.run(command, cwd=home, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not (staging / expected_jar).is_file():
        shutil.rmtree(staging, ignore_errors=True)
        output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # colour codes
        tail = "\n".join(output.rstrip().splitlines()[-30:])
        raise MavenError(f"`{' '.join(command)}` exited with {result.returncode}\n{tail}")
    staging.rename(libs)
    (home / _MARKER).write_text(
        f"{' '.join(properties.values())}\n"
    )  # only now: an interrupted run is redone
    jars = len(list(libs.glob("*.jar")))
    progress(f"{what}: {jars} jars resolved in {time.monotonic() - started:.0f} s")
