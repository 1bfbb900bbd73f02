"""`telemetra alerts dispatch` as a real process over a SQLite outbox: a configured stream's offered moment reaches
a local webhook receiver, signed; /health answers and /metrics counts the delivery; SIGTERM stops it cleanly;
bad settings are one line on stderr and exit code 2."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from support import wait_for

from telemetra.dev.localstack.process import free_port
from telemetra.dev.testing.alerts import make_moment, webhook_config
from telemetra.dev.testing.receiver import Receiver
from telemetra.services.alerts import AlertIntake
from telemetra.services.alerts.outbox import open_outbox
from telemetra.services.alerts.payloads import verify

TELEMETRA = [sys.executable, "-m", "telemetra.apps.cli"]
KEY = "dispatch-command-signing-key"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


async def offer(url: str, hook: str) -> str:
    """What the demo's or the Spark job's output does: a stream config in the outbox, a moment offered."""
    outbox = open_outbox(url)
    await outbox.start()
    try:
        await outbox.set_config("alpha", webhook_config(hook), "api", time.time())
        intake = AlertIntake(outbox)
        await intake.refresh()
        moment = make_moment(1, at=time.time())
        assert (await intake.moments([moment, make_moment(2, stream="beta", at=time.time())])).queued == 1
        return moment.moment_id
    finally:
        await outbox.close()


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_dispatch_delivers_and_reports(receiver: Receiver, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    moment_id = asyncio.run(offer(url, f"{receiver.url}/hook"))
    port, log = free_port(), tmp_path / "dispatch.log"
    env = {
        **os.environ,
        "HOOK_KEY": KEY,
        "TELEMETRA_ALERTS_OUTBOX_URL": url,
        "TELEMETRA_ALERTS_METRICS_PORT": str(port),
    }
    process = subprocess.Popen(
        [*TELEMETRA, "alerts", "dispatch"], stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        [alert] = wait_for(lambda: receiver.received("/hook"), 30, "the alert", log)
        verify(KEY, alert.body, alert.headers, now=alert.at)
        assert alert.json()["moment"]["moment_id"] == moment_id
        assert httpx.get(f"{base}/health").json() == {"status": "ok"}

        def delivered() -> str | None:
            text = httpx.get(f"{base}/metrics").text
            counted = metric(text, 'telemetra_alert_deliveries_total{outcome="delivered",type="webhook"}')
            rows = metric(text, 'telemetra_alert_outbox_rows{state="delivered"}')
            return text if counted == 1 and rows == 1 else None

        text = wait_for(delivered, 15, "the delivery in /metrics", log)
        assert metric(text, "telemetra_alert_dispatcher_up") == 1
        assert metric(text, "telemetra_alert_delivery_seconds_count") == 1
        assert metric(text, 'telemetra_alert_outbox_rows{state="pending"}') == 0
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, log.read_text()[-4000:]
    records = [orjson.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(r["msg"] == "alert dispatcher running" for r in records)  # structured JSON logs
    assert KEY not in log.read_text() and f"{receiver.url}/hook" not in log.read_text()  # no secret, no URL


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TELEMETRA_ALERTS_OUTBOX_URL": "mysql://db/alerts"}, "unsupported outbox URL scheme 'mysql'"),
        ({"TELEMETRA_ALERTS_SECRETS_SOURCE": "vault"}, "TELEMETRA_ALERTS_SECRETS_SOURCE: Input should be"),
        ({"TELEMETRA_ALERTS_SECRETS_SOURCE": "kubernetes"}, "KUBERNETES_SERVICE_HOST is not set"),
    ],
)
def test_bad_settings_are_one_line_and_exit_2(env: dict[str, str], message: str, tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEMETRA_", "KUBERNETES_"))}
    base["TELEMETRA_ALERTS_OUTBOX_URL"] = f"sqlite:///{tmp_path / 'alerts.db'}"
    result = subprocess.run(
        [*TELEMETRA, "alerts", "dispatch"], env=base | env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("telemetra alerts dispatch: error: ") and message in line
