"""Replay: deterministic, order-insensitive within the watermark, and nothing invalid lost silently."""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from telemetra.analytics.config import AnalyticsConfig
from telemetra.apps.cli import main
from telemetra.contract import parse_ts
from telemetra.engine.offline import process_lines
from telemetra.producers.mock import MockConfig, generate_batches
from telemetra.producers.scenarios import parse_scenario

MOCK = MockConfig(
    streams=["a", "b"],
    rate=40,
    duration=900,
    seed=11,
    start=1_790_000_000,
    scenarios=[parse_scenario("hype@400"), parse_scenario("raid@600/b")],
)


def event_lines() -> list[bytes]:
    return [orjson.dumps(event) for _, batch in generate_batches(MOCK) for event in batch]


def shuffled_within(lines: list[bytes], lateness: float, seed: int) -> list[bytes]:
    """Reorder events randomly, but never let one arrive more than ``lateness`` after a newer one."""
    rng = random.Random(seed)
    keyed = [(parse_ts(orjson.loads(line)["ts"]) + rng.uniform(0, lateness), line) for line in lines]
    return [line for _, line in sorted(keyed)]


def test_replaying_twice_gives_byte_identical_outputs(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(event_lines()) + b"\n")
    for out in ("one", "two"):
        assert main(["process", str(events), "--out", str(tmp_path / out)]) == 0
    for name in ("metrics.jsonl", "moments.jsonl", "dead_letters.jsonl"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert len((tmp_path / "one" / "moments.jsonl").read_bytes().splitlines()) >= 3  # hype ×2, raid


def test_shuffled_within_the_watermark_gives_the_same_closed_windows() -> None:
    lines = event_lines()
    reference = process_lines(lines)
    shuffled = process_lines(shuffled_within(lines, lateness=9.0, seed=3))
    assert shuffled.late_events == 0
    assert [w.to_dict() for w in shuffled.windows] == [w.to_dict() for w in reference.windows]
    assert {(m.stream_id, m.kind, m.start) for m in shuffled.moments} == {
        (m.stream_id, m.kind, m.start) for m in reference.moments
    }


def test_events_later_than_the_watermark_are_dropped_and_counted() -> None:
    lines = event_lines()[:5000]
    late = orjson.loads(lines[10])
    late["event_id"] = "late-one"
    result = process_lines([*lines, orjson.dumps(late)])
    assert result.late_events == 1
    assert sum(w.late_events for w in result.windows) == 1


def test_invalid_lines_become_dead_letters_and_the_rest_is_unaffected() -> None:
    lines = event_lines()[:5000]
    bad = [
        b"{not json",
        b'{"type": "chat", "stream_id": "a"}',
        orjson.dumps({**orjson.loads(lines[0]), "ts": "x"}),
    ]
    clean = process_lines(lines)
    mixed = process_lines([*lines[:100], *bad, *lines[100:]], name="events.jsonl")
    assert [w.to_dict() for w in mixed.windows] == [w.to_dict() for w in clean.windows]
    assert [d.source for d in mixed.dead_letters] == [
        "events.jsonl:101",
        "events.jsonl:102",
        "events.jsonl:103",
    ]
    assert "malformed JSON" in mixed.dead_letters[0].reason
    assert "user_id" in mixed.dead_letters[1].reason
    assert mixed.dead_letters[2].reason.startswith("ts:")


def test_window_settings_change_the_windows() -> None:
    result = process_lines(event_lines()[:3000], AnalyticsConfig(window=30, slide=15))
    starts = {parse_ts(w.window_start) for w in result.windows}
    assert all(start % 15 == 0 for start in starts)
    assert all(parse_ts(w.window_end) - parse_ts(w.window_start) == 30 for w in result.windows)
