"""Detection quality over several seeds, against the producer's ground-truth labels (the backtest)."""

from __future__ import annotations

import pytest

from telemetra.analytics.backtest import KindScore, match_episodes, merge_scores
from telemetra.apps.detection_trial import trial

SEEDS = range(1, 6)
RATE = 30.0  # events/s: a small channel, where noise makes detection hardest
EPISODES = ["hype@x5", "hype@x3", "raid", "surge", "gift_bomb", "viewer_drop", "sentiment_swing"]


@pytest.fixture(scope="module")
def scores() -> dict[str, KindScore]:
    return merge_scores(trial(seed, EPISODES, rate=RATE) for seed in SEEDS)


@pytest.fixture(scope="module")
def spikes_5x() -> KindScore:
    return merge_scores(trial(seed, ["hype@x5"] * 3, rate=RATE, stream="five") for seed in SEEDS)[
        "chat_spike"
    ]


@pytest.fixture(scope="module")
def spikes_3x() -> KindScore:
    return merge_scores(trial(seed, ["hype@x3"] * 3, rate=RATE, stream="three") for seed in SEEDS)[
        "chat_spike"
    ]


def test_5x_chat_spikes(spikes_5x: KindScore) -> None:
    assert spikes_5x.true_positives + spikes_5x.false_negatives == 3 * len(SEEDS)
    assert spikes_5x.recall >= 0.95
    assert spikes_5x.precision >= 0.90


def test_3x_chat_spikes(spikes_3x: KindScore) -> None:
    assert spikes_3x.recall >= 0.80


@pytest.mark.parametrize("kind", ["raid", "viewer_surge", "revenue_spike"])
def test_raids_surges_and_gift_bombs(scores: dict[str, KindScore], kind: str) -> None:
    assert scores[kind].f1 >= 0.9, scores[kind].summary()


def test_every_kind_is_found_with_a_short_median_delay(scores: dict[str, KindScore]) -> None:
    for kind in ("chat_spike", "raid", "viewer_surge", "viewer_drop", "revenue_spike", "sentiment_swing"):
        assert scores[kind].recall >= 0.8, (kind, scores[kind].summary())
    delays = sorted(d for s in scores.values() for d in s.delays)
    assert delays[len(delays) // 2] <= 15.0


def test_exactly_one_moment_per_episode(scores: dict[str, KindScore]) -> None:
    assert all(score.duplicates == 0 for score in scores.values()), {
        k: s.summary() for k, s in scores.items()
    }


def test_at_most_one_false_moment_per_stream_hour_on_quiet_traffic() -> None:
    hours = len(SEEDS)
    quiet = merge_scores(trial(seed, [], rate=RATE, stream="quiet", duration=3600) for seed in SEEDS)
    false_moments = sum(score.false_positives for score in quiet.values())
    assert false_moments <= hours, {k: s.summary() for k, s in quiet.items()}


def _moment(kind: str, start: str, detected: str | None = None) -> dict[str, str]:
    return {"stream_id": "s", "kind": kind, "start": start, "detected_at": detected or start}


def test_episodes_count_every_moment_a_split_and_a_stray_one() -> None:
    labels = [
        {"stream_id": "s", "expected_moment": "chat_spike", "start": "2026-01-01T00:01:00.000Z",
         "end": "2026-01-01T00:01:30.000Z", "scenario": "hype", "factor": 3.0},
        {"stream_id": "s", "expected_moment": "chat_spike", "start": "2026-01-01T00:10:00.000Z",
         "end": "2026-01-01T00:10:30.000Z", "scenario": "hype", "factor": 5.0},
    ]  # fmt: skip
    moments = [
        _moment("chat_spike", "2026-01-01T00:01:00.000Z", "2026-01-01T00:01:07.500Z"),
        _moment("chat_spike", "2026-01-01T00:01:30.000Z"),  # the same episode again: split
        _moment("chat_spike", "2026-01-01T00:05:00.000Z"),  # in no episode: false
        _moment("sentiment_swing", "2026-01-01T00:10:00.000Z"),  # not the episode's kind: false
    ]
    outcomes, false = match_episodes(moments, iter(labels))
    assert [(o.moments, o.delay) for o in outcomes] == [(2, 7.5), (0, None)]
    assert [m["start"] for m in false] == ["2026-01-01T00:05:00.000Z", "2026-01-01T00:10:00.000Z"]
