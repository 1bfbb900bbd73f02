"""JSON Lines file sink: one event per line, the format ``telemetra ingest replay`` and ``telemetra process`` read."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import orjson

from telemetra.sinks.base import RawEvent, SinkStats


class FileSink:
    def __init__(self, path: Path | str, *, append: bool = False):
        self.path = Path(path)
        self.append = append
        self.stats = SinkStats()
        self._file: IO[bytes] | None = None

    @classmethod
    def from_url(cls, url: str) -> FileSink:
        """``file://events.jsonl`` (relative) or ``file:///tmp/events.jsonl`` (absolute)."""
        return cls(url.removeprefix("file://"))

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab" if self.append else "wb", buffering=1 << 20)

    async def send(self, events: Sequence[RawEvent]) -> None:
        if self._file is None:
            raise RuntimeError("FileSink.send() before start()")
        self._file.write(b"".join(orjson.dumps(event) + b"\n" for event in events))
        self.stats.sent += len(events)
        await asyncio.sleep(0)  # let other tasks run between batches

    async def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
