"""Detection trials: mock traffic with scenarios at random times, replayed through the engine, then scored.

Used by the detection tests and by ``bench/detection.py``: one plan per seed, so results are reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import orjson

from telemetra.analytics.backtest import KindScore, score_moments
from telemetra.analytics.config import AnalyticsConfig
from telemetra.engine.offline import process_lines
from telemetra.producers.mock import ChatModel, MockConfig, generate_batches, labels
from telemetra.producers.scenarios import parse_scenario

TRIAL_START = 1_790_000_000.0
WARMUP = 300  # seconds of plain traffic before the first scenario
SPACING = 420  # seconds between scenario starts: each episode, and the baseline's recovery, fit in between


def plan(seed: int, scenarios: Sequence[str]) -> list[str]:
    """Scenario specs (``"hype@..x5"``) in a seed-dependent order, at jittered, well-separated times."""
    rng = random.Random(seed)
    order = list(scenarios)
    rng.shuffle(order)
    return [
        f"{kind.split('@')[0]}@{WARMUP + i * SPACING + rng.randrange(10)}{_suffix(kind)}"
        for i, kind in enumerate(order)
    ]


def _suffix(spec: str) -> str:
    return spec.split("@", 1)[1] if "@" in spec else ""


def trial(seed: int, scenarios: Sequence[str], **options: Any) -> dict[str, KindScore]:
    """Generate, replay and score one stream (``options``: those of :func:`run_trial`). ``scenarios`` are kinds
    with optional suffix: ``"hype@x3"``."""
    return score_moments(*run_trial(seed, scenarios, **options))


def run_trial(
    seed: int,
    scenarios: Sequence[str],
    *,
    rate: float = 50.0,
    stream: str = "trial",
    config: AnalyticsConfig | None = None,
    duration: float | None = None,
    chat: ChatModel = "poisson",
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Generate and replay one stream (``""`` in ``scenarios``: a slot left empty); its moments and labels."""
    specs = [spec for spec in plan(seed, scenarios) if not spec.startswith("@")]
    mock = MockConfig(
        streams=[stream],
        rate=rate,
        duration=duration or WARMUP + len(scenarios) * SPACING + 120,
        seed=seed,
        start=TRIAL_START,
        scenarios=[parse_scenario(spec) for spec in specs],
        chat=chat,
    )
    lines = (orjson.dumps(event) for _, batch in generate_batches(mock) for event in batch)
    result = process_lines(lines, config)
    return [m.to_dict() for m in result.moments], labels(mock)
