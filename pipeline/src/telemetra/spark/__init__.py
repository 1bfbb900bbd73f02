"""The Spark Structured Streaming job: one stream's Kafka topic through the analytics core into the store and
the engine's output port. Entry point: ``python -m telemetra.apps.spark_job`` (:mod:`telemetra.apps.spark_job`)."""

from telemetra.spark.settings import (
    JobSettings,
    analytics_config_from_json,
    analytics_config_to_json,
    parse_args,
)

__all__ = ["JobSettings", "analytics_config_from_json", "analytics_config_to_json", "parse_args"]
