"""Scenarios injected into mock traffic, and the ground-truth labels they leave behind.

A scenario is written ``KIND@START[+DURATION][xFACTOR][/STREAM]`` (seconds from the start of the run), e.g.
``hype@120``, ``hype@120+30x5``, ``raid@300/b``. Without ``/STREAM`` it applies to every stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from telemetra.contract import format_ts


class ScenarioKind(StrEnum):
    HYPE = "hype"  # chat rate × factor
    RAID = "raid"  # another channel raids: viewer jump of factor × current viewers, chat burst
    SURGE = "surge"  # organic viewer growth to × factor (front page, clip going viral)
    GIFT_BOMB = "gift_bomb"  # one viewer gifts `factor` subs at once
    SENTIMENT_SWING = "sentiment_swing"  # chat mood flips to the opposite sign (factor = new mood, -1..1)
    VIEWER_DROP = "viewer_drop"  # stream trouble: viewers fall to (1 - factor) of current
    RAMP = "ramp"  # chat rate climbs steadily to × factor over the duration, then holds it for RAMP_HOLD s


# The moment kind the analytics core is expected to report for each scenario.
EXPECTED_MOMENT = {
    ScenarioKind.HYPE: "chat_spike",
    ScenarioKind.RAID: "raid",
    ScenarioKind.SURGE: "viewer_surge",
    ScenarioKind.GIFT_BOMB: "revenue_spike",
    ScenarioKind.SENTIMENT_SWING: "sentiment_swing",
    ScenarioKind.VIEWER_DROP: "viewer_drop",
    ScenarioKind.RAMP: "chat_spike",
}
RAMP_HOLD = 30.0  # seconds a ramp holds its peak before chat returns to its level

DEFAULTS: dict[ScenarioKind, tuple[float, float]] = {  # duration (s), factor
    ScenarioKind.HYPE: (30.0, 5.0),
    ScenarioKind.RAID: (60.0, 1.0),
    ScenarioKind.SURGE: (120.0, 2.5),
    ScenarioKind.GIFT_BOMB: (15.0, 50.0),
    ScenarioKind.SENTIMENT_SWING: (90.0, -0.8),
    ScenarioKind.VIEWER_DROP: (90.0, 0.5),
    ScenarioKind.RAMP: (120.0, 4.0),
}

_SPEC = re.compile(
    r"^(?P<kind>[a-z_]+)@(?P<at>\d+(?:\.\d+)?)"
    r"(?:\+(?P<duration>\d+(?:\.\d+)?))?"
    r"(?:x(?P<factor>-?\d+(?:\.\d+)?))?"
    r"(?:/(?P<stream>[a-z0-9][a-z0-9_-]{0,63}))?$"
)


@dataclass(frozen=True, slots=True)
class Scenario:
    kind: ScenarioKind
    at: float  # seconds after the start of the run
    duration: float
    factor: float
    stream_id: str | None = None  # None: every stream

    @property
    def end(self) -> float:
        return self.at + self.duration + (RAMP_HOLD if self.kind is ScenarioKind.RAMP else 0.0)

    def active(self, t: float) -> bool:
        return self.at <= t < self.end

    def applies_to(self, stream_id: str) -> bool:
        return self.stream_id is None or self.stream_id == stream_id

    def label(self, stream_id: str, run_start: float) -> dict[str, Any]:
        """Ground truth for backtesting: what happened, where and when."""
        return {
            "stream_id": stream_id,
            "scenario": self.kind.value,
            "expected_moment": EXPECTED_MOMENT[self.kind],
            "start": format_ts(run_start + self.at),
            "end": format_ts(run_start + self.end),
            "factor": self.factor,
        }


def parse_scenario(spec: str) -> Scenario:
    """``"hype@120+30x5/a"`` → Scenario; raises ValueError naming what is wrong."""
    match = _SPEC.match(spec.strip())
    if not match:
        raise ValueError(f"scenario {spec!r} is not KIND@START[+DURATION][xFACTOR][/STREAM]")
    try:
        kind = ScenarioKind(match["kind"])
    except ValueError:
        choices = ", ".join(k.value for k in ScenarioKind)
        raise ValueError(f"scenario {spec!r}: unknown kind {match['kind']!r} (one of {choices})") from None
    duration, factor = DEFAULTS[kind]
    scenario = Scenario(
        kind=kind,
        at=float(match["at"]),
        duration=float(match["duration"]) if match["duration"] else duration,
        factor=float(match["factor"]) if match["factor"] else factor,
        stream_id=match["stream"],
    )
    if scenario.duration <= 0:
        raise ValueError(f"scenario {spec!r}: duration must be positive")
    return scenario
