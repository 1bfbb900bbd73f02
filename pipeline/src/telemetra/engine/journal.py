"""The embedded engine's write-ahead journal of the bus: what it read recently, so a restart after a crash
rebuilds the windows that were open instead of storing them later with only the events that came after.

The embedded engine keeps its state in memory, and only closed windows are stored; without the journal a crash
loses the open windows' events, and those windows are later stored as final with part of their traffic. With
it, each batch is appended (one line per input: ``[bus position, input]``) before it is processed, and on start
the engine replays the journal before reading the bus:

* the analytics (open panes, baselines, episodes) are rebuilt from the journal, so the windows open at the
  crash close with every event, before and after it;
* what the replay emits again is upserted by its natural key, so the records already stored are rewritten as
  they were, and dead letters keep their bus position (hence their id);
* the journal only reaches back ``keep_seconds``: records that may lack events from before its first entry
  (windows starting within the allowed lateness of it, moments whose baseline it does not cover) are not
  emitted by the replay; they were stored before the crash.

Segments are rotated every ``segment_seconds`` of wall time and deleted once older than ``keep_seconds``. A
process crash loses nothing already written (lines are flushed per batch); a torn last line is skipped.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

log = logging.getLogger("telemetra.engine.journal")


@dataclass(frozen=True, slots=True)
class Entry:
    position: int  # on the bus, 1-based and increasing across restarts
    raw: Any


class Journal:
    def __init__(
        self,
        directory: Path,
        *,
        keep_seconds: float = 900.0,
        segment_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ):
        self.directory = directory
        self.keep_seconds = keep_seconds
        self.segment_seconds = segment_seconds
        self._clock = clock
        self._file: IO[bytes] | None = None
        self._opened_at = 0.0
        directory.mkdir(parents=True, exist_ok=True)

    def segments(self) -> list[Path]:
        """Oldest first (named by their opening time in epoch ms)."""
        return sorted(self.directory.glob("*.jsonl"), key=lambda p: int(p.stem))

    # -- reading -----------------------------------------------------------------------------------------
    def replay(self) -> Iterator[list[Entry]]:
        """The retained entries, one list per segment, in the order they were read from the bus."""
        for segment in self.segments():
            entries = []
            with segment.open("rb") as lines:
                for number, line in enumerate(lines, 1):
                    try:
                        position, raw = orjson.loads(line)
                    except (orjson.JSONDecodeError, ValueError, TypeError):
                        log.warning("journal line skipped", extra={"segment": segment.name, "line": number})
                        continue  # a line torn by the crash (only ever the last one)
                    entries.append(Entry(int(position), raw))
            yield entries

    # -- writing -----------------------------------------------------------------------------------------
    def append(self, entries: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        """Record ``(position, input)`` pairs before they are processed; written through to the OS."""
        now = self._clock()
        if self._file is None or now - self._opened_at >= self.segment_seconds:
            self._rotate(now)
        assert self._file is not None
        self._file.write(b"".join(orjson.dumps([p, raw], default=repr) + b"\n" for p, raw in entries))
        self._file.flush()

    def _rotate(self, now: float) -> None:
        self.close()
        self._file = (self.directory / f"{int(now * 1000)}.jsonl").open("ab")
        self._opened_at = now
        for segment in self.segments()[:-1]:
            # a segment holds what was read from its opening until the next one's: drop it once that is old
            if now - self._next_opening(segment) / 1000 > self.keep_seconds:
                segment.unlink(missing_ok=True)

    def _next_opening(self, segment: Path) -> int:
        later = [int(p.stem) for p in self.segments() if int(p.stem) > int(segment.stem)]
        return min(later) if later else int(self._clock() * 1000)

    def close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()
