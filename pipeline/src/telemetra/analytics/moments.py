"""Moments: anomalies against a robust, per-stream baseline, reported once per episode.

Each kind watches one metric of the closed panes (10 s, non-overlapping). Its baseline is the median and MAD of
that metric over the last ``baseline_panes`` panes, lagged so that a pane's baseline never depends on panes that
could still be open; no moment is reported before ``warmup_panes`` panes of history. An episode starts on a pane
that crosses the start threshold, continues while panes stay above half of it, and ends after ``quiet_panes``
normal panes: one record per episode, with a deterministic id, re-emitted as it grows (upsert by id).

Metrics that can only grow while a pane is open (message count, revenue, highest and lowest viewer sample) are
also checked on the open pane (``peek``), so an obvious spike is reported seconds after it starts rather than
when its pane closes; the later evaluation of the closed pane confirms it with the same baseline.

Chat spikes are judged on message counts in windows of 1, 2, 3 and 6 panes ending with the pane checked, each
window length with its own baseline (level, mean and spread of such windows), so a channel's own burstiness sets
how far out a spike must be (``ChatSpike`` in the config; ``MomentThresholds.sensitivity`` scales it). Every
moment gets a ``rank`` (:func:`moment_rank`) to list the best first.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections import deque
from dataclasses import dataclass, field, replace

from telemetra.analytics.config import AnalyticsConfig, ChatSpike, MomentThresholds
from telemetra.analytics.panes import Pane
from telemetra.records import Moment, format_ts

MAD_TO_SIGMA = 1.4826
RECENT_MESSAGES = 100  # messages the recent panes must hold before their level counts
CHAT_WINDOWS = (1, 2, 3, 6)  # windows (in panes, ending with the pane checked) of the chat tests
SENSITIVITY = {"low": 1.25, "normal": 1.0, "high": 0.8}  # scales the evidence a chat spike needs
KINDS = ("chat_spike", "viewer_surge", "viewer_drop", "sentiment_swing", "revenue_spike", "raid")


def moment_id(stream_id: str, kind: str, start: float) -> str:
    return hashlib.sha256(f"{stream_id}|{kind}|{start:.3f}".encode()).hexdigest()[:24]


class Baseline:
    """Median, mean and MAD of the most recent values; computed once per change, read on every event."""

    def __init__(self, size: int):
        self.values: deque[float] = deque(maxlen=size)
        self._stats: tuple[float, float, float] | None = None  # median, mean, MAD
        self._level: float | None = None
        self._trimmed: float | None = None

    def __len__(self) -> int:
        return len(self.values)

    def add(self, value: float) -> None:
        self.values.append(value)
        self._stats = self._level = self._trimmed = None

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

    def trimmed_mean(self) -> float:
        """The mean of all but the highest tenth of the values: what a count is expected to be (the median
        of small counts is biased low), without the odd spike of the past minutes."""
        if self._trimmed is None:
            values = sorted(self.values)
            self._trimmed = statistics.fmean(values[: max(1, len(values) - len(values) // 10)])
        return self._trimmed

    def spread(self, floor: float) -> float:
        return max(MAD_TO_SIGMA * self._computed()[2], floor)


def chat_spike_rule(thresholds: MomentThresholds) -> ChatSpike:
    """The chat-spike rule in effect: the configured one, with its evidence (every z, and every ratio's
    distance from 1) scaled by the stream's sensitivity: ``low`` asks 25% more, ``high`` 20% less."""
    c, factor = thresholds.chat_spike, SENSITIVITY[thresholds.sensitivity]
    if factor == 1.0:
        return c
    return replace(
        c,
        ratio=1 + (c.ratio - 1) * factor,
        z=c.z * factor,
        guard_ratio=1 + (c.guard_ratio - 1) * factor,
        instant_ratio=1 + (c.instant_ratio - 1) * factor,
        instant_z=c.instant_z * factor,
    )


