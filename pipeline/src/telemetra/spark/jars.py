"""The Kafka connector jars a Spark job outside spark-submit passes with ``spark.jars``.

A job never downloads anything: ``$TELEMETRA_SPARK_JARS`` names the jars (comma-separated paths). The Spark
image sets it to the connector it bakes in (and under spark-submit the image's classpath has them anyway); in a
checkout, the development tooling resolves them from Maven Central once and sets it for the jobs it starts.
"""

from __future__ import annotations

import os
from pathlib import Path

JARS_ENV = "TELEMETRA_SPARK_JARS"


class SparkSetupError(RuntimeError):
    """The connector jars are not named or do not exist; the message says what went wrong."""


def configured_jars() -> list[Path]:
    """The jar paths ``$TELEMETRA_SPARK_JARS`` names; :class:`SparkSetupError` when unset or missing."""
    paths = [Path(p.strip()) for p in os.environ.get(JARS_ENV, "").split(",") if p.strip()]
    if not paths:
        raise SparkSetupError(
            f"${JARS_ENV} is not set: name the Spark Kafka connector jars there (comma-separated paths)"
        )
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SparkSetupError(f"${JARS_ENV} names jars that do not exist: {', '.join(missing)}")
    return paths
