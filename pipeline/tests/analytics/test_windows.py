"""Sliding windows on hand-computed inputs: membership, counts, uniques, emotes, lateness, money."""

from __future__ import annotations

import pytest
from builders import T0, chat, event, viewers

from telemetra.analytics.config import AnalyticsConfig, ChatSpike, MomentThresholds
from telemetra.analytics.stream import StreamAnalytics
from telemetra.analytics.windows import window_starts
from telemetra.contract import Event, format_ts
from telemetra.records import WindowMetrics, parse_ts


def run(
    events: list[Event], config: AnalyticsConfig | None = None
) -> tuple[StreamAnalytics, list[WindowMetrics]]:
    stream = StreamAnalytics("s", config)
    windows = [w for e in events for w in stream.process(e).windows]
    return stream, windows


def closed(events: list[Event], config: AnalyticsConfig | None = None) -> dict[float, WindowMetrics]:
    stream, windows = run(events, config)
    windows += stream.flush().windows
    return {T0 + (int(w.window_start[14:16]) - 14) * 60 + int(w.window_start[17:19]): w for w in windows}


def at(windows: dict[float, WindowMetrics], offset: float) -> WindowMetrics:
    return windows[T0 + offset]


def test_an_instant_belongs_to_six_windows_half_open() -> None:
    assert window_starts(T0, 60, 10) == [T0 - 50 + k * 10 for k in range(6)]
    assert window_starts(T0 + 9.999, 60, 10) == window_starts(T0, 60, 10)
    assert window_starts(T0 + 10, 60, 10)[0] == T0 - 40  # [T0-50, T0+10) no longer holds T0+10


def test_one_event_lands_in_six_windows() -> None:
    windows = closed([chat(5)])
    assert sorted(windows) == [T0 + s for s in (-50, -40, -30, -20, -10, 0)]
    assert all(w.messages == 1 for w in windows.values())


def test_event_at_a_window_start_is_in_it_and_at_its_end_is_not() -> None:
    windows = closed([chat(0, text="first"), chat(60, text="second")])
    assert at(windows, 0).messages == 1  # [0, 60) holds 0 but not 60
    assert at(windows, 10).messages == 1  # [10, 70) holds 60 only
    assert at(windows, 60).messages == 1
    assert -50 + T0 in windows and -60 + T0 not in windows


def test_counts_rate_exact_uniques_and_emote_ranking() -> None:
    events = [
        chat(1, "ann", "KEKW KEKW", ["KEKW", "KEKW"]),
        chat(2, "bob", "LUL", ["LUL"]),
        chat(3, "ann", "PogChamp LUL", ["PogChamp", "LUL"]),
        chat(4, "cid", "Kappa", ["Kappa"]),
        chat(5, "bob", "hello"),
    ]
    w = at(closed(events), 0)
    assert (w.messages, w.unique_chatters, w.chat_rate) == (5, 3, round(5 / 60, 6))
    # by count descending, then name: KEKW 2, LUL 2, then Kappa 1 and PogChamp 1 in name order
    assert w.top_emotes == [
        {"emote": "KEKW", "count": 2},
        {"emote": "LUL", "count": 2},
        {"emote": "Kappa", "count": 1},
        {"emote": "PogChamp", "count": 1},
    ]
    assert w.emote_total == 6
    assert w.window_start == format_ts(T0).replace(".000Z", "Z")
    assert w.window_end == format_ts(T0 + 60).replace(".000Z", "Z")


def test_top_emotes_keep_at_most_ten() -> None:
    names = [f"Emote{i:02d}" for i in range(14)]
    w = at(closed([chat(1, text=" ".join(names), emotes=names)]), 0)
    assert [e["emote"] for e in w.top_emotes] == names[:10]


def test_emotes_are_recognised_from_text_when_the_event_has_none() -> None:
    w = at(closed([chat(1, text="that was insane PogChamp PogChamp KEKW")]), 0)
    assert w.top_emotes == [{"emote": "PogChamp", "count": 2}, {"emote": "KEKW", "count": 1}]


def test_sentiment_mean_and_split() -> None:
    events = [
        chat(1, text="this is awesome!"),
        chat(2, text="so boring ResidentSleeper"),
        chat(3, text="what game is this"),
    ]
    w = at(closed(events), 0)
    assert (w.positive, w.neutral, w.negative) == (1, 1, 1)
    assert w.sentiment is not None and -1 <= w.sentiment <= 1


def test_window_without_chat_has_null_sentiment_but_viewers() -> None:
    w = at(closed([viewers(3, 1200), viewers(8, 1500), viewers(40, 1300)]), 0)
    assert (w.messages, w.unique_chatters, w.sentiment, w.top_emotes) == (0, 0, None, [])
    assert (w.viewers, w.viewers_max) == (1300, 1500)  # last by event time, not by arrival


