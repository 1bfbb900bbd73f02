"""One stream's analytics: event time → panes → closed windows and moments, behind a watermark.

The watermark trails the newest event time seen by the allowed lateness. An event older than the watermark is
late: it is dropped and counted (it could only belong to windows that are already closed). A window closes, and
is emitted exactly once, when the watermark passes its end. Everything here is pure: no clocks, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from telemetra.analytics.config import AnalyticsConfig
from telemetra.analytics.emotes import recognise_emotes
from telemetra.analytics.moments import MomentDetector
from telemetra.analytics.panes import Pane
from telemetra.analytics.revenue import revenue_usd
from telemetra.analytics.sentiment import classify, score
from telemetra.analytics.vod import place
from telemetra.analytics.windows import merge_panes, pane_start
from telemetra.contract import ChatEvent, Event, StreamMetaEvent, TransactionEvent, ViewersEvent
from telemetra.records import Moment, WindowMetrics


@dataclass(slots=True)
class Output:
    """What one step produced: windows that closed and moment records (new or updated)."""

    windows: list[WindowMetrics] = field(default_factory=list)
    moments: list[Moment] = field(default_factory=list)

    def extend(self, other: Output) -> None:
        self.windows += other.windows
        self.moments += other.moments


ChatFeatures = tuple[float, str, str, list[str], float]


def chat_features(event: ChatEvent) -> ChatFeatures:
    """What the analytics keep of a chat message: event time, event id, user id, emotes and sentiment score.
    Pure and per message, so the Spark job computes it in parallel ahead of the stateful step."""
    return message_features(event.ts.timestamp(), event.event_id, event.user_id, event.text, event.emotes)


def message_features(
    ts: float, event_id: str, user_id: str, text: str, emotes: list[str] | None
) -> ChatFeatures:
    """:func:`chat_features` from a chat message's fields (the contract's fast path gives those, no model)."""
    emotes = emotes if emotes is not None else recognise_emotes(text)
    return ts, event_id, user_id, emotes, score(text, emotes)


class StreamAnalytics:
    # Where moments are placed in the broadcast (analytics.vod). Class defaults: state stored before these
    # existed (the Spark job pickles this object) reads as not known yet.
    origin: float | None = None  # the stream's start: its stream_meta start event, else its first event
    vod_id: str | None = None  # the broadcast's Twitch video id (stream_meta vod_id)

    def __init__(self, stream_id: str, config: AnalyticsConfig | None = None):
        self.stream_id = stream_id
        self.max_ts = -math.inf
        self.late_events = 0  # total dropped as late
        self.duplicates = 0  # total dropped as already seen
        self.title: str | None = None  # the broadcast's latest title and category (stream_meta events)
        self.category: str | None = None
        self._start(config or AnalyticsConfig())

    def _start(self, config: AnalyticsConfig) -> None:
        """Empty windows and baselines under ``config``."""
        self.config = config
        self.window, self.slide = config.window, config.slide
        self.panes: dict[int, Pane] = {}
        self.detector = MomentDetector(self.stream_id, config)
        self._late_unreported = 0  # dropped since the last closed window was emitted
        self._next_pane_to_close: int | None = None  # panes before it were handed to the detector
        self._next_window: int | None = None  # start of the oldest window not yet emitted
        self._advanced_to: float = -math.inf  # pane holding the watermark at the last advance

    def restored(self) -> bool:
        """After loading stored state: a moment detector stored by another version of it is replaced by a
        fresh one (its baselines warm up again; windows and panes are kept). True if it was replaced."""
        if getattr(self.detector, "version", None) == MomentDetector.STATE_VERSION:
            return False
        self.detector = MomentDetector(self.stream_id, self.config)
        return True

    @property
    def watermark(self) -> float:
        return self.max_ts - self.config.lateness

    # -- input -------------------------------------------------------------------------------------------
    def process(self, event: Event, out: Output | None = None) -> Output:
        """Fold one event in; returns what it closed or detected (added to ``out`` when given)."""
        out = Output() if out is None else out
        if isinstance(event, ChatEvent):
            return self.process_chat(*chat_features(event), out=out)
        ts = event.ts.timestamp()
        pane = self._admit(ts, event.event_id)
        if pane is not None:
            self._after(ts, pane, self._apply(event, ts, pane, out), out)
        return out

    def process_chat(
        self,
        ts: float,
        event_id: str,
        user_id: str,
        emotes: list[str],
        value: float,
        out: Output | None = None,
    ) -> Output:
        """A chat message given by its :func:`chat_features` (what :meth:`process` does with a ChatEvent)."""
        out = Output() if out is None else out
        pane = self._admit(ts, event_id)
        if pane is not None:
            pane.add_chat(user_id, emotes, value, classify(value))
            self._after(ts, pane, "chat", out)
        return out

    def _admit(self, ts: float, event_id: str) -> Pane | None:
        """The open pane the event goes to, or None (counted) when it is late or a duplicate."""
        # This and _after run for every event: the watermark and pane_start are inlined.
        if ts < self.max_ts - self.config.lateness:
            self.late_events += 1
            self._late_unreported += 1
            return None
        slide = self.slide
        start = int(ts // slide) * slide
        pane = self.panes.get(start)
        if pane is None:
            pane = self.panes[start] = Pane(start)
            if self.origin is None:  # (a new pane is rare: the first event's check costs nothing per event)
                self.origin = ts
            if self._next_window is None or start - self.window + self.slide < self._next_window:
                self._next_window = start - self.window + self.slide
        elif event_id in pane.event_ids:
            self.duplicates += 1
            return None
        pane.event_ids.add(event_id)
        return pane

    def _after(self, ts: float, pane: Pane, metric: str | None, out: Output) -> None:
        """Advance the watermark past ``ts`` and peek at the event's pane for an early moment."""
        if ts > self.max_ts:
            self.max_ts = ts
            slide = self.slide
            if (
                int((ts - self.config.lateness) // slide) * slide != self._advanced_to
            ):  # a pane boundary passed
                out.extend(self._placed(self._advance()))
        if metric:  # the event's pane is still open (ts >= watermark): peek for an early moment
            moments = self.detector.peek(pane, self.max_ts, metric)
            if moments:
                out.moments += [place(m, self.origin, self.vod_id) for m in moments]

    def _apply(self, event: Event, ts: float, pane: Pane, out: Output) -> str | None:
        """Fold a non-chat event into its pane; return the metric it moved, if one can signal a moment early."""
        if isinstance(event, ViewersEvent):
            pane.add_viewers(ts, event.event_id, event.viewers)
            return "viewers"
        if isinstance(event, TransactionEvent):
            usd = revenue_usd(event.kind, event.amount, event.currency, event.tier, event.count, event.months)
            bits = round(event.amount) if event.kind == "bits" else 0
            pane.add_transaction(event.kind, usd, event.count, bits)
            return "revenue"
        if isinstance(event, StreamMetaEvent):
            self.title = event.title or self.title
            self.category = event.category or self.category
            if event.kind == "start":  # a new broadcast: its own start, and its own VOD
                self.origin, self.vod_id = ts, event.vod_id
            elif event.vod_id:
                self.vod_id = event.vod_id
        if isinstance(event, StreamMetaEvent) and event.kind == "raid":
            assert event.from_stream is not None
            assert event.raid_viewers is not None
            out.moments.append(
                place(
                    self.detector.on_raid(ts, event.from_stream, event.raid_viewers), self.origin, self.vod_id
                )
            )
        return None

    # -- closing -----------------------------------------------------------------------------------------
    def _advance(self, watermark: float | None = None) -> Output:
        """Hand closed panes to the detector and emit closed windows, oldest first."""
        watermark = self.watermark if watermark is None else watermark
        self._advanced_to = pane_start(watermark, self.slide) if math.isfinite(watermark) else watermark
        out = Output()
        for start in sorted(s for s in self.panes if s + self.slide <= watermark):
            if self._next_pane_to_close is None or start >= self._next_pane_to_close:
                out.moments += self.detector.on_pane_closed(self.panes[start], self.max_ts)
                self._next_pane_to_close = start + self.slide
        while self._next_window is not None and self._next_window + self.window <= watermark:
            window = self._close_window(self._next_window)
            if window is not None:
                out.windows.append(window)
            self._next_window = self._next_oldest_window()
        return out

    def _close_window(self, start: int) -> WindowMetrics | None:
        panes = [p for s in range(start, start + self.window, self.slide) if (p := self.panes.get(s))]
        self.panes.pop(start, None)  # the last window that needed this pane is closing
        if not panes:
            return None
        late, self._late_unreported = self._late_unreported, 0
        return merge_panes(
            self.stream_id, start, self.window, panes, top=self.config.top_emotes, late_events=late
        )

    def _next_oldest_window(self) -> int | None:
        if not self.panes:
            return None
        assert self._next_window is not None
        return max(self._next_window + self.slide, min(self.panes) - self.window + self.slide)

    def reconfigure(self, config: AnalyticsConfig) -> Output:
        """Take new settings while running. Thresholds and the top-emote count apply from the next pane and
        window on. Windows, lateness and baselines built with another geometry cannot continue under a new
        one: those are closed as at the end of input (the returned output) and the stream starts afresh,
        its watermark kept, so what was late stays late."""
        if config == self.config:
            return Output()
        old = self.config
        shape = ("window", "slide", "lateness")
        sizes = ("baseline_panes", "warmup_panes", "sentiment_span")
        if all(getattr(old, f) == getattr(config, f) for f in shape) and all(
            getattr(old.thresholds, f) == getattr(config.thresholds, f) for f in sizes
        ):
            self.config = config
            self.detector.t = config.thresholds
            return Output()
        out = self.flush()
        self._start(config)
        return out

    def flush(self) -> Output:
        """End of input: close every window and end every episode."""
        out = self._advance(watermark=math.inf)
        out.moments += self.detector.close_all()
        return self._placed(out)

    def _placed(self, out: Output) -> Output:
        """``out`` with its moments placed in the broadcast (offset, VOD link)."""
        if out.moments:
            out.moments = [place(m, self.origin, self.vod_id) for m in out.moments]
        return out

    # -- live view ---------------------------------------------------------------------------------------
    def live_window(self) -> WindowMetrics | None:
        """The still-open window ending at the next slide boundary after the newest event (provisional)."""
        if not self.panes:
            return None
        end = pane_start(self.max_ts, self.slide) + self.slide
        panes = [p for s in range(end - self.window, end, self.slide) if (p := self.panes.get(s))]
        if not panes:
            return None
        return merge_panes(
            self.stream_id, end - self.window, self.window, panes, top=self.config.top_emotes, final=False
        )
