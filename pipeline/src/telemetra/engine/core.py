"""The engine shell shared by every way of running the analytics core: validate, route by stream, collect."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from telemetra.analytics.config import AnalyticsConfig
from telemetra.analytics.stream import Output, StreamAnalytics
from telemetra.contract import Event, InvalidEvent, parse_event, validate_event


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An input that broke the contract, kept with its reason so nothing is lost silently."""

    reason: str
    raw: str
    source: str = ""  # where it came from, e.g. "events.jsonl:17"

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "source": self.source, "raw": self.raw}


@dataclass(slots=True)
class EngineStats:
    events: int = 0
    invalid: int = 0
    by_stream: dict[str, int] = field(default_factory=dict)


class Engine:
    """Many streams at once, each with its own watermark, baselines and (optionally) its own settings."""

    def __init__(
        self,
        config: AnalyticsConfig | None = None,
        config_for: Callable[[str], AnalyticsConfig | None] | None = None,
        keep_dead_letters: int | None = 1000,
    ):
        self.config = config or AnalyticsConfig()
        self._config_for = config_for
        self.streams: dict[str, StreamAnalytics] = {}
        self.stats = EngineStats()
        # A long-running engine keeps the latest dead letters (all are counted in stats.invalid); replay keeps all.
        self.dead_letters: deque[DeadLetter] = deque(maxlen=keep_dead_letters)

    def stream(self, stream_id: str) -> StreamAnalytics:
        analytics = self.streams.get(stream_id)
        if analytics is None:
            custom = self._config_for(stream_id) if self._config_for else None
            analytics = self.streams[stream_id] = StreamAnalytics(stream_id, custom or self.config)
        return analytics

    def process(self, event: Event) -> Output:
        self.stats.events += 1
        self.stats.by_stream[event.stream_id] = self.stats.by_stream.get(event.stream_id, 0) + 1
        return self.stream(event.stream_id).process(event)

    def process_raw(self, raw: bytes | str | Mapping[str, Any], source: str = "") -> Output:
        """Validate then process; an invalid input becomes a dead letter and an empty output."""
        try:
            event = validate_event(raw) if isinstance(raw, Mapping) else parse_event(raw)
        except InvalidEvent as error:
            self.stats.invalid += 1
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            self.dead_letters.append(DeadLetter(error.reason, text.rstrip("\n")[:2000], source))
            return Output()
        return self.process(event)

    def flush(self) -> Output:
        out = Output()
        for analytics in self.streams.values():
            out.extend(analytics.flush())
        return out

    @property
    def late_events(self) -> int:
        return sum(s.late_events for s in self.streams.values())
