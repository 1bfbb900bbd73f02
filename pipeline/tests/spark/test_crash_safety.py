"""Crash safety: the job run through its entry point, killed with SIGKILL mid-run and restarted from its
checkpoint, then through a PostgreSQL outage and a Kafka broker restart, stores exactly what a clean run
stores: no gaps, no duplicates, every value the same."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from telemetra.dev.localstack.kafka import KafkaBroker
from telemetra.dev.localstack.postgres import PostgresServer
from telemetra.dev.localstack.process import free_port
from telemetra.dev.localstack.redis import RedisServer
from telemetra.dev.testing.spark import (
    JobProcess,
    Stored,
    engine_reference,
    moment_differences,
    produce_events,
    read_store,
    scenario_log,
    window_differences,
)

STREAM = "crashy"


def wait_for(what: str, check: Callable[[], bool], job: JobProcess, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert job.running, f"the job exited ({job.process and job.process.returncode}):\n{job.log_tail()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}; job log:\n{job.log_tail()}"
        time.sleep(1.0)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of the process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields after "(comm)": state, ppid, pgrp, …
            members.append(int(entry.name))
    return members


def group_gone(pgid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkill_and_outages_leave_exactly_the_rows_of_a_clean_run(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    log = scenario_log(STREAM, seconds=360, rate=40, scenarios=["hype@150", "raid@220", "gift_bomb@280"])
    reference = engine_reference(log.lines)
    first, second = 6000, 10000
    # windows closed by the end of the second part (the outage)
    by_second = len(engine_reference(log.lines[:second]).windows)
    assert 5 < by_second < len(reference.windows) and len(reference.moments) >= 3

    with KafkaBroker(tmp_path / "kafka") as broker, PostgresServer() as postgres:
        store_url = postgres.create_database("crash")
        metrics_port = free_port()
        args = [
            "--stream-id", STREAM, "--kafka-bootstrap", broker.bootstrap,
            "--checkpoint-dir", (tmp_path / "checkpoint").as_uri(), "--store-url", store_url,
            "--cache-url", redis_server.url(), "--trigger-interval", "500ms", "--max-offsets-per-trigger", "1000",
            "--metrics-port", str(metrics_port), "--metrics-host", "127.0.0.1",
        ]  # fmt: skip
        env = {"TELEMETRA_CACHE_NAMESPACE": f"t{uuid.uuid4().hex[:8]}", "TELEMETRA_OUTPUT_RETRY_S": "0.2"}

        def stored() -> Stored:
            try:
                return asyncio.run(read_store(store_url, STREAM))
            except Exception:  # the database is down, or the job has not created the tables yet
                return Stored([], [])

        produce_events(broker.bootstrap, log.lines[:first])
        job = JobProcess(args, tmp_path / "job-1.log", env).start()
        try:
            # 1. kill -9 (the whole process group: driver, JVM, Python workers) in the middle of the log
            wait_for("the first windows", lambda: len(stored().windows) >= 5, job)
            job.kill()
            assert job.process is not None and group_gone(job.process.pid)
            before_restart = len(stored().windows)
            assert before_restart < len(reference.windows)

            job = JobProcess(args, tmp_path / "job-2.log", env).start()
            wait_for("progress after the restart", lambda: len(stored().windows) > before_restart, job)

            # 2. PostgreSQL down while new events arrive: batches wait, nothing is acknowledged to Kafka
            postgres.stop()
            produce_events(broker.bootstrap, log.lines[first:second])
            time.sleep(8)
            assert job.running
            postgres.start()
            wait_for("the windows written during the outage", lambda: len(stored().windows) >= by_second, job)

            # 3. the Kafka broker restarts (same data, same port)
            broker.stop()
            time.sleep(5)
            broker.start()
            produce_events(broker.bootstrap, log.lines[second:])
            wait_for(
                "every window and moment",
                lambda: (
                    len(stored().windows) == len(reference.windows)
                    and len(stored().moments) == len(reference.moments)
                ),
                job,
            )

            metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
            samples = {
                sample.name
                + (f"/{sample.labels['source']}" if "source" in sample.labels else ""): sample.value
                for family in text_string_to_metric_families(metrics)
                for sample in family.samples
                if sample.labels.get("pool") == STREAM  # a stream's own job: the pool label is the stream id
            }
            assert samples["telemetra_spark_windows_written_total"] > 0
            assert samples["telemetra_spark_store_wait_seconds_total"] > 1
            assert samples["telemetra_spark_dead_letters_total"] == 0
            assert "telemetra_spark_input_rows_per_second" in samples
            assert samples["telemetra_spark_watermark_lag_seconds"] > 0
            # the restarted job decoded the state from the checkpoint once, then kept it live in its worker
            assert samples["telemetra_spark_state_restores_total/state"] >= 1
            assert (
                samples["telemetra_spark_state_restores_total/cache"]
                > samples["telemetra_spark_batches_total"] / 2
            )
            assert job.terminate() == 0, job.log_tail()
        finally:
            with contextlib.suppress(Exception):
                job.kill()

        assert "store unavailable: the batch waits for it" in (tmp_path / "job-2.log").read_text()
        result = stored()
        assert not window_differences(result.windows, reference.windows)
        assert not moment_differences(result.moments, reference.moments)
