"""`telemetra demo --twitch` against a local server replaying real-format Twitch chat: the channels show up live
in the dashboard's API next to the mock ones, with their chat counted in closed windows."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from support import wait_for

from telemetra.dev.localstack.process import free_port

TELEMETRA = [sys.executable, "-m", "telemetra.apps.cli"]


@pytest.fixture
def chat_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """``python -m telemetra.dev.twitch_chat``: its URL, the process, and its output (the summary at exit)."""
    output = tmp_path / "twitch.out"
    process = subprocess.Popen(
        [sys.executable, "-m", "telemetra.dev.twitch_chat", "--port", "0", "--rate", "8-12",
         "--suspended", "gone"],
        stdout=output.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = wait_for(lambda: output.read_text().partition("\n")[0].strip(), 15, "the chat server's URL")
        yield url, process, output
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.slow
def test_real_chat_shows_next_to_the_mock_streams(
    chat_server: tuple[str, subprocess.Popen[bytes], Path], tmp_path: Path
) -> None:
    url, server, server_output = chat_server
    port, log = free_port(), tmp_path / "demo.log"
    base = f"http://127.0.0.1:{port}"
    argv = [*TELEMETRA, "demo", "--port", str(port), "--data-dir", str(tmp_path), "--static-dir", "",
            "--twitch", "x,gone", "--twitch", "y=y-main", "--twitch-url", url]  # fmt: skip
    demo = subprocess.Popen(argv, stdout=log.open("ab"), stderr=subprocess.STDOUT)

    def get(path: str) -> Any:
        return httpx.get(base + path, timeout=5).json()

    try:
        live = wait_for(
            lambda: (
                {s["stream_id"] for s in get("/api/v1/streams")["items"] if s["live"]} >= {"x", "y-main"}
                and {s["stream_id"]: s for s in get("/api/v1/streams")["items"]}
            ),
            30,
            "the Twitch channels live",
            log,
        )
        assert {"nebula", "pixelpioneer", "chesswhiz", "x", "y-main"} <= set(live)  # next to the mock ones
        assert "gone" not in live  # a suspended channel is left out, the others go on
        assert live["x"]["chat_rate"] > 0

        def counted(stream_id: str) -> list[dict[str, Any]]:
            windows = get(f"/api/v1/streams/{stream_id}/metrics?limit=500")["items"]
            return [w for w in windows if w["messages"] > 0 and w["unique_chatters"] > 0]

        windows = wait_for(lambda: counted("x"), 60, "a closed window of x with its chat", log)
        assert windows[0]["top_emotes"], windows[0]  # the real-format lines' emotes are read
        assert wait_for(lambda: counted("y-main"), 20, "a window of y-main", log)
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=30)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
    assert code == 0
    entries = [orjson.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    (failed,) = [entry for entry in entries if entry["msg"] == "twitch channel failed"]
    assert failed["stream_id"] == "gone"
    assert not [entry for entry in entries if entry["level"] in ("error", "critical")]
    summary = orjson.loads(server_output.read_text().splitlines()[-1])
    assert summary["sessions"] == 1  # all three channels over one connection
    assert summary["sent"]["x"] > 0 and summary["sent"]["y"] > 0
