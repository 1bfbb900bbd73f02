"""Settings of the analytics core: window geometry, watermark and moment thresholds (settable per stream)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import orjson


@dataclass(frozen=True)
class ChatSpike:
    """Messages in windows of 2, 3 or 6 panes ending with the pane checked (20 s, 30 s, 60 s) against what the
    channel usually has in such a window: ≥ ``ratio`` × its usual count and ≥ ``z`` spreads above its mean
    (the channel's own spread of such windows, never below Poisson noise, plus z²/4 for the skew of small
    counts), while the pane itself holds ≥ ``guard_ratio`` × its usual count; or, in the pane alone,
    ≥ ``instant_ratio`` × and ``instant_z`` spreads. Always at least ``min_messages`` in the window tested.
    ``MomentThresholds.sensitivity`` scales the z's and the ratios' distance from 1."""

    ratio: float = 2.4
    z: float = 3.5
    guard_ratio: float = 2.0
    instant_ratio: float = 3.0
    instant_z: float = 8.0
    min_messages: int = 10
    recent_panes: int = 6  # the usual level is the baseline's median, or that of its newest panes when lower


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
    delta: float = 0.30  # |trailing sentiment − baseline median| ≥ delta …
    z: float = 4.0  # … and ≥ z robust standard deviations
    min_messages: int = 30  # messages in the trailing span, so a few lines cannot swing it


Sensitivity = Literal["low", "normal", "high"]
SENSITIVITIES: tuple[str, ...] = get_args(Sensitivity)


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
    merge_seconds: float = 30.0  # one that starts again this soon after is the same episode going on
    raid_shadow: float = 300.0  # seconds after a raid in which viewer surges and chat spikes are the raid's
    # How much evidence a chat spike needs: "low" scales every z and every ratio's distance from 1 of
    # `chat_spike` by 1.25 (fewer, bigger moments), "high" by 0.8 (more, smaller ones), "normal" by 1.
    sensitivity: Sensitivity = "normal"

    def __post_init__(self) -> None:
        if self.sensitivity not in SENSITIVITIES:
            raise ValueError(
                f"sensitivity must be one of {', '.join(SENSITIVITIES)}, not {self.sensitivity!r}"
            )


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


def analytics_config_from_json(text: str | bytes | Mapping[str, Any] | None) -> AnalyticsConfig:
    """A JSON object mapping onto :class:`AnalyticsConfig`; absent fields keep their defaults, e.g.
    ``{"window": 60, "slide": 10, "thresholds": {"chat_spike": {"ratio": 3}}}``. Unknown fields and wrong
    types raise ``ValueError`` naming the field."""
    if text is None or (isinstance(text, str | bytes) and not text.strip()):
        return AnalyticsConfig()
    if isinstance(text, str | bytes):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            raise ValueError(f"analytics config is not valid JSON: {error}") from None
    else:
        data = text
    config = _merge(AnalyticsConfig(), data, "")
    assert isinstance(config, AnalyticsConfig)
    return config


def analytics_config_to_json(config: AnalyticsConfig) -> str:
    """Every field, so the job's log and the checkpoint say exactly what is in effect."""
    return orjson.dumps(dataclasses.asdict(config), option=orjson.OPT_SORT_KEYS).decode()


def _merge(current: Any, data: Any, path: str) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(
            f"analytics config{' field ' + path.rstrip('.') if path else ''}: expected an object"
        )
    known = {f.name for f in dataclasses.fields(current)}
    unknown = sorted(set(data) - known)
    if unknown:
        names = ", ".join(path + name for name in unknown)
        raise ValueError(
            f"analytics config: unknown field(s) {names}; known here: {', '.join(sorted(known))}"
        )
    changes = {}
    for name, value in data.items():
        existing = getattr(current, name)
        if dataclasses.is_dataclass(existing):
            changes[name] = _merge(existing, value, f"{path}{name}.")
        else:
            changes[name] = _scalar(value, type(existing), path + name)
    try:
        return dataclasses.replace(current, **changes)
    except ValueError as error:
        raise ValueError(f"analytics config: {error}") from None


def _scalar(value: Any, kind: type, name: str) -> Any:
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"analytics config field {name}: expected a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"analytics config field {name}: expected a number, got {value!r}")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"analytics config field {name}: expected a whole number, got {value!r}")
        return int(value)
    return float(value)
