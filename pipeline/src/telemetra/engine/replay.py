"""``telemetra replay``: run the engine over an event log as fast as possible; also the backtesting tool."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from telemetra.analytics.config import AnalyticsConfig
from telemetra.analytics.moments import Moment
from telemetra.analytics.windows import WindowMetrics
from telemetra.engine.core import DeadLetter, Engine


@dataclass
class ReplayResult:
    windows: list[WindowMetrics]
    moments: list[Moment]  # the final version of each episode
    dead_letters: list[DeadLetter]
    events: int
    late_events: int


def replay_lines(
    lines: Iterable[bytes], config: AnalyticsConfig | None = None, name: str = ""
) -> ReplayResult:
    engine = Engine(config, keep_dead_letters=None)
    windows: list[WindowMetrics] = []
    moments: dict[str, Moment] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        out = engine.process_raw(line, source=f"{name}:{number}")
        windows += out.windows
        moments.update((m.moment_id, m) for m in out.moments)
    out = engine.flush()
    windows += out.windows
    moments.update((m.moment_id, m) for m in out.moments)
    return ReplayResult(
        windows=sorted(windows, key=lambda w: (w.stream_id, w.window_start)),
        moments=sorted(moments.values(), key=lambda m: (m.stream_id, m.start, m.kind)),
        dead_letters=list(engine.dead_letters),
        events=engine.stats.events,
        late_events=engine.late_events,
    )


def replay_file(path: Path, config: AnalyticsConfig | None = None) -> ReplayResult:
    with path.open("rb") as lines:
        return replay_lines(lines, config, name=path.name)


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    count = 0
    with path.open("wb") as out:
        for record in records:
            out.write(orjson.dumps(record) + b"\n")
            count += 1
    return count


def write_outputs(result: ReplayResult, out_dir: Path) -> dict[str, int]:
    """``metrics.jsonl`` (closed windows), ``moments.jsonl`` and ``dead_letters.jsonl`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "metrics": write_jsonl(out_dir / "metrics.jsonl", (w.to_dict() for w in result.windows)),
        "moments": write_jsonl(out_dir / "moments.jsonl", (m.to_dict() for m in result.moments)),
        "dead_letters": write_jsonl(
            out_dir / "dead_letters.jsonl", (d.to_dict() for d in result.dead_letters)
        ),
    }
