"""Moments: anomalies against a robust, per-stream baseline, reported once per episode.

Each kind watches one metric of the closed panes (10 s, non-overlapping). Its baseline is the median and MAD of
that metric over the last ``baseline_panes`` panes, lagged so that a pane's baseline never depends on panes that
could still be open; no moment is reported before ``warmup_panes`` panes of history. An episode starts on a pane
that crosses the start threshold, continues while panes stay above half of it, and ends after ``quiet_panes``
normal panes: one record per episode, with a deterministic id, re-emitted as it grows (upsert by id).

Metrics that can only grow while a pane is open (message count, revenue, highest and lowest viewer sample) are
also checked on the open pane (``peek``), so an obvious spike is reported seconds after it starts rather than
when its pane closes; the later evaluation of the closed pane confirms it with the same baseline.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections import deque
from dataclasses import dataclass, field, replace

from telemetra.analytics.config import AnalyticsConfig
from telemetra.analytics.panes import Pane
from telemetra.records import Moment, format_ts

MAD_TO_SIGMA = 1.4826
RECENT_MESSAGES = 100  # messages the recent panes must hold before their level counts
KINDS = ("chat_spike", "viewer_surge", "viewer_drop", "sentiment_swing", "revenue_spike", "raid")


def moment_id(stream_id: str, kind: str, start: float) -> str:
    return hashlib.sha256(f"{stream_id}|{kind}|{start:.3f}".encode()).hexdigest()[:24]


class Baseline:
    """Median, mean and MAD of the most recent values; computed once per change, read on every event."""

    def __init__(self, size: int):
        self.values: deque[float] = deque(maxlen=size)
        self._stats: tuple[float, float, float] | None = None  # median, mean, MAD
        self._level: float | None = None

    def __len__(self) -> int:
        return len(self.values)

    def add(self, value: float) -> None:
        self.values.append(value)
        self._stats = self._level = None

    def _computed(self) -> tuple[float, float, float]:
        if self._stats is None:
            median = statistics.median(self.values)
            mad = statistics.median(abs(v - median) for v in self.values)
            self._stats = (median, statistics.fmean(self.values), mad)
        return self._stats

    def median(self) -> float:
        return self._computed()[0]

    def level(self, recent: int, enough: float) -> float:
        """The lower of the median and the median of the ``recent`` newest values, when those add up to
        ``enough`` (fewer are too noisy to tell a quiet spell from chance): a spike is judged against where
        the metric is now when it has drifted below its usual level (3× a quiet spell is a spike)."""
        if self._level is None:
            median, newest = self._computed()[0], list(self.values)[-recent:]
            if newest and sum(newest) >= enough:
                median = min(median, statistics.median(newest))
            self._level = median
        return self._level

    def mean(self) -> float:
        return self._computed()[1]

    def spread(self, floor: float) -> float:
        return max(MAD_TO_SIGMA * self._computed()[2], floor)


@dataclass(slots=True)
class _Check:
    """The verdict on one metric value against its baseline."""

    value: float
    baseline: float
    score: float
    threshold: float
    starts: bool  # crosses the start threshold
    holds: bool  # still anomalous enough to continue an episode


@dataclass(slots=True)
class _Episode:
    moment: Moment
    quiet: int = 0
    peak: float = field(default=0.0)


class MomentDetector:
    """Moment detection for one stream; feed it closed panes in order (and, optionally, peeks)."""

    def __init__(self, stream_id: str, config: AnalyticsConfig):
        self.stream_id = stream_id
        self.slide = config.slide
        self.t = config.thresholds
        # A pane's baseline holds panes that closed at least `gap` seconds before it starts: all of them are
        # closed by the time the pane receives its first event, so peeks and the final check agree.
        self.gap = (math.ceil(config.lateness / config.slide) + 1) * config.slide
        size = self.t.baseline_panes
        self.baselines = {
            name: Baseline(size) for name in ("chat", "chat20", "viewers", "sentiment", "revenue")
        }
        # Messages of the latest panes by start, open (as last peeked) or closed: the two-pane test needs the
        # pane before the one being checked, which is often still open (the watermark trails by a pane).
        self._counts: dict[int, int] = {}
        # Chat messages per second over the last 20 s of event time, [second, count], and their sum: the
        # start tests run on windows that end now rather than on pane boundaries, so a spike that starts in
        # the middle of a pane is judged on its own first 10-20 seconds.
        self._seconds: deque[list[int]] = deque()
        self._sum20 = 0
        self._ended: dict[str, tuple[Moment, int]] = {}  # kind → its last episode, and the pane it ended on
        self._pending: deque[tuple[int, dict[str, float]]] = deque()  # closed, not yet admitted to baselines
        # The closed panes' (messages, Σ sentiment nanos), newest last: a closed pane no longer changes, and
        # keeping its numbers rather than the pane lets the detector be stored without the panes.
        self._recent: deque[tuple[int, int]] = deque(maxlen=self.t.sentiment_span)
        self._admitted_viewers: float | None = None
        self.episodes: dict[str, _Episode] = {}
        self._shadows: dict[str, float] = {}  # kind → until when new episodes of it are explained by another
        self._limits_pane: int | None = None
        self._limits: dict[str, float] = {}

    # -- baselines ---------------------------------------------------------------------------------------
    def _admit(self, pane_start: int) -> None:
        while self._pending and self._pending[0][0] <= pane_start - self.gap:
            _, values = self._pending.popleft()
            for name, value in values.items():
                self.baselines[name].add(value)
            if "viewers" in values:
                self._admitted_viewers = values["viewers"]

    def _warm(self, name: str) -> bool:
        return len(self.baselines[name]) >= self.t.warmup_panes

    # -- per-metric checks -------------------------------------------------------------------------------
    def _chat(self, messages: int, previous: int | None, recent: tuple[int, float] | None = None) -> _Check | None:
        """A pane's chat against the channel's own level and dispersion, on two time scales: the pane alone
        (an instant jump, far above the channel's pane-to-pane spread), or the pane with the one before it
        (20 s: an ordinary burst of chat fades within seconds, a moment holds; the spread of 20-s rates is
        learned as well, so a burstier channel needs more)."""
        if not self._warm("chat"):
            return None
        scale = 1.0
        viewer_base = self.baselines["viewers"]
        if self._admitted_viewers and len(viewer_base) and viewer_base.median() > 0:
            scale = max(1.0, self._admitted_viewers / viewer_base.median())  # chat follows viewers
        c = self.t.chat_spike
        chat = self.baselines["chat"]
        # an episode goes on while its pane alone stays above half the way to the (sustained) threshold
        holds = self._chat_test(chat, scale, messages, 1, c.ratio, c.z).holds
        instant = replace(self._chat_test(chat, scale, messages, 1, c.instant_ratio, c.instant_z), holds=holds)
        if previous is None or not self._warm("chat20"):
            return instant
        sustained = self._chat_test(self.baselines["chat20"], scale, messages + previous, 2, c.ratio, c.z)
        if instant.starts and not sustained.starts:
            return instant
        # still going: the newest seconds (the pane itself, when it closes) are above the ratio too, where a
        # burst has faded by the time its 20 s add up
        count, seconds = recent if recent is not None else (messages, float(self.slide))
        going = count / seconds >= c.ratio * sustained.baseline
        return replace(sustained, value=messages / self.slide, starts=sustained.starts and going, holds=holds)

    def _chat_test(
        self, base: Baseline, scale: float, messages: int, panes: int, ratio: float, z: float
    ) -> _Check:
        span = panes * self.slide
        median = base.level(self.t.chat_spike.recent_panes, RECENT_MESSAGES / span) * scale
        rate = messages / span
        spread = base.spread(floor=math.sqrt(max(median, 0.1) * span) / span)  # Poisson noise
        threshold = max(ratio * median, median + z * spread)
        score = (rate - median) / spread
        holds = rate >= median + (threshold - median) / 2
        starts = rate >= threshold and messages >= self.t.chat_spike.min_messages
        return _Check(rate, median, score, threshold, starts, holds)

    def _viewers(self, value: float, surge: bool) -> _Check | None:
        if not self._warm("viewers"):
            return None
        base = self.baselines["viewers"]
        median = base.median()
        spread = base.spread(floor=max(1.0, 0.01 * median))
        rule = self.t.viewer_surge if surge else self.t.viewer_drop
        if surge:
            threshold = max(rule.ratio * median, median + rule.z * spread)
            starts, holds = value >= threshold, value >= (median + threshold) / 2
        else:
            threshold = min(rule.ratio * median, median - rule.z * spread)
            starts, holds = value <= threshold, value <= (median + threshold) / 2
        return _Check(value, median, (value - median) / spread, threshold, starts, holds)

    def _revenue(self, usd: float, largest_gift: int) -> _Check | None:
        if not self._warm("revenue"):
            return None
        mean = self.baselines["revenue"].mean()
        r = self.t.revenue_spike
        threshold = max(r.ratio * mean, r.min_usd)
        score = usd / mean if mean > 0 else usd / r.min_usd
        starts = usd >= threshold or largest_gift >= r.gift_bomb
        return _Check(usd, mean, score, threshold, starts, usd >= threshold / 2)

    def _sentiment(self, value: float) -> _Check | None:
        if not self._warm("sentiment"):
            return None
        base = self.baselines["sentiment"]
        median = base.median()
        spread = base.spread(floor=0.02)
        s = self.t.sentiment_swing
        distance = abs(value - median)
        score = (value - median) / spread
        threshold = median + math.copysign(max(s.delta, s.z * spread), value - median)
        return _Check(
            value, median, score, threshold, distance >= max(s.delta, s.z * spread), distance >= s.delta / 2
        )

    def _trailing_sentiment(self) -> float | None:
        """Mean score over the shortest run of recent panes holding enough messages."""
        messages = nanos = 0
        for pane_messages, pane_nanos in reversed(self._recent):
            messages += pane_messages
            nanos += pane_nanos
            if messages >= self.t.sentiment_swing.min_messages:
                return nanos / 1e9 / messages
        return None

    # -- episodes ----------------------------------------------------------------------------------------
    def _start(self, kind: str, metric: str, pane_start: int, check: _Check, now: float) -> Moment | None:
        if pane_start < self._shadows.get(kind, -math.inf):
            return None
        ended = self._ended.pop(kind, None)
        if ended is not None and pane_start - ended[1] <= self.t.merge_seconds:
            # the same episode after a dip: it goes on (same id), rather than a second moment
            moment = replace(ended[0], end=format_ts(pane_start + self.slide), ongoing=True)
            self.episodes[kind] = _Episode(moment, peak=abs(ended[0].score))
            return moment
        moment = Moment(
            moment_id=moment_id(self.stream_id, kind, pane_start),
            stream_id=self.stream_id,
            kind=kind,
            start=format_ts(pane_start),
            end=format_ts(pane_start + self.slide),
            metric=metric,
            value=round(check.value, 6),
            baseline=round(check.baseline, 6),
            score=round(check.score, 3),
            threshold=round(check.threshold, 6),
            description=describe(kind, check.value, check.baseline),
            peak_at=format_ts(pane_start),
            detected_at=format_ts(now),
            ongoing=True,
        )
        self.episodes[kind] = _Episode(moment, peak=abs(check.score))
        if kind == "viewer_surge":
            self._shadows["chat_spike"] = pane_start + 60.0
        return moment

    def _extend(self, kind: str, pane_start: int, check: _Check | None) -> Moment | None:
        episode = self.episodes[kind]
        if check is not None and check.holds:
            episode.quiet = 0
            moment = replace(episode.moment, end=format_ts(pane_start + self.slide))
            if abs(check.score) > episode.peak:
                episode.peak = abs(check.score)
                moment = replace(
                    moment,
                    value=round(check.value, 6),
                    score=round(check.score, 3),
                    peak_at=format_ts(pane_start),
                    description=describe(kind, check.value, episode.moment.baseline),
                )
            episode.moment = moment
            return moment
        episode.quiet += 1
        if episode.quiet >= self.t.quiet_panes:
            del self.episodes[kind]
            ended = replace(episode.moment, ongoing=False)
            self._ended[kind] = (ended, pane_start)
            return ended
        return None

    def _step(
        self, kind: str, metric: str, pane_start: int, check: _Check | None, now: float
    ) -> Moment | None:
        if kind in self.episodes:
            return self._extend(kind, pane_start, check)
        if check is not None and check.starts:
            return self._start(kind, metric, pane_start, check, now)
        return None

    # -- inputs ------------------------------------------------------------------------------------------
    def on_pane_closed(self, pane: Pane, now: float) -> list[Moment]:
        """Evaluate a closed pane (in time order) and fold it into the baselines; ``now`` is the event time."""
        self._admit(pane.start)
        self._recent.append((pane.messages, pane.sentiment_nanos))
        previous = self._counts.get(pane.start - self.slide)
        self._counts = {start: n for start, n in self._counts.items() if start > pane.start}
        self._counts[pane.start] = pane.messages
        sentiment = self._trailing_sentiment()
        checks: list[tuple[str, str, _Check | None]] = [
            ("chat_spike", "chat_rate", self._chat(pane.messages, previous)),
            ("revenue_spike", "revenue_usd", self._revenue(pane.revenue_usd, pane.largest_gift)),
            ("sentiment_swing", "sentiment", None if sentiment is None else self._sentiment(sentiment)),
        ]
        if pane.viewers_max is not None and pane.viewers_min is not None:
            checks.append(("viewer_surge", "viewers", self._viewers(pane.viewers_max, surge=True)))
            checks.append(("viewer_drop", "viewers", self._viewers(pane.viewers_min, surge=False)))
        moments = [
            m for kind, metric, check in checks if (m := self._step(kind, metric, pane.start, check, now))
        ]
        values = {"chat": pane.messages / self.slide, "revenue": pane.revenue_usd}
        if previous is not None:
            values["chat20"] = (pane.messages + previous) / (2 * self.slide)
        if pane.viewers_last is not None:
            values["viewers"] = pane.viewers_last[2]
        if sentiment is not None:
            values["sentiment"] = sentiment
        self._pending.append((pane.start, values))
        return moments

    def peek(self, pane: Pane, now: float, metric: str) -> list[Moment]:
        """Early check of the open pane after an event that moved ``metric`` ("chat", "revenue" or
        "viewers"). Only metrics that can only grow while a pane is open are peeked, so an early start is
        always confirmed when the pane closes; peeks start episodes, they never extend or end them."""
        if self._limits_pane != pane.start:
            self._admit(pane.start)
            self._limits_pane, self._limits = pane.start, self._thresholds()
        if metric == "chat":
            self._counts[pane.start] = pane.messages
            if self._count_second(int(now)) < self._limits["chat_spike"]:
                return []  # the common case, after nearly every chat message: nothing to check
        candidates: list[tuple[str, str, _Check | None]] = []
        if metric == "chat":
            last10 = sum(n for second, n in self._seconds if second > now - self.slide)
            last5 = sum(n for second, n in self._seconds if second > now - self.slide / 2)
            recent = (last5, self.slide / 2)
            candidates.append(("chat_spike", "chat_rate", self._chat(last10, self._sum20 - last10, recent)))
        elif metric == "revenue" and (
            pane.revenue_usd >= self._limits["revenue_spike"]
            or pane.largest_gift >= self.t.revenue_spike.gift_bomb
        ):
            candidates.append(
                ("revenue_spike", "revenue_usd", self._revenue(pane.revenue_usd, pane.largest_gift))
            )
        elif metric == "viewers" and pane.viewers_max is not None and pane.viewers_min is not None:
            if pane.viewers_max >= self._limits["viewer_surge"]:
                candidates.append(("viewer_surge", "viewers", self._viewers(pane.viewers_max, surge=True)))
            if pane.viewers_min <= self._limits["viewer_drop"]:
                candidates.append(("viewer_drop", "viewers", self._viewers(pane.viewers_min, surge=False)))
        return [
            m
            for kind, metric_name, check in candidates
            if kind not in self.episodes and check is not None and check.starts
            if (m := self._start(kind, metric_name, pane.start, check, now))
        ]

    def _count_second(self, second: int) -> int:
        """Count a chat message at ``second`` (event time); the messages of the last 20 s."""
        seconds = self._seconds
        if seconds and seconds[-1][0] == second:
            seconds[-1][1] += 1
        else:
            seconds.append([second, 1])
            while seconds[0][0] <= second - 2 * self.slide:
                self._sum20 -= seconds.popleft()[1]
        self._sum20 += 1
        return self._sum20

    def _thresholds(self) -> dict[str, float]:
        """Start thresholds for the pane being peeked (the baseline is fixed for a given pane)."""
        chat, revenue = self._chat(0, None), self._revenue(0.0, 0)
        surge, drop = self._viewers(0.0, surge=True), self._viewers(0.0, surge=False)
        return {
            # the fewest messages (this pane's and the one before) that could pass either test
            "chat_spike": math.inf if chat is None else max(self.t.chat_spike.min_messages, 1),
            "revenue_spike": math.inf if revenue is None else revenue.threshold,
            "viewer_surge": math.inf if surge is None else surge.threshold,
            "viewer_drop": -math.inf if drop is None else drop.threshold,
        }

    def on_raid(self, ts: float, from_stream: str, raid_viewers: int) -> Moment:
        """A raid is a moment by itself; the viewer surge and chat burst it brings are its own, not new ones."""
        for kind in ("viewer_surge", "chat_spike"):
            self._shadows[kind] = max(self._shadows.get(kind, -math.inf), ts + self.t.raid_shadow)
            self.episodes.pop(kind, None)
        return Moment(
            moment_id=moment_id(self.stream_id, "raid", ts),
            stream_id=self.stream_id,
            kind="raid",
            start=format_ts(ts),
            end=format_ts(ts),
            metric="raid_viewers",
            value=float(raid_viewers),
            baseline=0.0,
            score=float(raid_viewers),
            threshold=0.0,
            description=f"Raided by {from_stream} with {raid_viewers:,} viewers",
            peak_at=format_ts(ts),
            detected_at=format_ts(ts),
            ongoing=False,
        )

    def close_all(self) -> list[Moment]:
        """End of input: every ongoing episode ends where it is."""
        ended = [replace(episode.moment, ongoing=False) for episode in self.episodes.values()]
        self.episodes.clear()
        return ended


def describe(kind: str, value: float, baseline: float) -> str:
    """A human sentence for the dashboard: "Chat exploded to 14.2 msg/s, 6.1× normal"."""
    ratio = value / baseline if baseline else math.inf
    if kind == "chat_spike":
        return f"Chat exploded to {value:.1f} msg/s, {ratio:.1f}× normal"
    if kind == "viewer_surge":
        return f"Viewers surged to {value:,.0f}, {ratio:.1f}× the usual {baseline:,.0f}"
    if kind == "viewer_drop":
        return f"Viewers dropped to {value:,.0f} from about {baseline:,.0f} ({1 - ratio:.0%} fewer)"
    if kind == "revenue_spike":
        return f"${value:,.2f} in one burst, {ratio:.0f}× the usual ${baseline:,.2f} per 10 s"
    if kind == "sentiment_swing":
        mood = "negative" if value < baseline else "positive"
        return f"Chat mood turned {mood}: {value:+.2f} against a usual {baseline:+.2f}"
    return f"{kind}: {value:g} (baseline {baseline:g})"
