"""JSON Lines file sink: one event per line, the format ``telemetra ingest replay`` and ``telemetra process`` read.

Durable by default. An ingester is stopped by signals and sometimes killed, and whatever it holds in memory then
is lost: so what is sent is written to the file (the OS's page cache, which outlives the process) at least every
``flush_interval`` seconds, at once when ``max_buffer`` bytes are waiting, and on close; and each timed write is
followed by an ``fsync`` so a crash of the machine loses no more. An existing file is appended to unless
``append=False``, since a restarted ingester must not erase what it wrote before.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

import orjson

from telemetra.sinks.base import RawEvent, SinkStats


class FileSink:
    def __init__(
        self,
        path: Path | str,
        *,
        append: bool = True,
        flush_interval: float = 1.0,
        max_buffer: int = 1 << 18,
        fsync: bool = True,
    ):
        if flush_interval <= 0 or max_buffer < 1:
            raise ValueError("flush_interval > 0 and max_buffer ≥ 1 are required")
        self.path = Path(path)
        self.append, self.flush_interval, self.max_buffer, self.fsync = (
            append,
            flush_interval,
            max_buffer,
            fsync,
        )
        self.stats = SinkStats()
        self._fd: int | None = None
        self._buffer = bytearray()
        self._pending = 0  # events in the buffer
        self._closing = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._failure: OSError | None = None

    @classmethod
    def from_url(cls, url: str, *, overwrite: bool = False) -> FileSink:
        """``file://events.jsonl`` (relative) or ``file:///tmp/events.jsonl`` (absolute); refuses a path that
        cannot be a file before anything is opened."""
        path = Path(url.removeprefix("file://"))
        if not str(path) or str(path) == ".":
            raise ValueError(f"sink {url!r} names no file (expected file://PATH)")
        if path.is_dir():
            raise ValueError(f"sink {url!r}: {path} is a directory, not a file")
        existing = next((parent for parent in path.parents if parent.exists()), Path("."))
        if not existing.is_dir():
            raise ValueError(f"sink {url!r}: {existing} is not a directory")
        return cls(path, append=not overwrite)

    async def start(self) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mode = os.O_RDWR | os.O_CREAT | os.O_APPEND | (0 if self.append else os.O_TRUNC)
        self._fd = os.open(self.path, mode, 0o644)
        self._end_torn_line()
        self._closing.clear()
        self._flusher = asyncio.create_task(self._flush_periodically(), name=f"file-sink:{self.path}")

    async def send(self, events: Sequence[RawEvent]) -> None:
        if self._failure is not None:
            raise self._failure
        if self._fd is None:
            raise RuntimeError("FileSink.send() before start()")
        self._buffer += b"".join(orjson.dumps(event) + b"\n" for event in events)
        self._pending += len(events)
        if len(self._buffer) >= self.max_buffer:
            self._write()
        await asyncio.sleep(0)  # let other tasks run between batches

    async def close(self) -> None:
        """Write what is buffered, sync it to disk, close the file; raise if a write failed."""
        if self._flusher is not None:
            self._closing.set()
            with contextlib.suppress(OSError):  # kept in ``_failure``
                await self._flusher
            self._flusher = None
        if self._fd is not None:
            try:
                self._write()
                if self.fsync:
                    os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None
        if self._failure is not None:
            raise self._failure

    def _end_torn_line(self) -> None:
        """An earlier writer killed in the middle of a line left no newline at the end: end that line, so the
        torn fragment stays one invalid line instead of spoiling the first event written now."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size and os.pread(self._fd, 1, size - 1) != b"\n":
            os.write(self._fd, b"\n")

    async def _flush_periodically(self) -> None:
        """Write the buffer twice per ``flush_interval`` (so nothing waits longer than that) and sync it."""
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.flush_interval / 2)
            if self._closing.is_set() or not self._buffer:
                continue
            self._write()
            if self.fsync and self._fd is not None:
                await asyncio.to_thread(os.fsync, self._fd)

    def _write(self) -> None:
        """Hand the whole buffer to the OS; on failure keep the error for ``send`` and ``close`` to raise."""
        if self._fd is None or not self._buffer:
            return
        data, written = bytes(self._buffer), 0
        try:
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except OSError as error:
            self.stats.fail(f"{type(error).__name__}: {error.strerror}", self._pending)
            self._failure = error
            raise
        self.stats.sent += self._pending
        self._buffer.clear()
        self._pending = 0
