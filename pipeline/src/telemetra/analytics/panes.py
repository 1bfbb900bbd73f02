"""Panes: the slide-long, non-overlapping buckets every sliding window is assembled from.

A 60 s window that advances every 10 s is the union of six 10 s panes, so each event updates exactly one pane
and a window is computed by merging six. Sums that involve fractions are kept as integers (nano-units of
sentiment, micro-dollars of revenue) so totals do not depend on the order events arrive in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

NANO = 1_000_000_000
MICRO = 1_000_000


@dataclass(slots=True)
class Pane:
    start: int  # epoch seconds, a multiple of the slide
    event_ids: set[str] = field(default_factory=set)  # to drop duplicates (a duplicate has the same time)
    messages: int = 0
    chatters: set[str] = field(default_factory=set)
    emotes: Counter[str] = field(default_factory=Counter)
    sentiment_nanos: int = 0  # Σ message score × 1e9
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    bits: int = 0  # bits cheered, from `bits` transactions (a cheer's chat line carries the same bits)
    viewers_last: tuple[float, str, int] | None = None  # (time, event id, viewers): latest sample, ties by id
    viewers_max: int | None = None
    viewers_min: int | None = None
    revenue_micros: int = 0
    revenue_unconverted: int = 0  # donations in currencies without a known rate
    largest_gift: int = 0  # most subs gifted in one transaction
    transactions: Counter[str] = field(default_factory=Counter)

    def add_chat(self, user_id: str, emotes: list[str], score: float, label: str) -> None:
        self.messages += 1
        self.chatters.add(user_id)
        counts = self.emotes
        for emote in emotes:  # Counter.update, without its per-call overhead (this runs per message)
            counts[emote] = counts.get(emote, 0) + 1
        self.sentiment_nanos += round(score * NANO)
        if label == "positive":
            self.positive += 1
        elif label == "negative":
            self.negative += 1
        else:
            self.neutral += 1

    def add_viewers(self, ts: float, event_id: str, viewers: int) -> None:
        sample = (ts, event_id, viewers)
        if self.viewers_last is None or sample[:2] > self.viewers_last[:2]:
            self.viewers_last = sample
        self.viewers_max = viewers if self.viewers_max is None else max(self.viewers_max, viewers)
        self.viewers_min = viewers if self.viewers_min is None else min(self.viewers_min, viewers)

    def add_transaction(self, kind: str, usd: float | None, count: int = 1, bits: int = 0) -> None:
        self.transactions[kind] += 1
        self.bits += bits
        if kind == "gift":
            self.largest_gift = max(self.largest_gift, count)
        if usd is None:
            self.revenue_unconverted += 1
        else:
            self.revenue_micros += round(usd * MICRO)

    @property
    def revenue_usd(self) -> float:
        return self.revenue_micros / MICRO

    @property
    def sentiment(self) -> float | None:
        return self.sentiment_nanos / NANO / self.messages if self.messages else None
