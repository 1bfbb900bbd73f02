"""Sliding windows: geometry (which windows hold an instant) and assembling a window's metrics from panes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from telemetra.analytics.panes import MICRO, NANO, Pane
from telemetra.records import WindowMetrics, format_bound


def pane_start(ts: float, slide: int) -> int:
    """Start of the slide-long pane holding ``ts`` (aligned to the epoch)."""
    return int(ts // slide) * slide


def window_starts(ts: float, window: int, slide: int) -> list[int]:
    """Starts of every window ``[start, start + window)`` that contains ``ts``, oldest first."""
    newest = pane_start(ts, slide)
    return list(range(newest - window + slide, newest + 1, slide))


def top_emotes(counts: Counter[str], limit: int) -> list[dict[str, Any]]:
    """By count descending, then name, at most ``limit``."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [{"emote": name, "count": count} for name, count in ranked]


def merge_panes(
    stream_id: str,
    start: int,
    window: int,
    panes: Sequence[Pane],
    *,
    top: int,
    late_events: int = 0,
    final: bool = True,
) -> WindowMetrics:
    """Assemble the metrics of window ``[start, start + window)`` from the panes inside it."""
    messages = sum(p.messages for p in panes)
    emotes: Counter[str] = Counter()
    transactions: Counter[str] = Counter()
    for pane in panes:
        emotes.update(pane.emotes)
        transactions.update(pane.transactions)
    samples = [p.viewers_last for p in panes if p.viewers_last is not None]
    maxima = [p.viewers_max for p in panes if p.viewers_max is not None]
    sentiment_nanos = sum(p.sentiment_nanos for p in panes)
    return WindowMetrics(
        stream_id=stream_id,
        window_start=format_bound(start),
        window_end=format_bound(start + window),
        messages=messages,
        chat_rate=round(messages / window, 6),
        unique_chatters=len(set().union(*(p.chatters for p in panes))),
        top_emotes=top_emotes(emotes, top),
        sentiment=round(sentiment_nanos / NANO / messages, 9) if messages else None,
        positive=sum(p.positive for p in panes),
        neutral=sum(p.neutral for p in panes),
        negative=sum(p.negative for p in panes),
        viewers=max(samples)[2] if samples else None,
        viewers_max=max(maxima) if maxima else None,
        revenue_usd=round(sum(p.revenue_micros for p in panes) / MICRO, 6),
        transactions=dict(sorted(transactions.items())),
        late_events=late_events,
        bits=sum(p.bits for p in panes),
        emote_total=sum(emotes.values()),
        final=final,
    )
