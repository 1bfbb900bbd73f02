"""`telemetra demo` from the outside: a newcomer's first minute, and a restart that keeps history."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from support import wait_for

from telemetra.dev.localstack.process import free_port

TELEMETRA = [sys.executable, "-m", "telemetra.apps.cli"]


class Demo:
    def __init__(self, data_dir: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "demo.log"
        argv = [*TELEMETRA, "demo", "--port", str(self.port), "--data-dir", str(data_dir), "--static-dir", ""]
        self.process = subprocess.Popen(argv, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)

    def get(self, path: str) -> Any:
        return httpx.get(self.base + path, timeout=5).json()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=20)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    running = Demo(tmp_path)
    yield running
    if running.process.poll() is None:
        running.process.kill()


@pytest.mark.slow
def test_first_minute_of_the_demo_then_a_restart_keeps_history(demo: Demo, tmp_path: Path) -> None:
    started = time.monotonic()
    streams = wait_for(
        lambda: [s for s in demo.get("/api/v1/streams")["items"] if s["live"]], 15, "3 live streams"
    )
    assert len(streams) == 3, streams
    assert time.monotonic() - started <= 15

    def latest_window() -> str | None:
        items = demo.get("/api/v1/streams/nebula/metrics?limit=500").get("items", [])
        return max((w["window_end"] for w in items), default=None)

    first = wait_for(latest_window, 40, "a closed window")
    described = wait_for(
        lambda: [s for s in demo.get("/api/v1/streams")["items"] if s["title"] and s["category"]],
        15,
        "titles and categories from the streams' start events",
    )
    assert len(described) == 3, described
    advanced = wait_for(lambda: (w := latest_window()) and w > first and w, 25, "the next window")
    assert (time.mktime(time.strptime(advanced[:19], "%Y-%m-%dT%H:%M:%S"))
            - time.mktime(time.strptime(first[:19], "%Y-%m-%dT%H:%M:%S"))) % 10 == 0  # fmt: skip

    async def live_updates() -> list[dict[str, Any]]:
        async with websockets.connect(f"ws://127.0.0.1:{demo.port}/ws/live/nebula") as ws:
            messages = [orjson.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(3)]
        return messages

    messages = asyncio.run(live_updates())
    assert len(messages) == 3  # a snapshot, then pushes

    raid = wait_for(
        lambda: [m for m in demo.get("/api/v1/streams/pixelpioneer/moments")["items"] if m["kind"] == "raid"],
        60,
        "the scheduled raid (at 35 s)",
    )
    assert raid[0]["description"].startswith("Raided by")

    assert demo.stop() == 0
    log = [orjson.loads(line) for line in demo.log.read_text().splitlines() if line.startswith("{")]
    messages = [entry["msg"] for entry in log]
    assert messages.index("engine stopped") < messages.index("Shutting down")  # drained before the API closed
    assert not [entry for entry in log if entry["level"] in ("error", "critical")]
    assert (tmp_path / "telemetra.db").exists() and not (tmp_path / "telemetra.db-wal").exists()  # closed
    restarted = Demo(tmp_path)
    try:
        history = wait_for(
            lambda: restarted.get("/api/v1/streams/nebula/metrics?limit=500")["items"], 15, "history"
        )
        assert min(w["window_end"] for w in history) <= first
        assert restarted.get("/api/v1/streams/pixelpioneer/moments")["items"]
    finally:
        assert restarted.stop() == 0
