"""Window geometry is a per-stream fact: a stream with 30 s windows sliding every 5 s is described with its
geometry by the engine, served with it, and rolled up to exact 1-minute and 5-minute buckets."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from telemetra.analytics.config import AnalyticsConfig
from telemetra.dev.testing.services import START, mock_lines
from telemetra.engine.core import Engine, Step
from telemetra.records import WindowMetrics, parse_ts
from telemetra.services.output import ServiceOutput

STREAM = "short"
EXACT = ("messages", "chat_rate", "positive", "neutral", "negative", "revenue_usd", "transactions", "bits",
         "emote_total")  # fmt: skip


def run_engine(config: AnalyticsConfig, lines: list[bytes]) -> tuple[Engine, Step]:
    engine = Engine(config)
    step = engine.process(((line, f"log:{n}") for n, line in enumerate(lines, 1)), live=False)
    step.extend(engine.flush())
    return engine, step


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return mock_lines([STREAM], seconds=600, rate=15, seed=23, scenarios=["hype@300", "gift_bomb@420"])


def store_stream(api: Any, config: AnalyticsConfig, lines: list[bytes]) -> None:
    """The engine's output for ``lines`` through the services' output port into the API's store."""
    engine, step = run_engine(config, lines)

    async def write() -> None:
        output = ServiceOutput(api.server.state.store, api.server.state.cache)
        await engine.emit(step, output)
        assert await output.flush()

    api.server.run(write())


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, make_api: Any, lines: list[bytes]) -> Any:
    """An API whose store got the 30 s / 5 s stream through the engine's output port, as in every mode."""
    api = make_api(store=request.param)
    store_stream(api, AnalyticsConfig(window=30, slide=5), lines)
    return api


def exact_fields(window: dict[str, Any] | WindowMetrics) -> dict[str, Any]:
    data = window if isinstance(window, dict) else window.to_dict()
    return {"window_start": data["window_start"], "window_end": data["window_end"]} | {
        name: pytest.approx(data[name]) if isinstance(data[name], float) else data[name] for name in EXACT
    }


def reference_buckets(lines: list[bytes], length: int) -> list[dict[str, Any]]:
    """The same traffic through a stream with 60 s windows: its tiling windows are exact minutes; summed
    five at a time, exact five-minute buckets."""
    _, step = run_engine(AnalyticsConfig(), lines)
    minutes = [w for w in step.windows if int(parse_ts(w.window_start)) % 60 == 0]
    if length == 60:
        return [exact_fields(w) for w in minutes]
    buckets: dict[int, list[WindowMetrics]] = {}
    for window in minutes:
        start = int(parse_ts(window.window_start))
        buckets.setdefault(start - start % length, []).append(window)
    merged = []
    for start, group in sorted(buckets.items()):
        first, last = group[0].to_dict(), group[-1].to_dict()
        messages = sum(w.messages for w in group)
        merged.append(
            {"window_start": first["window_start"].replace(first["window_start"][11:19], _clock(start)),
             "window_end": last["window_end"].replace(last["window_end"][11:19], _clock(start + length)),
             "messages": messages, "chat_rate": pytest.approx(round(messages / length, 6)),
             "positive": sum(w.positive for w in group), "neutral": sum(w.neutral for w in group),
             "negative": sum(w.negative for w in group),
             "revenue_usd": pytest.approx(round(sum(w.revenue_usd for w in group), 6)),
             "transactions": _sum_counts(w.transactions for w in group), "bits": sum(w.bits for w in group),
             "emote_total": sum(w.emote_total for w in group)}
        )  # fmt: skip
    return merged


def _clock(epoch: int) -> str:
    return f"{epoch // 3600 % 24:02d}:{epoch // 60 % 60:02d}:{epoch % 60:02d}"


def _sum_counts(counts: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for item in counts:
        for kind, count in item.items():
            total[kind] = total.get(kind, 0) + count
    return dict(sorted(total.items()))


def served(api: Any, resolution: str) -> list[dict[str, Any]]:
    with api.client() as client:
        answer = client.get(f"/api/v1/streams/{STREAM}/metrics", params={"resolution": resolution, "limit": 1000,
                            "from": "2026-09-21T14:00:00Z", "to": "2026-09-21T15:00:00Z"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_the_stream_is_served_with_its_geometry(api: Any) -> None:
    with api.client() as client:
        detail = client.get(f"/api/v1/streams/{STREAM}").json()
        listed = client.get("/api/v1/streams").json()["items"]
    assert (detail["window_seconds"], detail["slide_seconds"]) == (30, 5)
    assert [(s["window_seconds"], s["slide_seconds"]) for s in listed] == [(30, 5)]


@pytest.mark.parametrize("resolution", ["1m", "5m"])
def test_roll_ups_follow_the_streams_window(api: Any, lines: list[bytes], resolution: str) -> None:
    length = 60 if resolution == "1m" else 300
    got = [exact_fields(w) for w in served(api, resolution)]
    want = reference_buckets(lines, length)
    whole = [w for w in want if parse_ts(w["window_start"]) >= START]  # the traffic starts on a 5-minute mark
    assert len(got) >= 10 if resolution == "1m" else len(got) >= 2
    assert got == whole[: len(got)]
    assert all(parse_ts(w["window_end"]) - parse_ts(w["window_start"]) == length for w in got)


def test_the_finest_resolution_is_every_window_of_the_slide(api: Any) -> None:
    items = served(api, "10s")
    starts = [parse_ts(w["window_start"]) for w in items]
    assert {b - a for a, b in itertools.pairwise(starts)} == {5.0}
    assert all(parse_ts(w["window_end"]) - parse_ts(w["window_start"]) == 30 for w in items)


def test_a_resolution_the_windows_cannot_tile_is_refused(make_api: Any, lines: list[bytes]) -> None:
    api = make_api()
    store_stream(api, AnalyticsConfig(window=120, slide=20), lines)
    with api.client() as client:
        answer = client.get(f"/api/v1/streams/{STREAM}/metrics", params={"resolution": "1m"})
        five = client.get(f"/api/v1/streams/{STREAM}/metrics", params={"resolution": "5m"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "resolution"]
    assert "120 s" in answer.json()["detail"][0]["msg"]
    assert five.status_code == 422  # 300 s is not a multiple of 120 s either
