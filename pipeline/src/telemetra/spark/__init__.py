"""The Spark Structured Streaming job: a pool's Kafka topics (or one stream's) through the analytics core into
the engine's output port. Entry point: ``python -m telemetra.apps.spark_job`` (:mod:`telemetra.apps.spark_job`)."""

from telemetra.spark.settings import JobSettings, parse_args

__all__ = ["JobSettings", "parse_args"]
