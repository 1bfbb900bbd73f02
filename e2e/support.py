"""Shared by the end-to-end tests."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from telemetra.engine.core import Engine
from telemetra.engine.offline import process_lines


def wait_for(check: Callable[[], Any], within: float, what: str, log: Path | None = None) -> Any:
    """Poll ``check`` every 0.5 s until it returns something truthy (HTTP errors count as not yet), and
    return that; fail after ``within`` seconds, with the end of ``log`` when given."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    context = f"; log:\n{log.read_text()[-4000:]}" if log is not None else ""
    raise AssertionError(f"{what} did not happen within {within:g} s{context}")


def engine_outputs(lines: list[bytes]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What a running engine has written after these events: closed windows, the latest version of each moment.
    (``process_lines`` also flushes at the end of its input; a live job has no end, so nothing is flushed.)"""
    engine = Engine()
    step = engine.process(((line, "") for line in lines), live=False)
    windows = [w.to_dict() for w in step.windows]
    moments = {m.moment_id: m.to_dict() for m in step.moments}
    assert not step.dead_letters and engine.late_events == 0
    # The same closed windows as the replay tool's, which flushes the still-open ones on top.
    replayed = [w.to_dict() for w in process_lines(lines).windows]
    assert windows == replayed[: len(windows)] and len(replayed) > len(windows)
    return windows, sorted(moments.values(), key=lambda m: (m["start"], m["moment_id"]), reverse=True)


def differences(actual: Any, expected: Any, where: str = "") -> list[str]:
    """Paths where the two differ; numbers that are not both integers may differ by 1e-9."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        keys = sorted(set(actual) | set(expected))
        return [d for k in keys for d in differences(actual.get(k), expected.get(k), f"{where}.{k}")]
    if isinstance(actual, list) and isinstance(expected, list):
        if len(actual) != len(expected):
            return [f"{where}: {len(actual)} items, expected {len(expected)}"]
        pairs = enumerate(zip(actual, expected, strict=True))
        return [d for i, (a, e) in pairs for d in differences(a, e, f"{where}[{i}]")]
    if isinstance(actual, bool) or isinstance(expected, bool):
        return [] if actual is expected else [f"{where}: {actual!r} != {expected!r}"]
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (actual, expected))
    if numbers and not (isinstance(actual, int) and isinstance(expected, int)):
        return (
            []
            if math.isclose(actual, expected, rel_tol=0, abs_tol=1e-9)
            else [f"{where}: {actual} != {expected}"]
        )
    return [] if actual == expected else [f"{where}: {actual!r} != {expected!r}"]
