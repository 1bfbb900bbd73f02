"""Hot right now (/api/v1/hot) over data the real engine produced, in SQLite and a real PostgreSQL: the ranking
is the documented formula over each stream's own windows and moments, paged by cursor, filtered by category."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from telemetra.contract import parse_ts
from telemetra.dev.testing.services import STREAMS
from telemetra.engine.offline import OfflineResult
from telemetra.services.api.schemas import HotList

CATEGORIES = {"alpha": "Just Chatting", "beta": "just chatting", "gamma": "Fortnite"}


def expected_hype(data: OfflineResult, stream_id: str, minutes: int) -> float:
    """The documented formula, from the records themselves."""
    windows = [w for w in data.windows if w.stream_id == stream_id]
    now = parse_ts(windows[-1].window_end)
    recent = now - minutes * 60
    baseline = [
        w.chat_rate for w in windows if now - 3600 - minutes * 60 <= parse_ts(w.window_start) < recent
    ]
    ratio = windows[-1].chat_rate / max(sum(baseline) / len(baseline), 0.1) if baseline else 0.0
    latest = {m.moment_id: m for m in data.moments if m.stream_id == stream_id}  # the last version of each
    moments = [m for m in latest.values() if parse_ts(m.end) >= recent]
    best = max((m.rank or 0.0 for m in moments), default=0.0)
    return ratio + len(moments) + math.log2(1 + best)


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, make_api: Callable[..., Any], dataset: OfflineResult) -> Any:
    api = make_api(store=request.param, data=dataset)
    for stream_id, category in CATEGORIES.items():
        assert api.server.run(api.server.state.store.set_stream_meta(stream_id, None, category))
    return api


def test_live_streams_ranked_by_hype_paged_and_filtered(api: Any, dataset: OfflineResult) -> None:
    with api.client() as client:
        body = HotList.model_validate(client.get("/api/v1/hot", params={"minutes": 6}).json())
        expected = {s: expected_hype(dataset, s, 6) for s in STREAMS}
        assert {i.stream_id: i.hype for i in body.items} == pytest.approx(expected, abs=1e-3)
        order = sorted(STREAMS, key=lambda s: (-round(expected[s], 3), s))
        assert [i.stream_id for i in body.items] == order and body.next_cursor is None
        assert body.categories == ["Fortnite", "Just Chatting", "just chatting"]
        assert all(i.moments >= 1 and i.best_rank and i.chat_ratio is not None for i in body.items)

        pages, cursor = [], None
        while True:  # one at a time: the same order, each once
            answer = client.get(
                "/api/v1/hot", params={"minutes": 6, "limit": 1, **({"cursor": cursor} if cursor else {})}
            )
            pages += [item["stream_id"] for item in answer.json()["items"]]
            cursor = answer.json()["next_cursor"]
            if cursor is None or len(pages) > 3:
                break
        assert pages == order

        chatting = client.get("/api/v1/hot", params={"minutes": 6, "category": "JUST CHATTING", "limit": 1})
        first = chatting.json()
        assert [i["stream_id"] for i in first["items"]] == [s for s in order if s != "gamma"][:1]
        assert (
            first["categories"] == body.categories
        )  # the filter's choices stay all live streams' categories
        other = client.get("/api/v1/hot", params={"minutes": 6, "cursor": first["next_cursor"]})
        assert other.status_code == 422 and "another listing" in other.text  # a cursor is for its own filter
        assert client.get("/api/v1/hot", params={"minutes": 0}).status_code == 422
        quiet = client.get("/api/v1/hot", params={"category": "Chess"}).json()
        assert quiet["items"] == [] and quiet["next_cursor"] is None
