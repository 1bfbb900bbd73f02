"""Mock traffic looks like a real channel, is deterministic, and its scenarios happen where the labels say."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from typing import Any

import pytest

from telemetra.contract import format_ts, parse_ts
from telemetra.producers.mock import MockConfig, generate_batches, labels
from telemetra.producers.scenarios import ScenarioKind, parse_scenario

START = 1_790_000_000.0


def events_of(**kwargs: Any) -> list[dict[str, Any]]:
    config = MockConfig(**{"streams": ["a"], "rate": 100, "duration": 120, "start": START, **kwargs})
    return list(itertools.chain.from_iterable(batch for _, batch in generate_batches(config)))


def per_second(events: list[dict[str, Any]], kind: str = "chat") -> Counter[int]:
    return Counter(int(parse_ts(e["ts"]) - START) for e in events if e["type"] == kind)


def test_same_seed_same_events_other_seed_other_events() -> None:
    assert events_of(seed=3) == events_of(seed=3)
    assert events_of(seed=3) != events_of(seed=4)


def test_events_are_time_ordered_inside_the_run() -> None:
    events = events_of(streams=["a", "b"])
    stamps = [parse_ts(e["ts"]) for e in events]
    assert stamps == sorted(stamps)
    assert stamps[0] >= START
    assert stamps[-1] < START + 120


def test_mean_rate_is_the_requested_rate() -> None:
    events = events_of(rate=300, duration=200)
    assert 0.85 * 300 < len(events) / 200 < 1.15 * 300


def pane_counts(chat: str, seed: int, hours: float = 1.0) -> list[int]:
    """Chat messages per 10-second pane of one stream at ~10 messages/s."""
    events = events_of(rate=10.3, duration=hours * 3600, seed=seed, chat=chat)
    counts = Counter(int(parse_ts(e["ts"]) - START) // 10 for e in events if e["type"] == "chat")
    return [counts[pane] for pane in range(int(hours * 360))]


def test_bursty_chat_varies_as_real_chat_does_poisson_chat_does_not() -> None:
    """Issue 19's calibration: 10-second counts at ~10 msg/s vary with a CV of ~0.27 in real chat, ~0.1 for
    a Poisson process; the bursty model keeps the mean rate."""
    for seed in (1, 2):
        bursty, poisson = pane_counts("bursty", seed), pane_counts("poisson", seed)
        cv = {name: statistics.pstdev(c) / statistics.mean(c) for name, c in (("b", bursty), ("p", poisson))}
        assert 0.18 < cv["b"] < 0.4 and cv["p"] < 0.16, cv
        assert 0.8 < statistics.mean(bursty) / statistics.mean(poisson) < 1.25
        assert max(bursty) > 1.8 * statistics.median(
            bursty
        )  # ordinary bursts: what a detector must not report


def test_bursty_chat_is_deterministic_too() -> None:
    assert events_of(seed=3, chat="bursty") == events_of(seed=3, chat="bursty")
    assert per_second(events_of(seed=3, chat="bursty")) != per_second(events_of(seed=3, chat="poisson"))


def test_a_stream_starts_and_ends_and_reports_viewers() -> None:
    events = events_of()
    metas = [e["kind"] for e in events if e["type"] == "stream_meta"]
    assert metas[0] == "start"
    assert metas[-1] == "end"
    assert len([e for e in events if e["type"] == "viewers"]) == 120 // 5


def test_chatters_are_heavy_tailed() -> None:
    chats = [e for e in events_of(duration=60) if e["type"] == "chat"]
    by_user = Counter(e["user_id"] for e in chats)
    assert len(by_user) < 0.8 * len(chats)  # regulars write several messages a minute
    top_decile = sum(count for _, count in by_user.most_common(len(by_user) // 10))
    assert top_decile > 0.3 * len(chats)


def test_emotes_follow_popularity_and_appear_in_the_text() -> None:
    chats = [e for e in events_of(rate=300) if e["type"] == "chat"]
    counts = Counter(itertools.chain.from_iterable(e["emotes"] for e in chats))
    assert {"LUL", "KEKW", "Kappa"} <= {name for name, _ in counts.most_common(6)}
    assert 0.25 < sum(bool(e["emotes"]) for e in chats) / len(chats) < 0.6
    for chat in chats[:500]:
        assert chat["text"].split()[-len(chat["emotes"]) :] == chat["emotes"] or not chat["emotes"]


def test_chat_rate_follows_viewers() -> None:
    events = events_of(duration=300, scenarios=[parse_scenario("surge@100x3")])
    chat = per_second(events)
    before, after = (
        statistics.mean(chat[s] for s in range(40, 100)),
        statistics.mean(chat[s] for s in range(160, 300)),
    )
    assert 2.2 < after / before < 3.8


def test_hype_multiplies_chat_only_during_the_episode() -> None:
    events = events_of(duration=200, scenarios=[parse_scenario("hype@100+30x5")])
    chat = per_second(events)
    normal = statistics.mean(chat[s] for s in range(30, 100))
    hype = statistics.mean(chat[s] for s in range(100, 130))
    after = statistics.mean(chat[s] for s in range(140, 200))
    assert 3.5 < hype / normal < 6.5
    assert 0.7 < after / normal < 1.3


def test_raid_brings_viewers_and_a_raid_event() -> None:
    events = events_of(duration=200, scenarios=[parse_scenario("raid@100x1")])
    raid = next(e for e in events if e["type"] == "stream_meta" and e["kind"] == "raid")
    assert parse_ts(raid["ts"]) == START + 100
    assert raid["raid_viewers"] > 0
    viewers = {int(parse_ts(e["ts"]) - START): e["viewers"] for e in events if e["type"] == "viewers"}
    assert viewers[105] > 1.6 * viewers[95]


def test_gift_bomb_and_viewer_drop_and_sentiment_swing() -> None:
    events = events_of(
        duration=240,
        scenarios=[
            parse_scenario(s) for s in ("gift_bomb@50x40", "viewer_drop@100x0.5", "sentiment_swing@150")
        ],
    )
    assert any(e["type"] == "transaction" and e.get("count") == 40 for e in events)
    viewers = {int(parse_ts(e["ts"]) - START): e["viewers"] for e in events if e["type"] == "viewers"}
    assert viewers[115] < 0.65 * viewers[95]
    negative = {"Sadge", "PepeHands", "NotLikeThis", "ResidentSleeper", "monkaS", "BibleThump"}

    def negative_share(lo: int, hi: int) -> float:
        chats = [e for e in events if e["type"] == "chat" and lo <= parse_ts(e["ts"]) - START < hi]
        return sum(bool(negative & set(e["emotes"])) for e in chats) / len(chats)

    assert negative_share(165, 240) > 1.8 * negative_share(0, 140)


def test_labels_give_each_episode_with_its_stream_and_expected_moment() -> None:
    config = MockConfig(
        streams=["a", "b"],
        start=START,
        scenarios=[parse_scenario("hype@120"), parse_scenario("raid@300/b")],
    )
    assert [(x["stream_id"], x["scenario"], x["expected_moment"]) for x in labels(config)] == [
        ("a", "hype", "chat_spike"),
        ("b", "hype", "chat_spike"),
        ("b", "raid", "raid"),
    ]
    assert (labels(config)[0]["start"], labels(config)[0]["end"]) == (
        format_ts(START + 120),
        format_ts(START + 150),
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("hype@120", (ScenarioKind.HYPE, 120.0, 30.0, 5.0, None)),
        ("hype@120+45x3/b", (ScenarioKind.HYPE, 120.0, 45.0, 3.0, "b")),
        ("sentiment_swing@10x-0.9", (ScenarioKind.SENTIMENT_SWING, 10.0, 90.0, -0.9, None)),
    ],
)
def test_scenario_spec(spec: str, expected: tuple[Any, ...]) -> None:
    s = parse_scenario(spec)
    assert (s.kind, s.at, s.duration, s.factor, s.stream_id) == expected


@pytest.mark.parametrize(
    ("spec", "reason"), [("boom@10", "unknown kind"), ("hype", "KIND@START"), ("hype@1+0", "positive")]
)
def test_bad_scenario_spec_says_why(spec: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_scenario(spec)
