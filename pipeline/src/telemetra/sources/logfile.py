"""Sends a JSON Lines event log to a sink, in file order: at the original pace, N× faster, or flat out.

Pacing follows event time: an event stamped ``t`` is sent ``(t - t₀) / speed`` after the first one (stamped
``t₀``) was. Events stamped earlier than their predecessors go out at once, still in file order. Lines that
are not valid events are counted and reported with their line numbers, never silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import orjson

from telemetra.contract import InvalidEvent, parse_event, parse_ts
from telemetra.sinks.base import EventSink, RawEvent

log = logging.getLogger("telemetra.replay")

MAX_REPORTED = 1000  # bad lines kept with their reasons; all of them are counted
_CHUNK_LINES = 1000  # lines read per trip to the reader thread
_MIN_SLEEP = 0.002  # shorter waits are folded into the next one (pacing is absolute, so no drift)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int  # 1-based line number in the file
    reason: str


@dataclass
class ReplayStats:
    lines: int = 0  # lines read, blank ones included
    sent: int = 0  # events handed to the sink
    invalid: int = 0  # lines that are not valid events
    bad_lines: list[BadLine] = field(default_factory=list)  # the first MAX_REPORTED invalid lines
    stopped: bool = False  # ``stop`` was set before the end of the file
    first_ts: str | None = None  # event time span of what was sent
    last_ts: str | None = None

    def reject(self, line: int, reason: str) -> None:
        self.invalid += 1
        if len(self.bad_lines) < MAX_REPORTED:
            self.bad_lines.append(BadLine(line, reason))

    def report(self) -> str:
        """A human summary: what was sent, and every reported bad line."""
        head = f"replayed {self.sent} event(s) from {self.lines} line(s); {self.invalid} invalid"
        if self.stopped:
            head += "; stopped early"
        more = self.invalid - len(self.bad_lines)
        tail = [f"  line {bad.line}: {bad.reason}" for bad in self.bad_lines]
        return "\n".join([head, *tail, *([f"  … and {more} more"] if more else [])])


async def send_file(
    path: str | PathLike[str],
    sink: EventSink,
    *,
    speed: float = 1.0,
    stop: asyncio.Event | None = None,
    batch_size: int = 500,
    validate: bool = True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Sleep | None = None,
) -> ReplayStats:
    """Send every event of the JSON Lines file at ``path`` to ``sink``, paced by ``speed`` (0 = no pacing).

    The caller owns the sink: start it before and close it after. With ``validate`` every line is checked
    against the contract (an invalid one is reported, not sent); without it only JSON and ``ts`` are
    checked, and the sink's boundary deals with the rest. ``clock`` and ``sleep`` are injectable for tests.
    """
    if not (speed >= 0 and math.isfinite(speed)):
        raise ValueError(f"speed must be a finite number ≥ 0, got {speed}")
    replay = _Replay(sink, speed, stop, max(1, batch_size), validate, clock, sleep or _stoppable_sleep(stop))
    chunks = _line_chunks(Path(path))
    try:
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            if not await replay.feed(chunk):
                break
        await replay.flush()
    finally:
        # If cancelled while the worker thread is inside the generator, it cannot be closed from here;
        # the file is then closed when the generator is collected.
        with contextlib.suppress(ValueError):
            chunks.close()
    stats = replay.stats
    log.info(
        "replay finished",
        extra={"path": str(path), "lines": stats.lines, "sent": stats.sent, "invalid": stats.invalid},
    )
    if stats.invalid:
        shown = [f"line {bad.line}: {bad.reason}" for bad in stats.bad_lines[:20]]
        log.warning("replay skipped invalid lines", extra={"invalid": stats.invalid, "bad_lines": shown})
    return stats


class _Replay:
    """Decodes, paces and batches lines; keeps the stats."""

    def __init__(
        self,
        sink: EventSink,
        speed: float,
        stop: asyncio.Event | None,
        batch_size: int,
        validate: bool,
        clock: Callable[[], float],
        sleep: Sleep,
    ):
        self.stats = ReplayStats()
        self._sink, self._speed, self._stop, self._batch_size = sink, speed, stop, batch_size
        self._validate, self._clock, self._sleep = validate, clock, sleep
        self._origin: tuple[float, float] | None = None  # (first event time, clock when it was due)
        self._batch: list[RawEvent] = []

    async def feed(self, chunk: list[tuple[int, bytes]]) -> bool:
        """Replay some lines; false once ``stop`` is set."""
        for number, raw in chunk:
            if self._stopped():
                return False
            self.stats.lines += 1
            if not raw.strip():
                continue
            try:
                event, ts = _decode(raw.rstrip(b"\r\n"), self._validate)
            except ValueError as error:  # InvalidEvent and orjson.JSONDecodeError are ValueErrors
                self.stats.reject(number, _reason(error))
                continue
            if not await self._wait_until_due(ts):
                return False
            self._add(event)
            if len(self._batch) >= self._batch_size:
                await self.flush()
        return True

    async def flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            await self._sink.send(batch)
            self.stats.sent += len(batch)

    def _add(self, event: RawEvent) -> None:
        self._batch.append(event)
        self.stats.first_ts = self.stats.first_ts or event["ts"]
        self.stats.last_ts = event["ts"]

    async def _wait_until_due(self, ts: float) -> bool:
        """Hold the event back until its time has come; false if ``stop`` was set meanwhile."""
        if self._speed == 0:
            return True
        if self._origin is None:
            self._origin = (ts, self._clock())
            return True
        first_ts, started = self._origin
        due = started + (ts - first_ts) / self._speed
        if due - self._clock() >= _MIN_SLEEP:
            await self.flush()  # what is due goes out before the pause
            if (delay := due - self._clock()) > 0:
                await self._sleep(delay)
        return not self._stopped()

    def _stopped(self) -> bool:
        if self._stop is not None and self._stop.is_set():
            self.stats.stopped = True
        return self.stats.stopped


def _decode(raw: bytes, validate: bool) -> tuple[RawEvent, float]:
    """The event as JSON-ready data (exactly as in the file) and its event time in epoch seconds."""
    if validate:
        model = parse_event(raw)
        event: RawEvent = orjson.loads(raw)
        return event, model.ts.timestamp()
    decoded = orjson.loads(raw)
    if not isinstance(decoded, dict):
        raise ValueError("expected a JSON object")
    ts = decoded.get("ts")
    if not isinstance(ts, str):
        raise ValueError("ts: missing or not a string")
    try:
        return decoded, parse_ts(ts)
    except ValueError as error:
        raise ValueError(f"ts: {error}") from None


def _reason(error: ValueError) -> str:
    if isinstance(error, InvalidEvent):
        return error.reason
    if isinstance(error, orjson.JSONDecodeError):
        return f"malformed JSON: {error}"
    return str(error)


def _line_chunks(path: Path) -> Generator[list[tuple[int, bytes]]]:
    """Numbered lines in chunks; runs in a worker thread so file reads never block the event loop."""
    with path.open("rb") as lines:
        chunk: list[tuple[int, bytes]] = []
        for number, raw in enumerate(lines, start=1):
            chunk.append((number, raw))
            if len(chunk) == _CHUNK_LINES:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def _stoppable_sleep(stop: asyncio.Event | None) -> Sleep:
    async def sleep(seconds: float) -> None:
        if stop is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)

    return sleep
