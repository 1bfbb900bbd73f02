"""Moment detection on hand-made streams: warm-up, one record per episode, raids, thresholds per stream."""

from __future__ import annotations

import pytest
from builders import T0, chat, event, viewers

from telemetra.analytics.config import AnalyticsConfig, ChatSpike, MomentThresholds
from telemetra.analytics.moments import describe, moment_id
from telemetra.analytics.stream import StreamAnalytics
from telemetra.analytics.vod import twitch_time
from telemetra.contract import Event
from telemetra.records import Moment, format_ts


def steady_chat(start: float, end: float, per_second: float, users: int = 40) -> list[Event]:
    """Evenly spaced messages (a perfectly steady baseline: its MAD is zero)."""
    step = 1 / per_second
    count = int((end - start) * per_second)
    return [chat(start + i * step, user=f"u{i % users}", text="what game is this") for i in range(count)]


def detect(events: list[Event], config: AnalyticsConfig | None = None) -> list[Moment]:
    stream = StreamAnalytics("s", config)
    found: dict[str, Moment] = {}
    for e in sorted(
        events, key=lambda e: (e.ts, e.type != "stream_meta")
    ):  # Twitch's raid notice comes first
        found.update((m.moment_id, m) for m in stream.process(e).moments)
    found.update((m.moment_id, m) for m in stream.flush().moments)
    return sorted(found.values(), key=lambda m: m.start)


def test_no_moment_during_warm_up_even_for_a_huge_spike() -> None:
    events = steady_chat(0, 60, 2) + steady_chat(60, 70, 40) + steady_chat(70, 100, 2)
    assert detect(events) == []


def test_a_spike_after_warm_up_is_one_moment_with_start_peak_and_end() -> None:
    events = steady_chat(0, 400, 2) + steady_chat(400, 430, 12, users=200) + steady_chat(430, 600, 2)
    moments = detect(events)
    assert [m.kind for m in moments] == ["chat_spike"]
    spike = moments[0]
    assert spike.moment_id == moment_id("s", "chat_spike", 1_790_000_040 + 400)
    assert (spike.start[11:19], spike.end[11:19]) == ("14:20:40", "14:21:10")
    assert spike.value == 12.0 and spike.baseline == 2.0 and spike.threshold >= 4.0
    assert spike.description == "Chat exploded to 12.0 msg/s, 6.0× normal"
    assert not spike.ongoing
    assert spike.detected_at < spike.end  # reported while the pane was still open


def test_a_steady_baseline_does_not_turn_small_wobbles_into_moments() -> None:
    # MAD is zero here; a plain z-score would call +25% infinite. The Poisson floor and the ratio say no.
    events = steady_chat(0, 400, 4) + steady_chat(400, 440, 5) + steady_chat(440, 600, 4)
    assert detect(events) == []


def test_thresholds_are_settable_per_stream() -> None:
    events = steady_chat(0, 400, 2) + steady_chat(400, 430, 7) + steady_chat(430, 600, 2)
    assert [m.kind for m in detect(events)] == ["chat_spike"]
    strict = AnalyticsConfig(thresholds=MomentThresholds(chat_spike=ChatSpike(ratio=4.0)))
    assert detect(events, strict) == []


@pytest.mark.parametrize(
    ("factor", "found_at"),
    [(2.2, {"high"}), (2.6, {"normal", "high"}), (3.2, {"low", "normal", "high"})],
)
def test_sensitivity_sets_how_big_a_spike_must_be(factor: float, found_at: set[str]) -> None:
    # a steady 4 msg/s: the ratios decide (2.4× at normal; 1 + 1.4 × 0.8 = 2.12× high, 1 + 1.4 × 1.25 = 2.75× low)
    events = steady_chat(0, 400, 4) + steady_chat(400, 430, 4 * factor, users=200) + steady_chat(430, 600, 4)
    found = {
        sensitivity
        for sensitivity in ("low", "normal", "high")
        if detect(events, AnalyticsConfig(thresholds=MomentThresholds(sensitivity=sensitivity)))
    }
    assert found == found_at


def test_the_rank_puts_bigger_spikes_first() -> None:
    events = steady_chat(0, 400, 2) + steady_chat(400, 430, 7, users=60) + steady_chat(430, 800, 2)
    events += steady_chat(800, 830, 16, users=60) + steady_chat(830, 1000, 2)
    small, big = detect(events)
    assert (small.kind, big.kind) == ("chat_spike", "chat_spike")
    assert small.rank is not None and big.rank is not None
    assert big.rank > small.rank > 0
    assert [m.moment_id for m in sorted([small, big], key=lambda m: -(m.rank or 0))] == [
        big.moment_id,
        small.moment_id,
    ]