def count_threshold(usual: float, mean: float, spread: float, ratio: float, z: float, least: int) -> float:
    """Messages a window must hold to stand out: ``ratio`` times its ``usual`` count, ``z`` spreads more than
    its ``mean``, plus z²/4, the skew of small counts (a Poisson count X is past (√λ + z/2)² = λ + z√λ + z²/4
    about as rarely as a normal one is z deviations out), and at least ``least``."""
    return max(ratio * usual, mean + z * spread + z * z / 4, least)


@dataclass(frozen=True, slots=True)
class ChatTest:
    """One window of a pane's chat test, in messages: its length in panes, its usual count (for the ratios),
    mean and spread, the count that starts an episode and the one that continues it."""

    panes: int
    usual: float
    mean: float
    spread: float
    threshold: float
    holds: float


@dataclass(frozen=True, slots=True)
class ChatLimits:
    """A pane's chat thresholds, in messages: the tests (one pane alone first), the ``guard`` the pane must
    reach for the longer windows to count, and ``bar``, the fewest messages of the pane that could start an
    episode (below it, a peek has nothing to check)."""

    tests: tuple[ChatTest, ...]
    guard: float
    bar: float


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

    # Bumped whenever the detector's stored fields change, so that state saved by an older version (a Spark
    # checkpoint) is recognised and the detector restarted rather than read wrongly (StreamAnalytics.restored).
    STATE_VERSION = 2

    def __init__(self, stream_id: str, config: AnalyticsConfig):
        self.version = MomentDetector.STATE_VERSION
        self.stream_id = stream_id
        self.slide = config.slide
        self.t = config.thresholds
        # A pane's baseline holds panes that closed at least `gap` seconds before it starts: all of them are
        # closed by the time the pane receives its first event, so peeks and the final check agree.
        self.gap = (math.ceil(config.lateness / config.slide) + 1) * config.slide
        size = self.t.baseline_panes
        chat = [f"chat{panes}" for panes in CHAT_WINDOWS]
        self.baselines = {name: Baseline(size) for name in (*chat, "viewers", "sentiment", "revenue")}
        # Messages of the latest panes by start, open (as last peeked) or closed: the longer chat tests need
        # the panes before the one being checked, the newest of which is often still open.
        self._counts: dict[int, int] = {}
        self._chat_cache: dict[int, ChatLimits | None] = {}  # pane start → its chat thresholds
        self._ended: dict[str, tuple[Moment, int]] = {}  # kind → its last episode, and the pane it ended on
        self._pending: deque[tuple[int, dict[str, float]]] = deque()  # closed, not yet admitted to baselines
        # The closed panes' (messages, Σ sentiment nanos), newest last: a closed pane no longer changes, and
        # keeping its numbers rather than the pane lets the detector be stored without the panes.
        self._recent: deque[tuple[int, int]] = deque(maxlen=self.t.sentiment_span)
        self._admitted_viewers: float | None = None
        self._first_pane: float = math.inf  # the first pane closed: windows reach no further back
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
    def _chat_limits(self, pane_start: int) -> ChatLimits | None:
        """The chat thresholds of one pane (its baselines are fixed once it can receive events), kept for the
        panes that may still be checked, so the peeks and the final check of a pane use the same numbers."""
        if pane_start not in self._chat_cache:
            self._admit(pane_start)
            self._chat_cache = {s: v for s, v in self._chat_cache.items() if s >= pane_start - self.slide}
            self._chat_cache[pane_start] = self._chat_thresholds()
        return self._chat_cache[pane_start]

    def _chat_thresholds(self) -> ChatLimits | None:
        if not self._warm("chat1"):
            return None
        scale = 1.0
        viewer_base = self.baselines["viewers"]
        if self._admitted_viewers and len(viewer_base) and viewer_base.median() > 0:
            scale = max(1.0, self._admitted_viewers / viewer_base.median())  # chat follows viewers
        c = chat_spike_rule(self.t)
        tests = []
        for panes in CHAT_WINDOWS:
            base = self.baselines[f"chat{panes}"]
            if len(base) < self.t.warmup_panes:
                continue
            span = panes * self.slide
            # the usual level (for the ratios) and the mean count (for the spreads), in messages
            level = base.level(c.recent_panes, RECENT_MESSAGES / span)
            usual = level * scale * span
            mean = base.trimmed_mean() * level / max(base.median(), 1e-9) * scale * span
            spread = max(base.spread(floor=0.0) * span, math.sqrt(max(mean, 1.0)))
            sustained = count_threshold(usual, mean, spread, c.ratio, c.z, c.min_messages)
            holds = usual + (sustained - usual) / 2  # an episode goes on while halfway there
            if panes == 1:  # the pane alone: the instant test
                sustained = count_threshold(usual, mean, spread, c.instant_ratio, c.instant_z, c.min_messages)
                guard = max(c.guard_ratio * usual, 1.0)
            tests.append(ChatTest(panes, usual, mean, spread, sustained, holds))
        return ChatLimits(tests=tuple(tests), guard=guard, bar=min(guard, tests[0].threshold))

    def _chat(self, pane_start: int, counts: dict[int, int]) -> _Check | None:
        """Pane ``pane_start``'s chat (open or closed: ``counts`` are the messages per pane so far, which only
        grow) against the channel's own level and dispersion, as messages in windows of panes ending with
        it. The pane alone must be far out (an instant jump); longer windows (20 s and more) need less, as
        long as the pane itself is still up (``guard``): an ordinary burst of chat has faded by the time its
        20 s add up, a moment holds. Every test is a threshold on counts, so a test that passes on an open
        pane passes on the closed one: moments do not depend on the order events arrive in. An episode goes
        on while the pane, or it and the one before (the pane above its usual level), are halfway to their
        thresholds."""
        limits = self._chat_limits(pane_start)
        if limits is None:
            return None
        own = counts.get(pane_start, 0)
        checks = []
        for test in limits.tests:
            messages = sum(counts.get(pane_start - i * self.slide, 0) for i in range(test.panes))
            span = test.panes * self.slide
            check = _Check(
                value=own / self.slide,
                baseline=test.usual / span,
                score=(messages - test.mean) / test.spread,
                threshold=test.threshold / span,
                starts=messages >= test.threshold and (test.panes == 1 or own >= limits.guard),
                # with the pane before, the pane itself must still be above its usual level
                holds=messages >= test.holds
                and (test.panes == 1 or (test.panes == 2 and own > limits.tests[0].usual)),
            )
            if check.starts:
                return replace(check, holds=True)
            checks.append(check)
        return replace(checks[0], holds=any(check.holds for check in checks))

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
    def _start(
        self, kind: str, metric: str, pane_start: int, check: _Check, now: float, chatters: int
    ) -> Moment | None:
        if pane_start < self._shadows.get(kind, -math.inf):
            return None
        ended = self._ended.pop(kind, None)
        if ended is not None and pane_start - ended[1] <= self.t.merge_seconds:
            # the same episode after a dip: it goes on (same id), rather than a second moment
            moment = replace(ended[0], end=format_ts(pane_start + self.slide), ongoing=True)
            moment = replace(moment, rank=max(moment.rank or 0.0, moment_rank(kind, check, chatters)))
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
            rank=moment_rank(kind, check, chatters),
        )
        self.episodes[kind] = _Episode(moment, peak=abs(check.score))
        if kind == "viewer_surge":
            self._shadows["chat_spike"] = pane_start + 60.0
        return moment

    def _extend(self, kind: str, pane_start: int, check: _Check | None, chatters: int) -> Moment | None:
        episode = self.episodes[kind]
        if check is not None and check.holds:
            episode.quiet = 0
            rank = max(episode.moment.rank or 0.0, moment_rank(kind, check, chatters))
            moment = replace(episode.moment, end=format_ts(pane_start + self.slide), rank=rank)
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

    def _step(self, kind: str, metric: str, pane: Pane, check: _Check | None, now: float) -> Moment | None:
        if kind in self.episodes:
            return self._extend(kind, pane.start, check, len(pane.chatters))
        if check is not None and check.starts:
            return self._start(kind, metric, pane.start, check, now, len(pane.chatters))
        return None

    # -- inputs ------------------------------------------------------------------------------------------
    def on_pane_closed(self, pane: Pane, now: float) -> list[Moment]:
        """Evaluate a closed pane (in time order) and fold it into the baselines; ``now`` is the event time."""
        self._admit(pane.start)
        self._recent.append((pane.messages, pane.sentiment_nanos))
        self._first_pane = min(self._first_pane, pane.start)
        self._counts[pane.start] = pane.messages
        chat = self._chat(pane.start, self._counts)
        sums = {  # the chat rate of each window ending with this pane, once the stream is that old
            f"chat{panes}": sum(self._counts.get(pane.start - i * self.slide, 0) for i in range(panes))
            / (panes * self.slide)
            for panes in CHAT_WINDOWS
            if pane.start - (panes - 1) * self.slide >= self._first_pane
        }
        oldest = pane.start - (CHAT_WINDOWS[-1] - 1) * self.slide
        self._counts = {start: n for start, n in self._counts.items() if start > oldest}
        sentiment = self._trailing_sentiment()
        checks: list[tuple[str, str, _Check | None]] = [
            ("chat_spike", "chat_rate", chat),
            ("revenue_spike", "revenue_usd", self._revenue(pane.revenue_usd, pane.largest_gift)),
            ("sentiment_swing", "sentiment", None if sentiment is None else self._sentiment(sentiment)),
        ]
        if pane.viewers_max is not None and pane.viewers_min is not None:
            checks.append(("viewer_surge", "viewers", self._viewers(pane.viewers_max, surge=True)))
            checks.append(("viewer_drop", "viewers", self._viewers(pane.viewers_min, surge=False)))
        moments = [m for kind, metric, check in checks if (m := self._step(kind, metric, pane, check, now))]
        values = {**sums, "revenue": pane.revenue_usd}
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
        if metric == "chat":
            self._counts[pane.start] = pane.messages
            limits = self._chat_limits(pane.start)
            if limits is None or pane.messages < limits.bar or "chat_spike" in self.episodes:
                return []  # the common case, after nearly every chat message: nothing to check
            check = self._chat(pane.start, self._counts)
            if check is None or not check.starts:
                return []
            moment = self._start("chat_spike", "chat_rate", pane.start, check, now, len(pane.chatters))
            return [moment] if moment else []
        if self._limits_pane != pane.start:
            self._admit(pane.start)
            self._limits_pane, self._limits = pane.start, self._thresholds()
        candidates: list[tuple[str, str, _Check | None]] = []
        if metric == "revenue" and (
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
            if (m := self._start(kind, metric_name, pane.start, check, now, len(pane.chatters)))
        ]

    def _thresholds(self) -> dict[str, float]:
        """Start thresholds for the pane being peeked (the baseline is fixed for a given pane)."""
        revenue = self._revenue(0.0, 0)
        surge, drop = self._viewers(0.0, surge=True), self._viewers(0.0, surge=False)
        return {
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
            rank=round(math.log2(1 + raid_viewers) ** 2, 3),
        )

    def close_all(self) -> list[Moment]:
        """End of input: every ongoing episode ends where it is."""
        ended = [replace(episode.moment, ongoing=False) for episode in self.episodes.values()]
        self.episodes.clear()
        return ended


def moment_rank(kind: str, check: _Check, chatters: int) -> float:
    """How much a moment stands out, to show the best first: how unusual (log2(1 + |score|), the score being
    in spreads of the baseline) × how large (doublings or halvings of the metric against its baseline,
    |log2(value / baseline)|; for sentiment 1 + its distance from the baseline; 1 without a baseline) × how
    many chatters joined in (log2(2 + the distinct chatters of the pane)). A raid's is log2(1 + raiders)²: its
    raiders are both how unusual it is and who joins in."""
    unusual = math.log2(1 + abs(check.score))
    if kind == "sentiment_swing":
        large = 1 + abs(check.value - check.baseline)
    elif check.value > 0 and check.baseline > 0:
        large = abs(math.log2(check.value / check.baseline))
    else:
        large = 1.0
    return round(unusual * large * math.log2(2 + chatters), 3)


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
