"""A pool: one Spark query serves every stream on the pool's topic. Streams join, change their config and
leave through the control topic while the query runs, without a restart and without a gap in the other
streams' windows; each stream's stored windows are what the embedded engine computes for its own events
under its own config."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
import pytest

from telemetra.analytics.config import AnalyticsConfig, ChatSpike, MomentThresholds, analytics_config_to_json
from telemetra.dev.testing.spark import (
    Backends,
    create_topic,
    engine_reference,
    produce_keyed,
    read_store,
    scenario_log,
    window_differences,
)
from telemetra.engine.core import Engine
from telemetra.records import PoolTopics, parse_ts
from telemetra.spark.chunks import SHARD_KEYS
from telemetra.spark.job import StreamJob


def keyed(lines: list[bytes]) -> list[tuple[bytes, bytes | None]]:
    return [(orjson.loads(line)["stream_id"].encode(), line) for line in lines]


def new_pool(bootstrap: str, partitions: int) -> tuple[str, PoolTopics]:
    """A pool of this test's own, its topics created as the operator creates them."""
    pool = f"p{uuid.uuid4().hex[:8]}"
    topics = PoolTopics.of(pool)
    asyncio.run(create_topic(bootstrap, topics.events, partitions))
    asyncio.run(create_topic(bootstrap, topics.control, 1, **{"cleanup.policy": "compact"}))
    return pool, topics


def flushed(lines: list[bytes], config: AnalyticsConfig | None = None) -> list[Any]:
    """Every window of the log, the open ones closed as at the end of input."""
    engine = Engine(config)
    return engine.process(((line, "") for line in lines), live=False).windows + engine.flush().windows


@pytest.mark.kafka
def test_a_pool_serves_streams_that_join_change_and_leave_without_a_restart(
    spark: object, kafka_bootstrap: str, backends: Backends
) -> None:
    pool, topics = new_pool(kafka_bootstrap, partitions=2)
    streams = [f"{backends.stream_id}{name}" for name in ("a", "b", "c", "d")]
    a, b, c, d = streams
    logs = {s: scenario_log(s, seconds=240, rate=15, scenarios=["hype@120"], seed=n).lines
            for n, s in enumerate(streams)}  # fmt: skip
    half = {s: len(lines) // 2 for s, lines in logs.items()}
    narrow = AnalyticsConfig(window=30, slide=10, top_emotes=3)

    # a, b and c are in the pool, a with its own config; d is not yet
    asyncio.run(
        produce_keyed(
            kafka_bootstrap, topics.control, [(a.encode(), analytics_config_to_json(narrow).encode())]
        )
    )
    first = [line for s in (a, b, c) for line in logs[s][: half[s]]]
    asyncio.run(produce_keyed(kafka_bootstrap, topics.events, keyed(first)))
    settings = backends.job(kafka_bootstrap, pool=pool, trigger_interval_ms=200, shuffle_partitions=2,
                            records_per_task=900)  # fmt: skip
    with StreamJob(settings, backends.output(), spark=spark) as job:
        query = job.start()
        query.processAllAvailable()
        run_id = str(query.runId)
        stored_b = asyncio.run(read_store(backends.store_url, b)).windows
        assert stored_b  # windows closed in the first half

        # while it runs: d joins, b gets other thresholds (windows unchanged), c leaves
        b_config = AnalyticsConfig(thresholds=MomentThresholds(chat_spike=ChatSpike(ratio=1.5)))
        second = [line for s in (a, b) for line in logs[s][half[s] :]] + logs[d]
        changes = [(b.encode(), analytics_config_to_json(b_config).encode()), (c.encode(), None)]
        asyncio.run(produce_keyed(kafka_bootstrap, topics.control, changes))
        asyncio.run(produce_keyed(kafka_bootstrap, topics.events, keyed(second)))
        query.processAllAvailable()
        assert query.isActive and str(query.runId) == run_id  # the same run: nothing restarted
        ended = job.metrics.registry.get_sample_value("telemetra_spark_streams_ended_total", {"pool": pool})

    stored = {s: asyncio.run(read_store(backends.store_url, s)) for s in streams}
    assert not window_differences(stored[a].windows, engine_reference(logs[a], narrow).windows)
    assert not window_differences(stored[b].windows, engine_reference(logs[b]).windows)  # no gap, no change
    assert not window_differences(stored[d].windows, engine_reference(logs[d]).windows)
    assert {parse_ts(w.window_end) - parse_ts(w.window_start) for w in stored[a].windows} == {30}
    # c left after its first half: all its windows closed, as at the end of its input, and its state went
    assert not window_differences(stored[c].windows, flushed(logs[c][: half[c]]))
    assert ended == 1


@pytest.mark.kafka
def test_a_stream_absent_from_the_pools_batches_for_the_idle_timeout_ends(
    spark: object, kafka_bootstrap: str, backends: Backends
) -> None:
    """Its open windows close, as at the end of its input, and its state is dropped; the others go on."""
    pool, topics = new_pool(kafka_bootstrap, partitions=1)
    quiet, busy = f"{backends.stream_id}q", f"{backends.stream_id}b"
    logs = {s: scenario_log(s, seconds=120, rate=10, seed=n).lines for n, s in enumerate((quiet, busy))}
    half = len(logs[busy]) // 2
    asyncio.run(produce_keyed(kafka_bootstrap, topics.events, keyed(logs[quiet] + logs[busy][:half])))
    settings = backends.job(kafka_bootstrap, pool=pool, trigger_interval_ms=200, idle_ms=3000)
    with StreamJob(settings, backends.output(), spark=spark) as job:
        query = job.start()
        query.processAllAvailable()
        time.sleep(3.5)  # longer than the idle timeout: the next batch's time passes the quiet stream's timer
        asyncio.run(produce_keyed(kafka_bootstrap, topics.events, keyed(logs[busy][half:])))
        query.processAllAvailable()
        deadline = time.monotonic() + 30
        registry = job.metrics.registry
        while not registry.get_sample_value("telemetra_spark_streams_ended_total", {"pool": pool}):
            assert time.monotonic() < deadline, "the quiet stream never ended"
            query.processAllAvailable()
            time.sleep(0.2)
        assert registry.get_sample_value("telemetra_spark_streams", {"pool": pool}) == 1

    stored = asyncio.run(read_store(backends.store_url, quiet))
    assert not window_differences(stored.windows, flushed(logs[quiet]))  # every window, the open ones closed
    busy_windows = asyncio.run(read_store(backends.store_url, busy)).windows
    assert not window_differences(busy_windows, engine_reference(logs[busy]).windows)


def test_the_shards_spread_evenly_over_the_stateful_tasks(spark: Any) -> None:
    """Spark's hash partitioning (what the stateful step's exchange does) sends shard i to task i mod P for
    every number of tasks P that divides the number of shards."""
    from pyspark.sql.functions import spark_partition_id

    keys = spark.createDataFrame([(key,) for key in SHARD_KEYS], "shard int")
    for tasks in (1, 2, 4, len(SHARD_KEYS)):
        rows = keys.repartition(tasks, "shard").select("shard", spark_partition_id().alias("task")).collect()
        task_of = {row["shard"]: row["task"] for row in rows}
        assert [task_of[key] for key in SHARD_KEYS] == [i % tasks for i in range(len(SHARD_KEYS))]
