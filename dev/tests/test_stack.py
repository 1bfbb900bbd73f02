"""The parts of the `make stack` launcher (``telemetra.dev.stack``) that need no servers: process families,
start-up checks, the command line. The whole stack runs in e2e/test_stack.py."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from telemetra.apps import cli
from telemetra.contract import format_ts
from telemetra.dev.localstack.process import ServerError
from telemetra.dev.stack import (
    _check_reachable_by_postgres,
    _ensure_topics,
    _event_clock,
    _exists,
    _reap,
    build_parser,
    descendants,
    main,
    query_active,
    spark_command,
)
from telemetra.records import events_topic
from telemetra.sinks.kafka import KafkaSink


def test_a_process_family_is_found_and_reaped_by_pid() -> None:
    parent = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60 & wait"], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(family := descendants(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(family) == 2 and all(_exists(pid) for pid in family)
        parent.kill()  # the sleeps are orphaned, as a driver's JVM would be
        parent.wait()
        assert all(_exists(pid) for pid in family)
        started = time.monotonic()
        _reap(family, timeout=0.5)
        assert time.monotonic() - started < 5
        deadline = time.monotonic() + 5
        while any(_exists(pid) for pid in family) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_exists(pid) for pid in family)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_reap_returns_as_soon_as_the_family_is_gone() -> None:
    child = subprocess.Popen(["sleep", "0.2"])
    started = time.monotonic()
    _reap([child.pid], timeout=30)  # a zombie counts as gone: only its parent's wait is missing
    assert time.monotonic() - started < 5
    child.wait()
    assert descendants(child.pid) == []


def test_a_data_dir_postgres_cannot_reach_is_refused_when_root(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    if os.geteuid() == 0:
        with pytest.raises(ServerError, match="private to root"):
            _check_reachable_by_postgres(private / "stack")
    else:  # PostgreSQL then runs as the caller, who can reach its own directories
        _check_reachable_by_postgres(private / "stack")
    open_dir = Path("/tmp") / f"telemetra-stack-check-{os.getpid()}"
    open_dir.mkdir(mode=0o755, exist_ok=True)
    try:
        _check_reachable_by_postgres(open_dir / "stack")
    finally:
        open_dir.rmdir()


def test_stack_options_on_the_command_line() -> None:
    args = build_parser().parse_args(
        ["--streams", "a,b", "--speed", "8", "--duration", "240", "--scenario", "raid@35/a"]
    )
    assert (args.streams, args.speed, args.duration, args.seed) == (["a", "b"], 8.0, 240.0, None)
    assert [(s.kind.value, s.at, s.stream_id) for s in args.scenario] == [("raid", 35.0, "a")]
    defaults = build_parser().parse_args([])
    assert (defaults.port, defaults.data_dir, defaults.streams, defaults.scenario) == (
        8000,
        ".telemetra/stack",
        None,  # the demo's channels
        [],  # the demo's schedule
    )


def test_bad_stack_flags_are_rejected_with_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, reason in [
        (["--trigger-interval", "soon"], "not a duration"),
        (["--streams", "Bad Name"], "stream ids must match"),
        (["--scenario", "boom@3"], "unknown kind"),
    ]:
        with pytest.raises(SystemExit):
            main(argv)
        assert reason in capsys.readouterr().err


def test_the_product_cli_has_no_stack_command(capsys: pytest.CaptureFixture[str]) -> None:
    """The launcher is development tooling: `python -m telemetra.dev.stack` (`make stack`), not `telemetra`."""
    with pytest.raises(SystemExit):
        cli.main(["stack"])
    assert "invalid choice: 'stack'" in capsys.readouterr().err


def test_a_job_is_ready_when_its_metrics_say_the_query_runs() -> None:
    idle = '# TYPE telemetra_spark_query_active gauge\ntelemetra_spark_query_active{pool="demo"} 0.0\n'
    assert not query_active(idle) and not query_active("")
    assert query_active(idle.replace("} 0.0", "} 1.0"))


def test_the_pool_gets_one_job_with_loopback_endpoints(tmp_path: Path) -> None:
    command = spark_command(
        "demo", "127.0.0.1:9092", tmp_path / "demo", "postgresql://x@127.0.0.1:5432/t", "redis://127.0.0.1:6379/0",
        trigger_interval="3s", metrics_port=9200,
    )  # fmt: skip
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert command[1:3] == ["-m", "telemetra.apps.spark_job"]
    assert options["--pool"] == "demo" and options["--checkpoint-dir"] == (tmp_path / "demo").as_uri()
    assert (options["--metrics-port"], options["--metrics-host"]) == ("9200", "127.0.0.1")

    from telemetra.spark.settings import parse_args

    settings = parse_args(command[3:], env={})  # the job accepts exactly this command line
    assert (settings.pool, settings.trigger_interval_ms, settings.store_url) == (
        "demo",
        3000,
        "postgresql://x@127.0.0.1:5432/t",
    )


def test_a_taken_port_stops_the_stack_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--port", str(port), "--data-dir", str(tmp_path / "stack")]) == 1
    err = capsys.readouterr().err
    assert f"port {port} is taken" in err
    assert "ready in" not in err and not (tmp_path / "stack").exists()  # nothing was started or written


@pytest.mark.kafka
async def test_event_time_resumes_after_the_newest_event_in_kafka(kafka_bootstrap: str) -> None:
    """After a faster-than-real-time run, a restart must not write events the job's watermark calls late."""
    streams = [f"stack-{uuid.uuid4().hex[:8]}", f"stack-{uuid.uuid4().hex[:8]}"]
    topics = [events_topic(s) for s in streams]
    assert await _ensure_topics(kafka_bootstrap, {t: {} for t in topics}) == []  # created, so empty
    assert await _ensure_topics(kafka_bootstrap, {t: {} for t in topics}) == topics
    now = time.time()
    assert abs(await _event_clock(kafka_bootstrap, topics) - now) <= 2  # empty topics: the clock

    ahead = float(int(now) + 500)
    sink = KafkaSink(kafka_bootstrap)
    await sink.start()
    await sink.send(
        [
            {"event_id": "e1", "stream_id": streams[0], "type": "viewers", "ts": format_ts(ahead - 30)},
            {"event_id": "e2", "stream_id": streams[1], "type": "viewers", "ts": format_ts(ahead)},
        ]
    )
    await sink.close()
    assert await _event_clock(kafka_bootstrap, topics) == ahead + 1
