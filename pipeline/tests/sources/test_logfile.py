"""Replaying a JSON Lines event log: order, pacing (with a simulated clock), and bad lines reported."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from telemetra.contract import format_ts
from telemetra.sinks.base import RawEvent
from telemetra.sources.logfile import BadLine, send_file

T0 = 1764259200.0


def viewers(n: int, at: float) -> dict[str, Any]:
    return {
        "event_id": f"e{n}",
        "stream_id": "demo",
        "type": "viewers",
        "ts": format_ts(T0 + at),
        "viewers": n,
    }


def write(path: Path, lines: Sequence[dict[str, Any] | str]) -> Path:
    path.write_bytes(
        b"".join((orjson.dumps(line) if isinstance(line, dict) else line.encode()) + b"\n" for line in lines)
    )
    return path


class SimulatedTime:
    """A clock that only moves when the replay sleeps (or the sink takes time)."""

    def __init__(self) -> None:
        self.now = 5000.0
        self.sleeps: list[float] = []
        self.sent_before_sleep: list[int] = []
        self.sink: Any = None

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.sent_before_sleep.append(len(self.sink.events) if self.sink else 0)
        self.now += seconds


def event_ids(events: Sequence[RawEvent]) -> list[str]:
    return [event["event_id"] for event in events]


async def test_speed_zero_sends_everything_in_order_without_waiting(tmp_path: Path, sink: Any) -> None:
    events = [viewers(n, at=n * 7.5) for n in range(2500)]  # more than one read chunk
    time = SimulatedTime()
    stats = await send_file(
        write(tmp_path / "log.jsonl", events),
        sink,
        speed=0,
        batch_size=100,
        clock=time.clock,
        sleep=time.sleep,
    )
    assert time.sleeps == []
    assert sink.events == events
    assert [len(batch) for batch in sink.batches] == [100] * 25
    assert (stats.lines, stats.sent, stats.invalid, stats.stopped) == (2500, 2500, 0, False)
    assert (stats.first_ts, stats.last_ts) == (events[0]["ts"], events[-1]["ts"])


@pytest.mark.parametrize(
    ("speed", "sleeps"), [(1.0, [1.0, 2.0, 7.0]), (2.0, [0.5, 1.0, 3.5]), (10.0, [0.1, 0.2, 0.7])]
)
async def test_pacing_follows_event_time_deltas_from_the_first_event(
    tmp_path: Path, sink: Any, speed: float, sleeps: list[float]
) -> None:
    # 0 and 0 go together; 2 after 3 is late and goes at once, in file order; 10 waits for its time.
    events = [viewers(0, 0), viewers(1, 0), viewers(2, 1), viewers(3, 3), viewers(4, 2), viewers(5, 10)]
    time = SimulatedTime()
    time.sink = sink
    await send_file(
        write(tmp_path / "log.jsonl", events), sink, speed=speed, clock=time.clock, sleep=time.sleep
    )
    assert time.sleeps == sleeps
    assert time.sent_before_sleep == [2, 3, 5]  # what is due is sent before each pause
    assert event_ids(sink.events) == ["e0", "e1", "e2", "e3", "e4", "e5"]


async def test_pacing_is_absolute_so_a_slow_sink_does_not_add_up(tmp_path: Path, sink: Any) -> None:
    time = SimulatedTime()
    send = sink.send

    async def slow_send(events: Sequence[RawEvent]) -> None:
        await send(events)
        time.now += 0.4  # every send takes 0.4 s

    sink.send = slow_send
    events = [viewers(n, at=n) for n in range(4)]
    await send_file(write(tmp_path / "log.jsonl", events), sink, speed=1, clock=time.clock, sleep=time.sleep)
    assert time.sleeps == [0.6, 0.6, 0.6]
    assert event_ids(sink.events) == ["e0", "e1", "e2", "e3"]


async def test_invalid_lines_are_counted_and_reported_with_line_numbers(tmp_path: Path, sink: Any) -> None:
    lines: list[dict[str, Any] | str] = [
        viewers(1, 0),
        '{"event_id": "x", "type": "viewers",',  # truncated
        "",
        "[1, 2, 3]",
        {**viewers(2, 1), "viewers": -5},
        {key: value for key, value in viewers(3, 2).items() if key != "ts"},
        {**viewers(4, 3), "ts": "2025-11-27T16:00:03"},  # no offset
        viewers(5, 4),
    ]
    stats = await send_file(write(tmp_path / "log.jsonl", lines), sink, speed=0)
    assert event_ids(sink.events) == ["e1", "e5"]
    assert (stats.lines, stats.sent, stats.invalid) == (8, 2, 5)
    assert [bad.line for bad in stats.bad_lines] == [2, 4, 5, 6, 7]
    reasons = {bad.line: bad.reason for bad in stats.bad_lines}
    assert reasons[2] == "<event>: malformed JSON: EOF while parsing a value at line 1 column 36"
    assert "object" in reasons[4]
    assert reasons[5].startswith("viewers:")
    assert reasons[6].startswith("ts:")
    assert reasons[7].startswith("ts:")
    report = stats.report()
    assert report.startswith("replayed 2 event(s) from 8 line(s); 5 invalid")
    assert "line 5: viewers:" in report


async def test_without_validation_only_json_and_ts_are_checked(tmp_path: Path, sink: Any) -> None:
    lines: list[dict[str, Any] | str] = [
        {**viewers(1, 0), "viewers": -5},  # breaks the contract: left to the sink's boundary
        {**viewers(2, 1), "ts": "yesterday"},
        "not json",
        "42",
    ]
    stats = await send_file(write(tmp_path / "log.jsonl", lines), sink, speed=0, validate=False)
    assert event_ids(sink.events) == ["e1"]
    assert stats.bad_lines == [
        BadLine(2, "ts: Invalid isoformat string: 'yesterday'"),
        BadLine(3, stats.bad_lines[1].reason),
        BadLine(4, "expected a JSON object"),
    ]
    assert stats.bad_lines[1].reason.startswith("malformed JSON")


async def test_stop_during_a_pause_ends_the_replay(tmp_path: Path, sink: Any) -> None:
    stop = asyncio.Event()
    time = SimulatedTime()

    async def sleep_then_stop(seconds: float) -> None:
        await time.sleep(seconds)
        stop.set()

    events = [viewers(n, at=60 * n) for n in range(5)]
    stats = await send_file(
        write(tmp_path / "log.jsonl", events),
        sink,
        speed=1,
        stop=stop,
        clock=time.clock,
        sleep=sleep_then_stop,
    )
    assert event_ids(sink.events) == ["e0"]
    assert stats.stopped
    assert stats.sent == 1


async def test_stop_interrupts_a_real_pause(tmp_path: Path, sink: Any) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    events = [viewers(0, 0), viewers(1, 3600)]  # an hour apart at real pace
    stats = await asyncio.wait_for(send_file(write(tmp_path / "log.jsonl", events), sink, stop=stop), 10)
    assert (stats.stopped, stats.sent) == (True, 1)


async def test_stats_serialise_for_the_command_line(tmp_path: Path, sink: Any) -> None:
    stats = await send_file(write(tmp_path / "log.jsonl", [viewers(1, 0), "oops"]), sink, speed=0)
    assert orjson.loads(orjson.dumps(stats))["bad_lines"] == [
        {"line": 2, "reason": stats.bad_lines[0].reason}
    ]


@pytest.mark.parametrize("speed", [-1.0, float("nan"), float("inf")])
async def test_bad_speed_is_refused(tmp_path: Path, sink: Any, speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        await send_file(write(tmp_path / "log.jsonl", []), sink, speed=speed)


async def test_missing_file_is_an_error(tmp_path: Path, sink: Any) -> None:
    with pytest.raises(FileNotFoundError):
        await send_file(tmp_path / "absent.jsonl", sink)
