"""Parity: one labelled event log through Kafka and the Spark job into PostgreSQL and Redis gives what the
embedded engine's replay of the same log gives."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry

from telemetra.contract import parse_ts
from telemetra.dev.testing.spark import (
    Backends,
    engine_reference,
    moment_differences,
    produce_events,
    read_store,
    scenario_log,
    window_differences,
)
from telemetra.engine.offline import process_lines
from telemetra.services.cache import open_cache
from telemetra.spark.job import StreamJob


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.mark.kafka
def test_the_spark_job_stores_what_the_embedded_replay_computes(
    spark: object, kafka_bootstrap: str, backends: Backends
) -> None:
    stream = backends.stream_id
    log = scenario_log(stream, seconds=300, rate=40, scenarios=["hype@150", "raid@210"])
    assert {label["expected_moment"] for label in log.labels} == {"chat_spike", "raid"}
    produce_events(kafka_bootstrap, log.lines)

    settings = backends.job(
        kafka_bootstrap,
        available_now=True,
        max_offsets_per_trigger=2500,  # several batches: the state carries over between them
        records_per_task=700,  # several read tasks per batch, whose chunks must be folded in Kafka order
    )
    with StreamJob(settings, backends.output(), spark=spark) as job:
        query = job.start()
        query.awaitTermination(240)
        assert not query.isActive and query.exception() is None
        metrics = job.metrics.registry

    stored = asyncio.run(read_store(backends.store_url, stream))
    replayed = process_lines(log.lines)
    # A live job never sees the end of its stream, so it never flushes: compare with the replay up to the last
    # watermark, and in full with the embedded engine over the same log without the final flush.
    reference = engine_reference(log.lines)
    closed = [w for w in replayed.windows if parse_ts(w.window_end) <= reference.watermark]
    assert len(closed) == len(reference.windows) > 20
    assert not window_differences(stored.windows, closed)
    assert not window_differences(stored.windows, reference.windows)
    assert sorted(m.moment_id for m in stored.moments) == sorted(m.moment_id for m in replayed.moments)
    assert {m.kind for m in stored.moments} >= {"chat_spike", "raid"}
    # episodes that ended before the end of the log are exactly the replay's (the flush ends the others)
    finished = [m for m in stored.moments if not m.ongoing]
    replayed_by_id = {m.moment_id: m for m in replayed.moments}
    assert finished
    assert not moment_differences(finished, [replayed_by_id[m.moment_id] for m in finished])
    assert not moment_differences(stored.moments, reference.moments)
    assert stored.meta == reference.meta[stream] != (None, None)  # the title and category from stream_meta

    # Redis: the latest closed window and the moments, as the API reads them
    async def snapshot() -> object:
        cache = open_cache(backends.cache_url, namespace=backends.namespace)
        try:
            return await cache.snapshot(stream)
        finally:
            await cache.close()

    snap = asyncio.run(snapshot())
    assert snap is not None
    assert snap.window == reference.windows[-1].to_dict()  # type: ignore[attr-defined]
    assert snap.live is not None and snap.live["final"] is False  # type: ignore[attr-defined]
    assert {m["moment_id"] for m in snap.moments} == {m.moment_id for m in reference.moments}  # type: ignore[attr-defined]

    # the job's metrics
    labels = {"pool": stream}  # a stream's own job: the pool label is the stream id
    deadline = time.monotonic() + 10  # progress reports reach the listener asynchronously
    while sample(metrics, "telemetra_spark_input_rows_total", **labels) < len(log.lines):
        assert time.monotonic() < deadline, "the last progress report never arrived"
        time.sleep(0.1)
    assert sample(metrics, "telemetra_spark_events_total", **labels) == reference.events == len(log.lines)
    assert sample(metrics, "telemetra_spark_windows_written_total", **labels) == len(reference.windows)
    assert sample(metrics, "telemetra_spark_dead_letters_total", **labels) == 0
    batches = sample(metrics, "telemetra_spark_batches_total", **labels)
    assert batches >= len(log.lines) // 2500
    assert sample(metrics, "telemetra_spark_input_rows_total", **labels) == len(log.lines)
    restores = {
        source: sample(metrics, "telemetra_spark_state_restores_total", source=source, **labels)
        for source in ("new", "cache", "state")
    }
    # one restore per batch with events (the event-time watermark may add a batch without any)
    assert (
        restores["new"] == 1
        and batches - 2 <= restores["new"] + restores["cache"] + restores["state"] <= batches
    )
