"""`make stack` (`python -m telemetra.dev.stack`) from the outside: real Kafka, Spark, PostgreSQL and Redis give
the embedded engine's answers.

A labelled scenario (a raid on one channel, a chat hype on another) runs at 8× speed for four minutes of event
time. Once the producer is done, the events are read back from Kafka and replayed through the embedded engine;
the API must then serve exactly the windows and moments the replay produced. The two moments alert a webhook
receiver on 127.0.0.1 (rules from ``--alerts FILE``, offered by the Spark job, sent by the stack's dispatcher):
once each, signed. Ctrl-C stops every process.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from support import differences, engine_outputs, wait_for

from telemetra.dev.localstack.process import free_port
from telemetra.dev.stack import descendants, query_active
from telemetra.dev.testing.receiver import Receiver
from telemetra.services.alerts.payloads import verify

STREAMS = ("alpha", "beta")
SCENARIOS = ("raid@35/alpha", "hype@150+30x5/beta")
EXPECTED_KINDS = {"alpha": "raid", "beta": "chat_spike"}
SPEED, EVENT_SECONDS = 8, 240
KEY = "stack-e2e-signing-key"


def alert_rules(url: str) -> dict[str, Any]:
    """Each channel's expected moment kind alerts the receiver."""
    hook = {"name": "hook", "type": "webhook", "url": url, "signingSecretFrom": {"env": "STACK_HOOK_KEY"}}
    return {
        stream_id: {
            "destinations": [hook],
            "rules": [{"name": "main", "kinds": [kind], "destinations": ["hook"]}],
        }
        for stream_id, kind in EXPECTED_KINDS.items()
    }


class Stack:
    def __init__(self, data_dir: Path, static_dir: Path, receiver: Receiver):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "stack.out"
        argv = [
            sys.executable, "-m", "telemetra.dev.stack", "--port", str(self.port),
            "--data-dir", str(data_dir), "--static-dir", str(static_dir), "--streams", ",".join(STREAMS),
            "--rate", "40", "--seed", "11", "--speed", str(SPEED), "--duration", str(EVENT_SECONDS),
            *(arg for scenario in SCENARIOS for arg in ("--scenario", scenario)),
            "--alerts", str(data_dir / "alerts.json"),
        ]  # fmt: skip
        (data_dir / "alerts.json").write_bytes(orjson.dumps(alert_rules(f"{receiver.url}/hook")))
        self.receiver = receiver
        self._out = self.log.open("ab")
        env = {**os.environ, "STACK_HOOK_KEY": KEY}
        self.process = subprocess.Popen(argv, stdout=self._out, stderr=subprocess.STDOUT, env=env)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def printed(self, pattern: str) -> str | None:
        match = re.search(pattern, self.output(), re.MULTILINE)
        return match.group(1) if match else None

    def get(self, path: str) -> Any:
        answer = httpx.get(self.base + path, timeout=10)
        answer.raise_for_status()
        return answer.json()


@pytest.fixture
def stack() -> Iterator[Stack]:
    # Not under pytest's tmp dirs: as root, PostgreSQL runs as the 'postgres' user, which cannot enter them.
    data_dir = Path(tempfile.mkdtemp(prefix="telemetra-stack-e2e-"))
    data_dir.chmod(0o755)
    static = data_dir / "dashboard"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>telemetra dashboard</title><div id=root></div>")
    receiver = Receiver().start()
    running = Stack(data_dir, static, receiver)
    try:
        yield running
    finally:
        running.close()
        receiver.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


async def read_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every record of the (single-partition) topic, in order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        values: list[bytes] = []
        while len(values) < end:
            batch = await consumer.getmany(partition, timeout_ms=5000, max_records=10_000)
            values += [record.value for record in batch.get(partition, [])]
        return values
    finally:
        await consumer.stop()


