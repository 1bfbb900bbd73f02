"""`telemetra demo --alerts FILE`: the scheduled raid and chat spike reach webhook receivers on 127.0.0.1, signed,
once each — within 5 s of their detection at a receiver that is up, and after it returns at one that was down for
over 60 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from support import wait_for

from telemetra.dev.localstack.process import free_port
from telemetra.dev.testing.receiver import Received, Receiver
from telemetra.records import parse_ts
from telemetra.services.alerts.payloads import verify

TELEMETRA = [sys.executable, "-m", "telemetra.apps.cli"]
KEY = "e2e-signing-key"
DETECTION_TO_ARRIVAL_S = 5.0
OUTAGE_S = 60.0


def config(live: str, late: str, kind: str) -> dict[str, object]:
    return {
        "destinations": [
            {"name": "live", "type": "webhook", "url": live, "signingSecretFrom": {"env": "HOOK_KEY"}},
            {"name": "late", "type": "webhook", "url": late, "signingSecretFrom": {"env": "HOOK_KEY"}},
        ],
        "rules": [{"name": kind.replace("_", "-"), "kinds": [kind], "destinations": ["live", "late"]}],
    }


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    live, late = Receiver().start(), Receiver()  # "late" is down until the test brings it up
    try:
        yield live, late
    finally:
        live.stop()
        late.stop()


def alerts(receiver: Receiver, kind: str) -> list[Received]:
    return [r for r in receiver.requests if r.method == "POST" and r.json()["moment"]["kind"] == kind]


def first_revisions(requests: list[Received]) -> list[Received]:
    return [r for r in requests if r.json()["revision"] == 1]


@pytest.mark.slow
def test_scheduled_moments_alert_once_signed_fast_and_after_an_outage(
    receivers: tuple[Receiver, Receiver], tmp_path: Path
) -> None:
    live, late = receivers
    rules = {
        "pixelpioneer": config(f"{live.url}/hook", f"{late.url}/hook", "raid"),  # the raid at ~35 s
        "nebula": config(f"{live.url}/hook", f"{late.url}/hook", "chat_spike"),  # the 5× spike at ~150 s
    }
    (tmp_path / "alerts.json").write_bytes(orjson.dumps(rules))
    port, log = free_port(), tmp_path / "demo.log"
    argv = [*TELEMETRA, "demo", "--port", str(port), "--data-dir", str(tmp_path / "data"), "--static-dir", "",
            "--alerts", str(tmp_path / "alerts.json")]  # fmt: skip
    # Retries every <= 5 s (default: up to 30 s), and enough of them to outlast the outage (default: ~5 min).
    env = {
        **os.environ,
        "HOOK_KEY": KEY,
        "TELEMETRA_ALERTS_BACKOFF_CAP_S": "5",
        "TELEMETRA_ALERTS_MAX_ATTEMPTS": "60",
    }
    demo = subprocess.Popen(argv, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
    try:
        raid = wait_for(lambda: alerts(live, "raid"), 90, "the raid alert", log)[0]
        spike = wait_for(lambda: alerts(live, "chat_spike"), 240, "the chat spike alert", log)[0]
        down_since_spike = time.time()
        for alert in (raid, spike):
            body = alert.json()
            verify(KEY, alert.body, alert.headers, now=alert.at)  # signed, and fresh
            assert alert.headers["Idempotency-Key"] == body["id"] == body["moment"]["moment_id"]
            assert alert.at - parse_ts(body["moment"]["detected_at"]) <= DETECTION_TO_ARRIVAL_S, body
        time.sleep(max(0.0, OUTAGE_S - (time.time() - down_since_spike)))  # "late" down for > 60 s by now
        late.start()
        wait_for(
            lambda: alerts(late, "raid") and alerts(late, "chat_spike"), 30, "the alerts after it is up", log
        )
        time.sleep(3)  # time for a duplicate to show up, if there were one
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=30)
    assert code == 0
    for receiver in (live, late):
        for kind in ("raid", "chat_spike"):
            sent = alerts(receiver, kind)
            assert len({r.json()["id"] for r in sent}) == 1, (
                receiver.url,
                kind,
                sent,
            )  # one moment, one alert
            revisions = [r.json()["revision"] for r in sent]
            assert len(revisions) == len(set(revisions)), revisions  # no revision delivered twice
            for alert in sent:
                verify(KEY, alert.body, alert.headers, now=alert.at)
    assert len(first_revisions(alerts(late, "raid"))) <= 1
