"""``telemetra process``: run the engine over an event log as fast as possible (offline); also what backtests
and the tests use as the engine's reference output."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from telemetra.analytics.config import AnalyticsConfig
from telemetra.engine.core import Engine, Step
from telemetra.records import DeadLetter, Moment, WindowMetrics

BATCH = 256  # inputs per engine step: steps of 64–512 were fastest in bench/engine.py, 4096 was 20 % slower


@dataclass
class OfflineResult:
    windows: list[WindowMetrics]
    moments: list[Moment]  # the final version of each episode
    dead_letters: list[DeadLetter]
    events: int
    late_events: int


def process_lines(
    lines: Iterable[bytes], config: AnalyticsConfig | None = None, name: str = ""
) -> OfflineResult:
    """Every line through the engine, then the end of input; a dead letter's source is ``name:line``."""
    engine = Engine(config)
    step = Step()
    numbered = ((line, f"{name}:{number}") for number, line in enumerate(lines, 1) if line.strip())
    while batch := list(itertools.islice(numbered, BATCH)):
        step.extend(engine.process(batch, live=False))
    step.extend(engine.flush())
    moments = {m.moment_id: m for m in step.moments}  # the final version of each episode
    return OfflineResult(
        windows=sorted(step.windows, key=lambda w: (w.stream_id, w.window_start)),
        moments=sorted(moments.values(), key=lambda m: (m.stream_id, m.start, m.kind)),
        dead_letters=step.dead_letters,
        events=engine.stats.events,
        late_events=engine.late_events,
    )


def process_file(path: Path, config: AnalyticsConfig | None = None) -> OfflineResult:
    with path.open("rb") as lines:
        return process_lines(lines, config, name=path.name)


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    count = 0
    with path.open("wb") as out:
        for record in records:
            out.write(orjson.dumps(record) + b"\n")
            count += 1
    return count


def write_outputs(result: OfflineResult, out_dir: Path) -> dict[str, int]:
    """``metrics.jsonl`` (closed windows), ``moments.jsonl`` and ``dead_letters.jsonl`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "metrics": write_jsonl(out_dir / "metrics.jsonl", (w.to_dict() for w in result.windows)),
        "moments": write_jsonl(out_dir / "moments.jsonl", (m.to_dict() for m in result.moments)),
        "dead_letters": write_jsonl(
            out_dir / "dead_letters.jsonl", (d.to_dict() for d in result.dead_letters)
        ),
    }
