"""The engine around the analytics core, shared by every way of running it (embedded, replay, the Spark job).

It owns the steps between reading an input and writing a record:

1. **validate and route** (:meth:`Engine.prepare`): an input becomes an *item*: a scored chat message, another
   valid event, or a dead letter. Pure and per input, so the Spark job runs it in its parallel read tasks.
2. **fold** (:meth:`Engine.fold`): one stream's items, in arrival order, into that stream's
   :class:`~telemetra.analytics.stream.StreamAnalytics`; the result is a :class:`Step` (dead letters, closed
   windows, moments, the stream's description and its provisional live window).
3. **emit** (:meth:`Engine.emit`): a step through the :class:`~telemetra.engine.ports.OutputPort`, in order,
   passing on stream descriptions when they change and live windows at the live cadence.

What it does not own is reading and state: the embedded engine reads the in-process bus and keeps each
stream's analytics in :attr:`Engine.streams` (:meth:`Engine.process`); the Spark job reads Kafka and keeps them in
its state store.

Items are plain tuples (``marshal``-able, they cross the Spark job's process boundary):

* ``(CHAT, ts, event_id, user_id, emotes, score)``: :func:`~telemetra.analytics.stream.chat_features`;
* ``(EVENT, event)``: another valid event, as the parsed :class:`~telemetra.contract.Event` or its JSON;
* ``(DEAD, letter)``: a :class:`~telemetra.records.DeadLetter` as a dict;
* ``(CONTROL, config)``: a pool's control record for the stream (:meth:`Engine.control`): its analytics config
  as JSON, which applies from there on, or None: the stream leaves, its windows close and it ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from telemetra.analytics.config import AnalyticsConfig, analytics_config_from_json, analytics_config_to_json
from telemetra.analytics.stream import Output, StreamAnalytics, chat_features, message_features
from telemetra.contract import ChatEvent, Event, InvalidEvent, ViewersEvent, parse_event, validate_event
from telemetra.contract.fastpath import parse_common
from telemetra.engine.ports import OutputPort
from telemetra.records import DeadLetter, Moment, StreamDescription, WindowMetrics

CHAT, EVENT, DEAD, CONTROL = 0, 1, 2, 3
Item = tuple[Any, ...]
Input = bytes | str | Mapping[str, Any] | None


@dataclass(slots=True)
class Step:
    """What folding some items produced, in the order :meth:`Engine.emit` writes it."""

    dead_letters: list[DeadLetter] = field(default_factory=list)
    windows: list[WindowMetrics] = field(default_factory=list)
    moments: list[Moment] = field(default_factory=list)
    descriptions: list[StreamDescription] = field(default_factory=list)  # of each stream that had events
    live: list[WindowMetrics] = field(default_factory=list)  # each such stream's open window (provisional)
    events: int = 0  # valid events folded in
    late_events: int = 0
    duplicates: int = 0
    touched: set[int] = field(default_factory=set)  # starts of the panes the events went to (if tracked)
    ended: list[str] = field(default_factory=list)  # streams that left (their state can be dropped)

    def extend(self, other: Step) -> None:
        self.dead_letters += other.dead_letters
        self.windows += other.windows
        self.moments += other.moments
        self.descriptions += other.descriptions
        self.live += other.live
        self.events += other.events
        self.late_events += other.late_events
        self.duplicates += other.duplicates
        self.touched |= other.touched
        self.ended += other.ended


@dataclass(slots=True)
class EngineStats:
    events: int = 0
    invalid: int = 0
    by_stream: dict[str, int] = field(default_factory=dict)


class Engine:
    """Validate, route, fold and emit for any number of streams, each with its own settings."""

    def __init__(
        self,
        config: AnalyticsConfig | None = None,
        config_for: Callable[[str], AnalyticsConfig | None] | None = None,
        *,
        live_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.config = config or AnalyticsConfig()
        self._config_for = config_for
        self.streams: dict[str, StreamAnalytics] = {}  # the embedded mode's state
        self.stats = EngineStats()
        self.live_every = live_every
        self._clock = clock
        self._next_live = -math.inf
        self._live: dict[str, WindowMetrics] = {}  # newest open window per stream, not yet published
        self._stored: set[str] = set()  # streams with a closed window written (so they can be described)
        self._described: dict[str, StreamDescription] = {}

    # -- validate and route ------------------------------------------------------------------------------
    def prepare(self, raw: Input, source: str, stream_id: str | None = None) -> Item:
        """One input as an item. ``stream_id`` is the stream the input was sent to, when the reader knows it
        (a topic's stream): an event of another stream is a dead letter there."""
        return self.route(raw, source, stream_id)[1]

    def route(self, raw: Input, source: str, stream_id: str | None) -> tuple[str | None, Item]:
        """The stream an input belongs to (for a dead letter: the one it was sent to, if known) and its item.
        A common event (:func:`~telemetra.contract.fastpath.parse_common`) skips the models; any other input,
        or one sent to another stream, goes through them (which also explain why it is rejected)."""
        common = parse_common(raw) if isinstance(raw, bytes) else None
        if isinstance(common, tuple) and (stream_id is None or common[0] == stream_id):
            return common[0], (CHAT, *message_features(*common[1:]))
        if isinstance(common, ViewersEvent) and (stream_id is None or common.stream_id == stream_id):
            return common.stream_id, (EVENT, common)
        try:
            if raw is None:
                raise _Rejected("empty record (no value)")
            event = validate_event(raw) if isinstance(raw, Mapping) else parse_event(raw)
            if stream_id is not None and event.stream_id != stream_id:
                raise _Rejected(
                    f"stream_id: {event.stream_id!r} is not the stream it was sent to ({stream_id!r})"
                )
        except (InvalidEvent, _Rejected) as error:
            sent_to = stream_id if stream_id is not None else _stream_of(raw)
            data = _json_bytes(raw) if isinstance(raw, Mapping) else raw
            return sent_to, (DEAD, DeadLetter.of(error.reason, data, source, sent_to).to_dict())
        if isinstance(event, ChatEvent):
            return event.stream_id, (CHAT, *chat_features(event))
        return event.stream_id, (EVENT, event)

    @staticmethod
    def control(value: bytes | None, source: str, stream_id: str) -> Item:
        """A control record as an item: a config (checked here, so a bad one is a dead letter, not a failed
        batch), or a tombstone."""
        if value is None:
            return (CONTROL, None)
        try:
            config = analytics_config_from_json(value)
        except ValueError as error:
            return (DEAD, DeadLetter.of(f"control record: {error}", value, source, stream_id).to_dict())
        return (CONTROL, analytics_config_to_json(config))

    def analytics(self, stream_id: str) -> StreamAnalytics:
        """A new stream's analytics, with its own settings when it has them."""
        custom = self._config_for(stream_id) if self._config_for else None
        return StreamAnalytics(stream_id, custom or self.config)

    # -- fold --------------------------------------------------------------------------------------------
    def fold(
        self,
        analytics: StreamAnalytics,
        items: Iterable[Item],
        step: Step | None = None,
        *,
        live: bool = True,
        track_panes: bool = False,
    ) -> Step:
        """Fold one stream's items (in arrival order) into its analytics; returns (or adds to) the step,
        with the stream's open window when ``live`` and the panes the events went to when ``track_panes``
        (state kept outside the process, like the Spark job's, rewrites only those)."""
        step = Step() if step is None else step
        out = Output()
        late, duplicates, events, ended = analytics.late_events, analytics.duplicates, 0, False
        panes = analytics.panes
        # An admitted event adds its id to its pane: the panes it went to are those whose ids grew.
        sizes = {start: len(pane.event_ids) for start, pane in panes.items()} if track_panes else None
        process, process_chat = analytics.process, analytics.process_chat
        for item in items:
            tag = item[0]
            if tag == CHAT:
                process_chat(item[1], item[2], item[3], item[4], item[5], out)
            elif tag == DEAD:
                step.dead_letters.append(DeadLetter.from_dict(item[1]))
                self.stats.invalid += 1
                continue
            elif tag == CONTROL:
                if item[1] is None:
                    ended = True  # after the rest of the items: they were sent before it
                else:
                    out.extend(analytics.reconfigure(analytics_config_from_json(item[1])))
                continue
            else:  # validated already: parsing its JSON again cannot fail
                process(_event_of(item[1]) if isinstance(item[1], bytes | str) else item[1], out)
            events += 1
        if sizes is not None:  # (a reconfiguration that starts the stream afresh replaces every pane)
            step.touched |= {
                start
                for start, pane in analytics.panes.items()
                if analytics.panes is not panes or sizes.get(start) != len(pane.event_ids)
            }
        if ended:
            out.extend(analytics.flush())
            step.ended.append(analytics.stream_id)
        step.windows += out.windows
        step.moments += out.moments
        step.events += events
        step.late_events += analytics.late_events - late
        step.duplicates += analytics.duplicates - duplicates
        if events and not ended:
            step.descriptions.append(describe(analytics))
            window = analytics.live_window() if live else None
            if window is not None:
                step.live.append(window)
        self.stats.events += events
        self.stats.by_stream[analytics.stream_id] = self.stats.by_stream.get(analytics.stream_id, 0) + events
        return step

    # -- the embedded mode's state -----------------------------------------------------------------------
    def process(self, inputs: Iterable[tuple[Input, str]], *, live: bool | None = None) -> Step:
        """Prepare ``(input, source)`` pairs, route them to :attr:`streams` and fold them in; with the open
        windows when ``live``, by default when the next live update is due."""
        live = self._clock() >= self._next_live if live is None else live
        by_stream: dict[str, list[Item]] = {}
        step = Step()
        for raw, source in inputs:
            stream_id, item = self.route(raw, source, None)
            if item[0] == DEAD:
                step.dead_letters.append(DeadLetter.from_dict(item[1]))
                self.stats.invalid += 1
            else:
                by_stream.setdefault(str(stream_id), []).append(item)
        for stream_id, items in by_stream.items():
            analytics = self.streams.get(stream_id)
            if analytics is None:
                analytics = self.streams[stream_id] = self.analytics(stream_id)
            self.fold(analytics, items, step, live=live)
        return step

    def flush(self) -> Step:
        """End of input (replay): close every window and end every episode."""
        step = Step()
        for analytics in self.streams.values():
            out = analytics.flush()
            step.windows += out.windows
            step.moments += out.moments
        return step

    @property
    def late_events(self) -> int:
        return sum(s.late_events for s in self.streams.values())

    # -- emit --------------------------------------------------------------------------------------------
    async def emit(self, step: Step, port: OutputPort) -> None:
        """Write a step through the port: dead letters, closed windows, moments, then descriptions that
        changed (a stream is stored with its first closed window, so it is described from then on) and, at
        most every ``live_every`` seconds, the newest open window of each stream that had events."""
        if step.dead_letters:
            await port.write_dead_letters(step.dead_letters)
        if step.windows:
            await port.write_windows(step.windows)
            self._stored.update(w.stream_id for w in step.windows)
        if step.moments:
            await port.write_moments(step.moments)
        for description in step.descriptions:
            stream_id = description.stream_id
            if stream_id not in self._stored or self._described.get(stream_id) == description:
                continue
            if await port.describe_stream(description):
                self._described[stream_id] = description
        self._live.update((w.stream_id, w) for w in step.live)
        now = self._clock()
        if self._live and now >= self._next_live:
            self._next_live = now + self.live_every
            live, self._live = list(self._live.values()), {}
            await port.publish_live(live)


class _Rejected(Exception):
    """An input that is valid or unreadable, but cannot be processed where it was read."""

    @property
    def reason(self) -> str:
        return str(self)


def describe(analytics: StreamAnalytics) -> StreamDescription:
    return StreamDescription(
        analytics.stream_id, analytics.title, analytics.category, analytics.window, analytics.slide
    )


def _event_of(raw: bytes | str) -> Event:
    """A validated event's model from its JSON (the Spark job ships events other than chat as JSON)."""
    common = parse_common(raw) if isinstance(raw, bytes) else None
    return common if isinstance(common, ViewersEvent) else parse_event(raw)


def _stream_of(raw: Input) -> str | None:
    """The ``stream_id`` an invalid input names, if it names one."""
    data: Any = raw
    if isinstance(raw, bytes | str):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
    value = data.get("stream_id") if isinstance(data, Mapping) else None
    return value if isinstance(value, str) else None


def _json_bytes(data: Mapping[str, Any]) -> bytes:
    try:
        return orjson.dumps(data)
    except TypeError:  # not JSON data (a bus carries whatever a producer put on it)
        return repr(dict(data)).encode()