def test_viewers_last_is_by_event_time_even_out_of_order() -> None:
    w = at(closed([viewers(40, 900), viewers(32, 2000)]), 0)  # 32 arrives late but within the watermark
    assert (w.viewers, w.viewers_max) == (900, 2000)


def test_late_events_are_dropped_and_counted() -> None:
    stream, _ = run([chat(100), chat(85)])  # watermark = 100 - 10 = 90: 85 is late
    assert stream.late_events == 1
    windows = closed([chat(100), chat(85), chat(120)])
    assert T0 + 40 not in windows  # [40, 100) would hold only the late event
    assert at(windows, 80).messages == 2  # [80, 140) holds 100 and 120
    assert sum(w.late_events for w in windows.values()) == 1


def test_out_of_order_within_the_watermark_is_accepted() -> None:
    stream, _ = run([chat(100), chat(91), chat(90)])  # watermark 90: both accepted (90 is not older)
    assert stream.late_events == 0
    windows = closed([chat(100), chat(91), chat(90)])
    assert at(windows, 50).messages == 3


def test_windows_close_only_when_the_watermark_passes_their_end() -> None:
    stream, windows = run([chat(1), chat(69.9)])  # watermark 59.9: windows ending at 10 … 50 are closed
    assert [w.window_end for w in windows] == [format_ts(T0 + 10 * k)[:19] + "Z" for k in range(1, 6)]
    out = stream.process(chat(70))  # watermark 60: [0, 60) closes, with the event at 1 only
    assert [(w.window_start, w.messages) for w in out.windows] == [(format_ts(T0)[:19] + "Z", 1)]


def test_duplicates_are_counted_once() -> None:
    first = chat(3, "ann")
    stream = StreamAnalytics("s")
    stream.process(first)
    stream.process(first)
    assert stream.duplicates == 1
    assert stream.flush().windows[-1].messages == 1


def test_revenue_in_usd_and_transactions_by_kind() -> None:
    money = [
        event("transaction", 1, kind="sub", user_id="a", amount=4.99, currency="USD", tier="1000"),
        event("transaction", 2, kind="resub", user_id="b", amount=0, currency="USD", tier="3000"),
        event("transaction", 3, kind="gift", user_id="c", amount=0, currency="USD", tier="2000", count=5),
        event("transaction", 4, kind="bits", user_id="d", amount=250, currency="BITS"),
        event("transaction", 5, kind="donation", user_id="e", amount=10, currency="EUR"),
        event("transaction", 6, kind="donation", user_id="f", amount=10, currency="XTS"),  # no known rate
    ]
    w = at(closed(money), 0)
    assert w.revenue_usd == pytest.approx(4.99 + 24.99 + 5 * 9.99 + 2.50 + 10 * 1.16)
    assert w.transactions == {"bits": 1, "donation": 2, "gift": 1, "resub": 1, "sub": 1}
    assert w.bits == 250


def test_live_window_is_provisional_and_ends_at_the_next_slide() -> None:
    stream, _ = run([chat(1), chat(12), chat(14)])
    live = stream.live_window()
    assert live is not None and not live.final
    assert live.window_end == format_ts(T0 + 20)[:19] + "Z"
    assert live.messages == 3


def test_window_and_slide_are_settings() -> None:
    windows = closed([chat(5)], AnalyticsConfig(window=30, slide=15))
    assert sorted(windows) == [T0 - 15, T0]
    with pytest.raises(ValueError, match="divide"):
        AnalyticsConfig(window=60, slide=25)


def test_new_thresholds_apply_while_running_and_keep_the_windows() -> None:
    events = [chat(T0 + s, user=f"u{s % 7}") for s in range(0, 300, 3)]
    stream, windows = run(events[:50])
    config = AnalyticsConfig(thresholds=MomentThresholds(chat_spike=ChatSpike(ratio=1.5)))
    assert stream.reconfigure(config).windows == []  # same geometry: nothing closes
    assert stream.config == config and stream.detector.t == config.thresholds
    windows += [w for e in events[50:] for w in stream.process(e).windows] + stream.flush().windows
    assert windows == list(closed(events).values())  # no gap, nothing changed


def test_a_new_geometry_closes_the_open_windows_and_starts_afresh() -> None:
    events = [chat(T0 + s) for s in range(0, 90, 5)]
    stream, _ = run(events)
    ended = stream.reconfigure(AnalyticsConfig(window=30, slide=10))
    reference, _ = run(events)
    assert ended.windows == reference.flush().windows != []  # as at the end of input
    assert (stream.window, stream.slide, stream.panes) == (30, 10, {})
    assert stream.process(chat(T0 + 10)).windows == [] and stream.late_events == 1  # still late
    later = [w for s in range(90, 200, 5) for w in stream.process(chat(T0 + s)).windows]
    assert later and {parse_ts(w.window_end) - parse_ts(w.window_start) for w in later} == {30}
