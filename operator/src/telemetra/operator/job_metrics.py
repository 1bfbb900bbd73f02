"""A pool's throughput and lag, read from its Spark job's own Prometheus endpoint (the driver pod's
``--metrics-port``, :mod:`telemetra.spark.metrics`): what ``kubectl get tpool`` shows next to its streams.

Best effort: a job that is not running, a driver without an address yet, or an endpoint that does not answer
leaves the figures out of the status (they are observations, not conditions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from telemetra.operator.kube import Kube, KubeError, kind_of

POD = kind_of("v1", "Pod")
RATE = "telemetra_spark_input_rows_per_second"
LAG = "telemetra_spark_kafka_offsets_behind_latest"
SCRAPE_SECONDS = 2.0


@dataclass(frozen=True)
class JobMetrics:
    events_per_second: float
    """Events the job read per second in its last micro-batch."""
    lag: int
    """Records in Kafka it has not read yet (the most behind partition)."""


def parse(text: str, pool: str) -> JobMetrics | None:
    """The pool's figures from a Prometheus text page; None when it has neither yet."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (RATE, LAG) and sample.labels.get("pool") == pool:
                found[sample.name] = sample.value
    if not found:
        return None
    return JobMetrics(round(found.get(RATE, 0.0), 1), int(found.get(LAG, 0)))


async def scrape(
    kube: Kube, namespace: str, app: Mapping[str, Any] | None, pool: str, port: int
) -> JobMetrics | None:
    """Ask the running job's driver (its pod named in the SparkApplication's status) for its metrics."""
    status = (app or {}).get("status") or {}
    driver = (status.get("driverInfo") or {}).get("podName")
    if (status.get("applicationState") or {}).get("state") != "RUNNING" or not driver:
        return None
    try:
        pod = await kube.get(POD, namespace, driver)
    except KubeError:
        return None
    address = ((pod or {}).get("status") or {}).get("podIP")
    if not address:
        return None
    host = f"[{address}]" if ":" in address else address
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SCRAPE_SECONDS)) as session,
            session.get(f"http://{host}:{port}/metrics") as response,
        ):
            if response.status != 200:
                return None
            return parse(await response.text(), pool)
    except (TimeoutError, aiohttp.ClientError):
        return None
