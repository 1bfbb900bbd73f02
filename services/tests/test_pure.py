"""Pure helpers: roll-ups, cursors, settings parsing."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from telemetra.records import WindowMetrics
from telemetra.services import cursor, rollup
from telemetra.services.api.middleware import TokenBuckets
from telemetra.services.settings import Settings, default_store_url, sqlite_path


def tile(start: str, **values: Any) -> WindowMetrics:
    base = WindowMetrics(
        stream_id="s", window_start=start, window_end=start, messages=0, chat_rate=0.0, unique_chatters=0,
        top_emotes=[], sentiment=None, positive=0, neutral=0, negative=0, viewers=None, viewers_max=None,
        revenue_usd=0.0, transactions={}, late_events=0, bits=0, emote_total=0, final=True,
    )  # fmt: skip
    return dataclasses.replace(base, **values)


def test_five_minute_merge_sums_and_weights() -> None:
    minutes = [
        tile("2026-01-01T00:00:00Z", messages=60, sentiment=0.5, positive=30, neutral=30, viewers=10, viewers_max=12,
             top_emotes=[{"emote": "LUL", "count": 5}, {"emote": "Kappa", "count": 1}], transactions={"sub": 1},
             revenue_usd=4.99, unique_chatters=20, bits=100, emote_total=6),
        tile("2026-01-01T00:01:00Z", messages=0, viewers=None, viewers_max=None),
        tile("2026-01-01T00:02:00Z", messages=240, sentiment=-0.25, negative=240, viewers=30, viewers_max=31,
             top_emotes=[{"emote": "Kappa", "count": 9}], transactions={"sub": 2, "bits": 1}, revenue_usd=10.0,
             unique_chatters=50, late_events=2, emote_total=9, final=False),
    ]  # fmt: skip
    merged = rollup.merge("s", 1_767_225_600, 300, minutes)
    assert (merged.window_start, merged.window_end) == ("2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z")
    assert merged.messages == 300 and merged.chat_rate == 1.0
    assert merged.sentiment == pytest.approx((0.5 * 60 - 0.25 * 240) / 300)
    assert (merged.positive, merged.neutral, merged.negative) == (30, 30, 240)
    assert (merged.viewers, merged.viewers_max) == (30, 31)
    assert merged.top_emotes == [{"emote": "Kappa", "count": 10}, {"emote": "LUL", "count": 5}]
    assert merged.transactions == {"bits": 1, "sub": 3}
    assert merged.revenue_usd == pytest.approx(14.99)
    assert merged.unique_chatters == 50  # the largest minute: a lower bound
    assert (merged.bits, merged.late_events, merged.emote_total) == (100, 2, 15)
    assert merged.final is False


def test_merge_without_messages_has_no_sentiment() -> None:
    merged = rollup.merge("s", 0, 300, [tile("1970-01-01T00:00:00Z")])
    assert merged.sentiment is None and merged.viewers is None and merged.chat_rate == 0


def test_buckets_group_by_aligned_start() -> None:
    tiles = [tile(f"2026-01-01T00:0{m}:00Z") for m in range(10)]
    grouped = rollup.buckets(tiles, 300)
    assert [(start % 300, len(group)) for start, group in grouped] == [(0, 5), (0, 5)]


def test_cursor_round_trip_and_rejections() -> None:
    text = cursor.encode("metrics:a:10s", [1_790_000_100.0])
    assert cursor.decode(text, "metrics:a:10s") == [1_790_000_100.0]
    with pytest.raises(cursor.BadCursor, match="another listing"):
        cursor.decode(text, "metrics:a:1m")
    for garbage in ("", "!!!", "bm90LWpzb24", cursor.encode("x", []).replace("e", "f"), "A" * 600):
        with pytest.raises(cursor.BadCursor):
            cursor.decode(garbage, "x")


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEMETRA_STORE_URL", "postgresql://u@db/telemetra")
    monkeypatch.setenv("TELEMETRA_CACHE_URL", "redis://cache:6379/0")
    monkeypatch.setenv("TELEMETRA_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("TELEMETRA_API_TOKENS", "abcdefghijklmnop:write+read,qrstuvwxyz0123456")
    monkeypatch.setenv("TELEMETRA_PUBLIC_READS", "false")
    settings = Settings()
    assert (
        settings.store_url == "postgresql://u@db/telemetra" and settings.cache_url == "redis://cache:6379/0"
    )
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert [sorted(t.scopes) for t in settings.api_tokens] == [["read", "write"], ["admin"]]
    assert "abcdefghijklmnop" not in repr(settings)  # secrets stay out of logs
    assert settings.public_reads is False


@pytest.mark.parametrize(
    ("tokens", "problem"), [("short:admin", "at least 16"), ("abcdefghijklmnop:root", "unknown scope")]
)
def test_bad_tokens_are_rejected(tokens: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings(api_tokens=tokens)


def test_store_url_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert sqlite_path("sqlite:///abs/x.db") == Path("/abs/x.db")
    assert sqlite_path("sqlite:////abs/x.db") == Path("/abs/x.db")
    assert sqlite_path("sqlite://./rel/x.db") == Path("rel/x.db")
    monkeypatch.chdir(tmp_path)
    assert default_store_url().endswith("/telemetra.db") and ".telemetra" not in default_store_url()
    (tmp_path / ".telemetra").mkdir()
    (tmp_path / ".telemetra" / "telemetra.db").touch()
    assert default_store_url() == f"sqlite:///{tmp_path / '.telemetra' / 'telemetra.db'}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_buckets_refill_at_their_rate_up_to_the_burst() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=2, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == pytest.approx(0.5)  # one token comes in half a second
    assert buckets.take("b") == 0  # clients do not share a bucket
    clock.now = 0.5
    assert buckets.take("a") == 0
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now = 100  # a long pause refills to the burst, not beyond
    assert [buckets.take("a") for _ in range(4)][-1] > 0


def test_token_buckets_forget_the_least_recently_seen_client_beyond_the_cap() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=1, burst=1, max_clients=2, clock=clock)
    buckets.take("a")
    buckets.take("b")
    buckets.take("a")  # a is now the most recent
    buckets.take("c")
    assert len(buckets) == 2
    assert buckets.take("a") > 0  # still remembered (and empty)
    assert buckets.take("b") == 0  # forgotten: back with a full bucket