def test_the_rank_counts_the_chatters_who_joined_in() -> None:
    def spike(users: int) -> Moment:
        [moment] = detect(
            steady_chat(0, 400, 2) + steady_chat(400, 430, 12, users=users) + steady_chat(430, 600, 2)
        )
        return moment

    few, many = spike(5), spike(120)
    assert (few.score, few.value) == (many.score, many.value)  # the same spike …
    assert few.rank is not None and many.rank is not None and many.rank > few.rank  # … joined in by more


def test_a_raid_is_a_moment_and_its_chat_burst_and_viewers_are_not_extra_ones() -> None:
    events = steady_chat(0, 600, 2)
    events += [viewers(t, 1000) for t in range(0, 400, 5)] + [viewers(t, 2500) for t in range(400, 600, 5)]
    events += [event("stream_meta", 400, kind="raid", from_stream="friend", raid_viewers=1500)]
    events += steady_chat(400, 430, 10, users=300)
    moments = detect(events)
    assert [(m.kind, m.description) for m in moments] == [("raid", "Raided by friend with 1,500 viewers")]


def test_viewer_surge_and_drop() -> None:
    surge = [viewers(t, 1000 + (t % 10)) for t in range(0, 400, 5)] + [
        viewers(t, 2600) for t in range(400, 700, 5)
    ]
    drop = [viewers(t, 1000 + (t % 10)) for t in range(0, 400, 5)] + [
        viewers(t, 400) for t in range(400, 700, 5)
    ]
    assert [m.kind for m in detect(surge)] == ["viewer_surge"]
    assert [m.kind for m in detect(drop)] == ["viewer_drop"]
    assert detect(drop)[0].description.startswith("Viewers dropped to 400 from about 1,00")


def test_a_gift_bomb_is_a_revenue_spike() -> None:
    def sub(t: float) -> Event:
        return event("transaction", t, kind="sub", user_id="u", amount=4.99, currency="USD", tier="1000")

    money = [sub(t) for t in range(0, 600, 7)]
    bomb = event(
        "transaction", 400.5, kind="gift", user_id="g", amount=0, currency="USD", tier="1000", count=50
    )
    moments = detect([*money, bomb])
    assert [m.kind for m in moments] == ["revenue_spike"]
    assert moments[0].value >= 249.5


def test_sentiment_swing() -> None:
    calm = [chat(i / 4, user=f"u{i}", text="what game is this") for i in range(0, 1600)]
    angry = [chat(400 + i / 4, user=f"v{i}", text="this is terrible Sadge") for i in range(0, 360)]
    moments = detect(calm + angry)
    assert "sentiment_swing" in [m.kind for m in moments]
    swing = next(m for m in moments if m.kind == "sentiment_swing")
    assert swing.value < swing.baseline and "negative" in swing.description


def test_descriptions_read_like_sentences() -> None:
    assert describe("chat_spike", 14.2, 14.2 / 6.1) == "Chat exploded to 14.2 msg/s, 6.1× normal"
    assert describe("revenue_spike", 250, 10) == "$250.00 in one burst, 25× the usual $10.00 per 10 s"


def test_moments_carry_their_offset_from_the_first_event_without_a_start() -> None:
    [spike] = detect(steady_chat(0, 400, 2) + steady_chat(400, 430, 12) + steady_chat(430, 600, 2))
    assert spike.start == format_ts(T0 + 400) and spike.offset_seconds == 400 and spike.vod_url is None


def test_a_start_event_sets_the_offset_origin_and_its_vod_id_the_link() -> None:
    events = steady_chat(0, 600, 2) + steady_chat(600, 630, 12) + steady_chat(630, 800, 2)
    events += [
        event("stream_meta", -3723 + 600, kind="start", vod_id="2223334445")
    ]  # 1h2m3s before the spike
    events += [event("stream_meta", 700, kind="raid", from_stream="friend", raid_viewers=50)]
    spike, raid = detect(events)
    assert (spike.kind, spike.offset_seconds) == ("chat_spike", 3723)
    assert spike.vod_url == "https://www.twitch.tv/videos/2223334445?t=1h2m3s"
    assert (raid.kind, raid.offset_seconds) == ("raid", 3823)
    assert raid.vod_url == "https://www.twitch.tv/videos/2223334445?t=1h3m43s"


def test_twitch_time() -> None:
    times = [twitch_time(s) for s in (0, 59, 60, 3600, 3723, 36061)]
    assert times == ["0s", "59s", "1m0s", "1h0m0s", "1h2m3s", "10h1m1s"]
