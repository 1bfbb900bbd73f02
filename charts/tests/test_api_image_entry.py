"""The API image's command (`python -m telemetra.services`), run as a process the
way the container runs it: settings from TELEMETRA_* (SQLite store, in-memory cache), a built dashboard in
TELEMETRA_DASHBOARD_DIR, real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from telemetra.dev.localstack.process import free_port, port_open, terminate, track, wait_until

INDEX = "<!doctype html><title>Telemetra</title><div id=root></div>"


def start(
    tmp_path: Path, dashboard: Path | None, extra: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRA_")}
    env |= {
        "TELEMETRA_HOST": "127.0.0.1",
        "TELEMETRA_PORT": str(port),
        "TELEMETRA_STORE_URL": f"sqlite:///{tmp_path / 'telemetra.db'}",
        "TELEMETRA_CACHE_URL": "memory://",
        "TELEMETRA_DASHBOARD_DIR": str(dashboard or ""),
        **(extra or {}),
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "telemetra.services"],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    track(process)
    wait_until(lambda: port_open(port), process, 30, "the API", log)
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture
def dashboard(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "assets" / "app.js").write_text("console.log('telemetra')")
    return dist


@pytest.fixture
def api(tmp_path: Path, dashboard: Path) -> Iterator[httpx.Client]:
    process, url = start(tmp_path, dashboard)
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            yield client
    finally:
        terminate(process)


def test_the_api_answers_before_the_dashboard(api: httpx.Client) -> None:
    assert api.get("/health").json() == {"status": "ok"}
    assert api.get("/ready").status_code == 200
    streams = api.get("/api/v1/streams")
    assert streams.status_code == 200
    assert streams.headers["content-type"].startswith("application/json")
    missing = api.get("/api/v1/streams/nope")
    assert missing.status_code == 404 and "request_id" in missing.json()  # the API's 404, not index.html
    assert "telemetra_http_request_duration_seconds" in api.get("/metrics").text
    assert api.get("/docs").status_code == 200


def test_the_dashboard_is_served_with_a_single_page_fallback(api: httpx.Client) -> None:
    assert api.get("/").text == INDEX
    asset = api.get("/assets/app.js")
    assert asset.status_code == 200 and "telemetra" in asset.text
    deep_link = api.get("/streams/demo", params={"range": "1h"})  # a client-side route, reloaded
    assert deep_link.status_code == 200 and deep_link.text == INDEX


def test_without_a_built_dashboard_only_the_api_is_served(tmp_path: Path) -> None:
    process, url = start(tmp_path, tmp_path / "not-built")
    try:
        assert httpx.get(f"{url}/health").status_code == 200
        assert httpx.get(f"{url}/").status_code == 404
    finally:
        terminate(process)
    # SIGTERM (what the kubelet sends) shuts down cleanly; uvicorn then re-raises the signal (exit -15).
    assert "Application shutdown complete." in (tmp_path / "serve.log").read_text()


def test_dev_reload_mode_serves_the_same_app(tmp_path: Path, dashboard: Path) -> None:
    """skaffold's dev profile: the reloader imports the same factory and watches the installed package."""
    process, url = start(tmp_path, dashboard, {"TELEMETRA_DEV_RELOAD": "1"})
    try:
        assert httpx.get(f"{url}/health").json() == {"status": "ok"}
        assert httpx.get(f"{url}/streams/demo").text == INDEX
    finally:
        terminate(process)
    log = (tmp_path / "serve.log").read_text()
    assert "Will watch for changes" in log and "telemetra" in log
