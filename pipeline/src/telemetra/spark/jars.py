"""The Kafka connector jars for Spark, resolved from Maven Central once and passed with ``spark.jars``.

:func:`ensure_spark_jars` copies ``spark-sql-kafka-0-10_2.13`` of the installed pyspark's version and its
dependencies that the pyspark wheel lacks (``kafka-clients``, ``commons-pool2``, the token provider) into
``${XDG_CACHE_HOME:-~/.cache}/telemetra/spark-<version>-jars/``, under a file lock and with a completion marker,
so concurrent first runs resolve once and an interrupted one is redone. A job never downloads at start-up.
``$TELEMETRA_SPARK_JARS`` (comma-separated jar paths) overrides the resolution, e.g. in an image that bakes
the jars in. To warm the cache (CI, image builds)::

    python -m telemetra.spark.jars        # prints the jar paths, comma-separated
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from telemetra.localstack.kafka import cache_root
from telemetra.localstack.process import progress

JARS_ENV = "TELEMETRA_SPARK_JARS"
CONNECTOR = "spark-sql-kafka-0-10_2.13"
_POM = Path(__file__).resolve().parent / "spark-kafka-pom.xml"
_MARKER = ".complete"


class SparkSetupError(RuntimeError):
    """Maven or the connector could not be resolved; the message says what went wrong."""


def spark_version() -> str:
    import pyspark

    version: str = pyspark.__version__
    return version


def jars_home(version: str | None = None) -> Path:
    return cache_root() / f"spark-{version or spark_version()}-jars"


def ensure_spark_jars(version: str | None = None) -> list[Path]:
    """Absolute paths of the connector jars for Spark ``version`` (default: the installed pyspark's)."""
    override = os.environ.get(JARS_ENV)
    if override:
        paths = [Path(p.strip()) for p in override.split(",") if p.strip()]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise SparkSetupError(f"${JARS_ENV} names jars that do not exist: {', '.join(missing)}")
        return paths
    version = version or spark_version()
    home = jars_home(version)
    if not _is_complete(home):
        mvn = shutil.which("mvn")
        if mvn is None:
            raise SparkSetupError(
                "Maven (mvn) is needed once to fetch the Spark Kafka connector from Maven Central: "
                "apt-get install maven"
            )
        home.mkdir(parents=True, exist_ok=True)
        with _file_lock(home / ".lock"):
            if not _is_complete(home):  # another process may have finished while we waited for the lock
                _resolve(mvn, version, home)
    return sorted((home / "libs").glob("*.jar"))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_complete(home: Path) -> bool:
    return (home / _MARKER).is_file() and (home / "libs").is_dir()


def _resolve(mvn: str, version: str, home: Path) -> None:
    staging, libs = home / "libs.partial", home / "libs"
    for stale in (staging, libs):
        shutil.rmtree(stale, ignore_errors=True)
    shutil.copyfile(_POM, home / "pom.xml")  # mvn may write next to its POM; the package dir can be read-only
    command = [
        mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(home / "pom.xml"), f"-Dspark.version={version}",
        "dependency:copy-dependencies", f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
    ]  # fmt: skip
    progress(
        f"resolving the Spark {version} Kafka connector from Maven Central into {libs} (first run only)..."
    )
    started = time.monotonic()
    result = subprocess.run(command, cwd=home, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not (staging / f"{CONNECTOR}-{version}.jar").is_file():
        shutil.rmtree(staging, ignore_errors=True)
        output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # colour codes
        tail = "\n".join(output.rstrip().splitlines()[-30:])
        raise SparkSetupError(f"`{' '.join(command)}` exited with {result.returncode}\n{tail}")
    staging.rename(libs)
    (home / _MARKER).write_text(f"{version}\n")  # only now: an interrupted run is redone next time
    jars = len(list(libs.glob("*.jar")))
    progress(f"Spark {version} Kafka connector: {jars} jars resolved in {time.monotonic() - started:.0f} s")


def main() -> int:
    try:
        print(",".join(str(path) for path in ensure_spark_jars()))
    except SparkSetupError as error:
        progress(str(error))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