def serves_the_replay(
    stack: Stack, stream_id: str, windows: list[dict[str, Any]], moments: list[dict[str, Any]], within: float
) -> None:
    """Poll the API until its windows and moments are the replay's; fail naming the first differences."""
    deadline = time.monotonic() + within
    while True:
        try:
            served = (
                stack.get(f"/api/v1/streams/{stream_id}/metrics?limit=1000")["items"],
                stack.get(f"/api/v1/streams/{stream_id}/moments?limit=1000")["items"],
            )
            found = differences(served, (windows, moments), stream_id)
        except httpx.HTTPError as error:
            found = [repr(error)]
        if not found:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"after {within:g} s the API still differs from the replay: {found[:10]}")
        time.sleep(1)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_the_stack_serves_what_the_embedded_engine_computes_then_stops_cleanly(stack: Stack) -> None:
    started = time.monotonic()
    bootstrap = wait_for(lambda: stack.printed(r"^\s+Kafka\s+(\S+)"), 300, "the stack's start", stack.log)
    startup = time.monotonic() - started
    for part in ("PostgreSQL", "Redis", "Kafka", "API", "Spark job (pool demo)"):
        assert stack.printed(rf"^telemetra: ({re.escape(part)}) ready in \d+\.\d s"), part
    for label in ("dashboard", "API docs", "PostgreSQL", "Redis", "Spark metrics"):
        assert stack.printed(rf"^\s+({re.escape(label)})\s+\S"), label
    assert stack.printed(r"^\s+PostgreSQL\s+(postgresql://\S+)") and stack.printed(
        r"^\s+Redis\s+(redis://\S+)"
    )

    for path in ("/", "/streams/alpha"):  # the dashboard, and a client-side route that falls back to it
        page = httpx.get(stack.base + path, timeout=10)
        assert page.status_code == 200 and "telemetra dashboard" in page.text
    assert httpx.get(stack.base + "/docs", timeout=10).status_code == 200
    # one job serves every channel: the demo pool's
    metrics_url = stack.printed(rf"^\s+Spark metrics\s+(\S+)\s+\(pool demo: {', '.join(STREAMS)}\)")
    assert metrics_url
    assert query_active(httpx.get(metrics_url, timeout=10).text)

    produced = int(
        wait_for(lambda: stack.printed(r"producer finished: (\d+) events"), 120, "production", stack.log)
    )
    pooled = asyncio.run(read_topic(bootstrap, "telemetra.pool.demo.events"))
    expected = {}
    for stream_id in STREAMS:
        lines = [line for line in pooled if orjson.loads(line)["stream_id"] == stream_id]
        expected[stream_id] = (lines, *engine_outputs(lines))
    assert sum(len(lines) for lines, _, _ in expected.values()) == produced

    for stream_id, (_, windows, moments) in expected.items():
        assert EXPECTED_KINDS[stream_id] in {m["kind"] for m in moments}, (stream_id, moments)
        serves_the_replay(stack, stream_id, windows, moments, within=90)
    caught_up_after = time.monotonic() - started
    alerted = wait_for(lambda: alerts_by_stream(stack.receiver), 30, "both alerts", stack.log)
    time.sleep(3)  # time for a duplicate to show up, if there were one
    for stream_id, (_, _, moments) in expected.items():
        sent = alerts_by_stream(stack.receiver)[stream_id]
        expected_ids = {m["moment_id"] for m in moments if m["kind"] == EXPECTED_KINDS[stream_id]}
        assert {r.json()["id"] for r in sent} == expected_ids, (
            stream_id,
            alerted,
        )  # each moment alerted, once
        assert len({r.json()["revision"] for r in sent}) == len(sent), sent  # no revision sent twice
        for alert in sent:
            verify(KEY, alert.body, alert.headers, now=alert.at)

    family = descendants(stack.process.pid)
    assert len(family) >= 5, family  # PostgreSQL, Redis, Kafka, and the job's driver and JVM at least
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(120) == 0, stack.output()[-4000:]
    stopping = re.findall(r"^telemetra: (.+?) stopped", stack.output(), re.MULTILINE)
    assert stopping == [
        "producer",
        "Spark job (pool demo)",
        "alerts",
        "API",
        "Kafka",
        "Redis",
        "PostgreSQL",
    ], stopping
    assert [pid for pid in family if alive(pid)] == []
    log = [orjson.loads(line) for line in stack.output().splitlines() if line.startswith("{")]
    assert [entry for entry in log if entry["level"] in ("error", "critical")] == []
    print(f"started in {startup:.0f} s, caught up after {caught_up_after:.0f} s, {produced} events")


def alerts_by_stream(receiver: Receiver) -> dict[str, list[Any]] | None:
    """The alerts received, by stream; None until every channel has one."""
    found: dict[str, list[Any]] = {}
    for request in receiver.requests:
        if request.method == "POST":
            found.setdefault(request.json()["moment"]["stream_id"], []).append(request)
    return found if set(found) == set(EXPECTED_KINDS) else None


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
