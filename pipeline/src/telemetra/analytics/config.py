"""Settings of the analytics core: window geometry, watermark and moment thresholds (settable per stream)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChatSpike:
    ratio: float = 2.0  # pane chat rate ≥ ratio × baseline median …
    z: float = 4.0  # … and ≥ z robust standard deviations above it
    min_messages: int = 10  # and at least this many messages in the pane


@dataclass(frozen=True)
class ViewerChange:
    ratio: float  # surge: viewers ≥ ratio × baseline; drop: viewers ≤ ratio × baseline
    z: float = 5.0


@dataclass(frozen=True)
class RevenueSpike:
    ratio: float = 8.0  # pane revenue ≥ ratio × mean pane revenue of the baseline …
    min_usd: float = 150.0  # … and at least this much
    # … or one viewer gifting at least this many subs at once, whatever the baseline: a gift bomb is a moment
    # even on a channel whose usual revenue would hide it (a gift of 10 subs is routine, 50 is not).
    gift_bomb: int = 20


@dataclass(frozen=True)
class SentimentSwing:
    delta: float = 0.25  # |trailing sentiment − baseline median| ≥ delta …
    z: float = 4.0  # … and ≥ z robust standard deviations
    min_messages: int = 30  # messages in the trailing span, so a few lines cannot swing it


@dataclass(frozen=True)
class MomentThresholds:
    chat_spike: ChatSpike = field(default_factory=ChatSpike)
    viewer_surge: ViewerChange = field(default_factory=lambda: ViewerChange(ratio=1.3))
    viewer_drop: ViewerChange = field(default_factory=lambda: ViewerChange(ratio=0.7))
    revenue_spike: RevenueSpike = field(default_factory=RevenueSpike)
    sentiment_swing: SentimentSwing = field(default_factory=SentimentSwing)
    baseline_panes: int = 30  # non-overlapping panes in the baseline (5 minutes at a 10 s slide)
    warmup_panes: int = 12  # no detection before this many baseline panes (2 minutes)
    sentiment_span: int = 3  # panes averaged for sentiment (30 s)
    quiet_panes: int = 2  # an episode ends after this many consecutive normal panes
    raid_shadow: float = 300.0  # seconds after a raid in which viewer surges and chat spikes are the raid's


@dataclass(frozen=True)
class AnalyticsConfig:
    window: int = 60  # seconds
    slide: int = 10  # seconds; windows start at multiples of it (aligned to the epoch)
    lateness: float = 10.0  # allowed lateness: the watermark trails the newest event time by this much
    top_emotes: int = 10
    thresholds: MomentThresholds = field(default_factory=MomentThresholds)

    def __post_init__(self) -> None:
        if self.slide <= 0 or self.window <= 0 or self.window % self.slide:
            raise ValueError(
                f"the slide ({self.slide}s) must be positive and divide the window ({self.window}s)"
            )
        if self.lateness < 0:
            raise ValueError("allowed lateness cannot be negative")
