"""Roll-ups of window metrics for long ranges, for any window geometry.

A stream's windows are ``window_seconds`` long and a new one starts every ``slide_seconds`` (60 s and 10 s by
default; a TelemetraStream may choose others), so consecutive windows overlap and summing them would count
each event several times. A roll-up therefore only uses *tiling* windows, those whose start is a multiple of
the window length: they are the non-overlapping, back-to-back windows of the stream.

* ``10s``, the finest resolution: every window, as stored (one per slide).
* a resolution equal to the window length: the tiling windows themselves.
* a resolution that is a multiple of the window length (``1m`` of 30 s windows, ``5m`` of 60 s windows): that
  many consecutive tiling windows merged into one bucket aligned to the resolution. Sums stay exact (messages,
  revenue, sentiment class counts, transactions, bits, emotes); ``chat_rate`` is messages over the bucket (a
  tile without a window had no events); ``sentiment`` is the message-weighted mean; ``viewers`` the last
  sample, ``viewers_max`` the maximum. Two fields are approximations because the windows no longer hold raw
  data: ``unique_chatters`` is the largest tile's (a lower bound of the bucket's count) and ``top_emotes``
  re-ranks the sums of each tile's top list.
* any other resolution cannot be built exactly from the stream's windows and is refused (:class:`NotTiling`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from telemetra.analytics.windows import top_emotes
from telemetra.records import WindowMetrics, parse_ts
from telemetra.services.storage.codec import window_time

RESOLUTIONS = {"10s": 10, "1m": 60, "5m": 300}
FINEST = "10s"
TOP_EMOTES = 10


class NotTiling(ValueError):
    """The resolution is not a multiple of the stream's window length."""


def tiles_per_bucket(resolution: str, window_seconds: int) -> int:
    """How many tiling windows make one bucket of ``resolution`` (0: the finest, every stored window)."""
    if resolution == FINEST:
        return 0
    step = RESOLUTIONS[resolution]
    if step % window_seconds:
        raise NotTiling(
            f"resolution {resolution} needs windows whose length divides {step} s; "
            f"this stream's windows are {window_seconds} s (use {FINEST})"
        )
    return step // window_seconds


def merge(stream_id: str, bucket_start: int, length: int, windows: Sequence[WindowMetrics]) -> WindowMetrics:
    """One record for ``[bucket_start, bucket_start + length)`` from the tiling windows inside it (oldest first)."""
    messages = sum(w.messages for w in windows)
    emotes: Counter[str] = Counter()
    transactions: Counter[str] = Counter()
    for window in windows:
        emotes.update({e["emote"]: int(e["count"]) for e in window.top_emotes})
        transactions.update(window.transactions)
    weighted = [(w.sentiment, w.messages) for w in windows if w.sentiment is not None and w.messages]
    samples = [w.viewers for w in windows if w.viewers is not None]
    maxima = [w.viewers_max for w in windows if w.viewers_max is not None]
    return WindowMetrics(
        stream_id=stream_id,
        window_start=window_time(bucket_start),
        window_end=window_time(bucket_start + length),
        messages=messages,
        chat_rate=round(messages / length, 6),
        unique_chatters=max((w.unique_chatters for w in windows), default=0),
        top_emotes=top_emotes(emotes, TOP_EMOTES),
        sentiment=round(sum(s * n for s, n in weighted) / sum(n for _, n in weighted), 9)
        if weighted
        else None,
        positive=sum(w.positive for w in windows),
        neutral=sum(w.neutral for w in windows),
        negative=sum(w.negative for w in windows),
        viewers=samples[-1] if samples else None,
        viewers_max=max(maxima) if maxima else None,
        revenue_usd=round(sum(w.revenue_usd for w in windows), 6),
        transactions=dict(sorted(transactions.items())),
        late_events=sum(w.late_events for w in windows),
        bits=sum(w.bits for w in windows),
        emote_total=sum(w.emote_total for w in windows),
        final=all(w.final for w in windows),
    )


def buckets(windows: Sequence[WindowMetrics], length: int) -> list[tuple[int, list[WindowMetrics]]]:
    """Group tiling windows (oldest first) by the ``length``-aligned bucket holding their start."""
    grouped: dict[int, list[WindowMetrics]] = {}
    for window in windows:
        start = int(parse_ts(window.window_start))
        grouped.setdefault(start - start % length, []).append(window)
    return sorted(grouped.items())
