"""The Kafka connector jars for Spark in local mode, resolved from Maven Central once and handed to the job.

:func:`ensure_spark_jars` copies ``spark-sql-kafka-0-10_2.13`` of the installed pyspark's version and its
dependencies that the pyspark wheel lacks (``kafka-clients``, ``commons-pool2``, the token provider) into
``${XDG_CACHE_HOME:-~/.cache}/telemetra/spark-<version>-jars/``, under a file lock and with a completion marker,
so concurrent first runs resolve once and an interrupted one is redone. The product never resolves jars: a
job takes them from ``$TELEMETRA_SPARK_JARS`` (:mod:`telemetra.spark.jars`), which :func:`export_spark_jars`
sets for this process and its children. The Spark image resolves the same POM at build time. To warm the
cache (CI) or run a job by hand::

    python -m telemetra.dev.localstack.spark_jars      # prints the jar paths, comma-separated
    export TELEMETRA_SPARK_JARS="$(python -m telemetra.dev.localstack.spark_jars)"
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from telemetra.dev.localstack.maven import MavenError, resolve_libs
from telemetra.dev.localstack.process import cache_root, progress
from telemetra.spark.jars import JARS_ENV, SparkSetupError, configured_jars

CONNECTOR = "spark-sql-kafka-0-10_2.13"
POM = Path(__file__).resolve().parents[5] / "pipeline" / "docker" / "spark-kafka-pom.xml"  # the image's too


def spark_version() -> str:
    import pyspark

    version: str = pyspark.__version__
    return version


def jars_home(version: str | None = None) -> Path:
    return cache_root() / f"spark-{version or spark_version()}-jars"


def ensure_spark_jars(version: str | None = None) -> list[Path]:
    """Absolute paths of the connector jars for Spark ``version`` (default: the installed pyspark's); the
    ones ``$TELEMETRA_SPARK_JARS`` names when it is set."""
    if os.environ.get(JARS_ENV):
        return configured_jars()
    version = version or spark_version()
    try:
        libs = resolve_libs(
            jars_home(version),
            POM,
            {"spark.version": version},
            expected_jar=f"{CONNECTOR}-{version}.jar",
            what=f"the Spark {version} Kafka connector",
        )
    except MavenError as error:
        raise SparkSetupError(str(error)) from None
    jars = sorted(libs.glob("*.jar"))
    if not jars:
        raise SparkSetupError(f"no Spark Kafka connector jars in {libs}")
    return jars


def export_spark_jars(version: str | None = None) -> list[Path]:
    """Resolve the jars and name them in ``$TELEMETRA_SPARK_JARS``, where this process's Spark sessions and
    the jobs it starts (which inherit the environment) find them."""
    jars = ensure_spark_jars(version)
    os.environ[JARS_ENV] = ",".join(str(jar) for jar in jars)
    return jars


def main() -> int:
    try:
        print(",".join(str(path) for path in ensure_spark_jars()))
    except SparkSetupError as error:
        progress(str(error))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
