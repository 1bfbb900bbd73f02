"""The SparkSession of a job: local mode tuned for a small machine, the Kafka connector's jars from
``$TELEMETRA_SPARK_JARS`` (or the caller), and the RocksDB state store that ``transformWithStateInPandas``
requires."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from telemetra.spark.jars import configured_jars
from telemetra.spark.settings import JobSettings, under_spark_submit

_LOG4J_CONFIG = Path(__file__).resolve().parent / "log4j2.properties"
PANDAS_WARNING = "PySpark does not yet fully support pandas"  # pyspark 4.2 with pandas 3: works, but warns
ROCKSDB = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"


def prepare_environment(local: bool) -> None:
    """Environment the JVM and its Python workers inherit; set before the first session starts."""
    # Python workers otherwise run whatever `python3` is on PATH, which lacks pandas/pyarrow/telemetra.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # else Spark may bind a non-loopback address
        # Fewer glibc malloc arenas: the JVM's native allocations (RocksDB, Arrow, Netty) stay compact.
        os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    # Workers are separate interpreters: the filter reaches them through the environment.
    filters = [w for w in os.environ.get("PYTHONWARNINGS", "").split(",") if w]
    ours = f"ignore:{PANDAS_WARNING}:FutureWarning"
    if ours not in filters:
        os.environ["PYTHONWARNINGS"] = ",".join([*filters, ours])
    warnings.filterwarnings("ignore", message=PANDAS_WARNING, category=FutureWarning)


def spark_conf(settings: JobSettings, jars: list[Path] | None = None) -> dict[str, str]:
    """The job's Spark settings; ``settings.spark_conf`` (``--conf``) overrides any of them. Under
    spark-submit the JVM already runs: its classpath (the connector) and memory are spark-submit's."""
    conf = {
        "spark.app.name": f"telemetra-{settings.stream_id}",
        # Fixed by the checkpoint: one stream is one key, so one partition holds all of the state.
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.sql.streaming.stateStore.providerClass": ROCKSDB,
        # Commit a batch's state changes as a changelog instead of uploading a snapshot every batch.
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        "spark.sql.streaming.minBatchesToRetain": "20",
        # One stream's state is a few MB: cap RocksDB's memtables and block cache instead of its defaults.
        "spark.sql.streaming.stateStore.rocksdb.boundedMemoryUsage": "true",
        "spark.sql.streaming.stateStore.rocksdb.maxMemoryUsageMB": "64",
        "spark.sql.session.timeZone": "UTC",
        "spark.python.worker.reuse": "true",  # the analytics object stays live in the worker between batches
        # Records reach the Python worker in fewer, larger Arrow batches (10,000 by default): less overhead.
        "spark.sql.execution.arrow.maxRecordsPerBatch": "100000",
        # No byte limit on those batches (INT_MAX turns the check off): with one, Spark measures the batch
        # being built after every row, ~10 % of the Kafka read tasks' JVM time in a pool's job.
        "spark.sql.execution.arrow.maxBytesPerBatch": str(2**31 - 1),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }
    if not under_spark_submit():
        jars = configured_jars() if jars is None else jars
        conf["spark.jars"] = ",".join(str(jar) for jar in jars)
    if settings.local:
        conf |= {
            "spark.default.parallelism": "2",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.memory": "1g",
            # On two cores (bench/results/pool.md): the parallel collector (the job's garbage is short-lived,
            # and G1's concurrent marking cost 5× its CPU). Both JIT compilers (the default): C2 costs ~10 s of
            # CPU in a job's first minute, then the Kafka reading and Arrow tasks run ~15–20 % faster than with
            # C1 alone, which a job that runs for hours (or reads a long backlog) wants.
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={_LOG4J_CONFIG.as_uri()} "
            "-XX:+UseParallelGC",
        }
    return conf | dict(settings.spark_conf)


def create_session(settings: JobSettings, extra: Mapping[str, str] | None = None) -> Any:
    """Get or create the session (settings only take effect if this process has no session yet)."""
    prepare_environment(settings.local)
    # py4j logs each connection it opens and closes at INFO, some from __del__ at interpreter exit.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    if settings.master:
        builder = builder.master(settings.master)
    for key, value in (spark_conf(settings) | dict(extra or {})).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
