"""Builders for the alert tests and benchmark: moments (and their growth) and configs."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from telemetra.records import Moment, format_ts, parse_ts
from telemetra.services.alerts.rules import AlertConfig

if TYPE_CHECKING:
    from telemetra.services.alerts.intake import AlertIntake

T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z


def make_moment(
    n: int = 1, *, stream: str = "alpha", kind: str = "chat_spike", at: float = T0, **fields: Any
) -> Moment:
    moment = Moment(
        moment_id=f"m{n:04d}-{stream}",
        stream_id=stream,
        kind=kind,
        start=format_ts(at),
        end=format_ts(at + 10),
        metric="chat_rate",
        value=12.5,
        baseline=2.5,
        score=6.1,
        threshold=4.0,
        description="Chat exploded to 12.5 msg/s, 5.0× normal",
        peak_at=format_ts(at),
        detected_at=format_ts(at),
        ongoing=True,
    )
    return replace(moment, **fields)


def grown(moment: Moment, seconds: float = 10, value: float = 20.0) -> Moment:
    """The same episode re-emitted with a higher peak, later."""
    peak = parse_ts(moment.peak_at) + seconds
    return replace(moment, value=value, peak_at=format_ts(peak), end=format_ts(peak + 10))


def webhook_config(url: str, *, env: str = "HOOK_KEY", **destination: Any) -> AlertConfig:
    return AlertConfig.model_validate(
        {
            "destinations": [
                {
                    "name": "hook",
                    "type": "webhook",
                    "url": url,
                    "signingSecretFrom": {"env": env},
                    **destination,
                }
            ],
            "rules": [{"name": "all", "destinations": ["hook"]}],
        }
    )


async def configure(intake: AlertIntake, stream_id: str, config: AlertConfig | None) -> None:
    """Store a stream's config (or remove it) in the intake's outbox, as the admin API would, and have the
    intake read the configs again."""
    await intake.outbox.set_config(stream_id, config, "api", time.time())
    assert await intake.refresh()
