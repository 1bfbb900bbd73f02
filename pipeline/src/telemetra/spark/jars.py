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

import os
import sys
from pathlib import Path

from telemetra.localstack.maven import MavenError, resolve_libs
from telemetra.localstack.process import cache_root, progress

JARS_ENV = "TELEMETRA_SPARK_JARS"
CONNECTOR = "spark-sql-kafka-0-10_2.13"
_POM = Path(__file__).resolve().parent / "spark-kafka-pom.xml"


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
    try:
        libs = resolve_libs(
            jars_home(version),
            _POM,
            {"spark.version": version},
            expected_jar=f"{CONNECTOR}-{version}.jar",
            what=f"the Spark {version} Kafka connector",
        )
    except MavenError as error:
        raise SparkSetupError(str(error)) from None
    return sorted(libs.glob("*.jar"))


def main() -> int:
    try:
        print(",".join(str(path) for path in ensure_spark_jars()))
    except SparkSetupError as error:
        progress(str(error))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
