"""Chat sentiment of one message: the lexicon layer's reading, corrected by the learned layer.

``score(text, emotes)`` returns a score in [-1, 1]; ``classify`` buckets it at VADER's standard ±0.05
cut-offs into positive / neutral / negative. Two layers:

1. ``lexicon``: VADER's rules made aware of emotes, emoji and chat slang (its compound score);
2. ``sentiment_model``: logistic regression over hashed words, emote families and the lexicon's reading, trained
   on Telemetra's own labelled Twitch chat. It returns ``p(positive) - p(negative)``.

The score is that margin mapped piecewise-linearly so that the model's decision margin lands exactly on ±0.05:
monotone in the model's belief, within [-1, 1], and ``classify`` of it is the model's class. So the dashboard
fields, the window counts and ``classify`` keep their meaning; the mean score of a window (the mood line) is
an average of expected valences. Quality (macro-F1 on a held-out labelled set, beside plain VADER) and speed
are measured by ``bench/sentiment_quality.py`` and ``bench/sentiment.py``.

A message with no signal at all (no lexicon item, nothing the model has learned) is neutral: in chat it
mostly is (questions, names, small talk), and a separate "unreadable" bucket would make the three counts
stop adding up to the messages of a window.

Deterministic and pure. ``score`` memoises recent ``(text, emotes)`` pairs in a bounded LRU cache (chat
repeats itself a lot); ``score_uncached`` bypasses it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Final, Literal

from telemetra.analytics import lexicon, sentiment_model

Sentiment = Literal["positive", "neutral", "negative"]

# VADER's standard classification thresholds, kept for the score.
POSITIVE_THRESHOLD: Final = 0.05
NEGATIVE_THRESHOLD: Final = -0.05
CACHE_SIZE: Final = 16_384  # (text, emotes) pairs memoised by score()

MODEL: Final = sentiment_model.load()


def margin_to_score(margin: float, threshold: float) -> float:
    """Map ``p(pos) - p(neg)`` in [-1, 1] monotonically onto [-1, 1] so that ±``threshold`` lands on ±0.05:
    piecewise linear, inside the band scaled down, outside stretched."""
    cut = POSITIVE_THRESHOLD
    size = abs(margin)
    inside = size < threshold
    value = size * cut / threshold if inside else cut + (size - threshold) * (1.0 - cut) / (1.0 - threshold)
    return math.copysign(min(1.0, value), margin)


def score_uncached(text: str, emotes: Sequence[str] | None = None) -> float:
    """Same as ``score``, without the LRU cache (for benchmarks and batches of distinct lines)."""
    if not text.strip():
        return 0.0
    return margin_to_score(MODEL.margin(text, emotes), MODEL.threshold)


@lru_cache(maxsize=CACHE_SIZE)
def _score_cached(text: str, emotes: tuple[str, ...]) -> float:
    return score_uncached(text, emotes)


def score(text: str, emotes: Sequence[str] | None = None) -> float:
    """Sentiment of one chat message in [-1, 1] (0.0 for empty text).

    ``emotes``: the emote names of the message in order of appearance (from the event); those tokens are read
    as emotes. Without it, well-known emotes are recognised from the text (they are in either case).
    """
    if not text:
        return 0.0
    return _score_cached(text, tuple(emotes) if emotes else ())


def clear_cache() -> None:
    """Forget memoised scores and token analyses (results do not change; only speed does)."""
    _score_cached.cache_clear()
    lexicon.clear_memo()
    MODEL.clear_memo()


def classify(value: float) -> Sentiment:
    """VADER's standard buckets: ≥ 0.05 positive, ≤ -0.05 negative, otherwise neutral."""
    if value >= POSITIVE_THRESHOLD:
        return "positive"
    if value <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"
