"""Every read endpoint against every combination of store (SQLite, PostgreSQL) and cache (in-process, Redis),
over data the real engine produced from mock traffic."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from telemetra.contract import parse_ts
from telemetra.dev.testing.services import STREAMS, eventually, metric_value
from telemetra.services import cursor
from telemetra.services.api.schemas import MetricsPage, MomentsPage, Readiness, StreamDetail, StreamList
from telemetra.services.storage import StoreUnavailable
from telemetra.services.storage.base import STREAM_SORTS


def windows_of(api: Any, stream_id: str) -> list[dict[str, Any]]:
    return [w.to_dict() for w in api.data.windows if w.stream_id == stream_id]


def moments_of(api: Any, stream_id: str) -> list[dict[str, Any]]:
    found = [m.to_dict() for m in api.data.moments if m.stream_id == stream_id]
    return sorted(found, key=lambda m: (m["start"], m["moment_id"]), reverse=True)


def all_pages(client: Any, path: str, **params: Any) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    for _ in range(1000):  # a cursor that does not advance must fail the test, not hang it
        answer = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("pagination did not end")


# -- health ----------------------------------------------------------------------------------------------
def test_health_and_readiness(api: Any) -> None:
    with api.client() as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready")
    assert ready.status_code == 200
    body = Readiness.model_validate(ready.json())
    assert body.status == "ready" and body.reason is None
    assert body.checks["store"].backend == api.backends[0] and body.checks["store"].status == "up"
    assert body.checks["cache"].backend == api.backends[1] and body.checks["cache"].status == "up"


def test_openapi_document_and_docs(api: Any) -> None:
    with api.client() as client:
        document = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert {"/api/v1/streams", "/api/v1/streams/{stream_id}/metrics", "/ready"} <= set(document["paths"])
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


# -- streams ---------------------------------------------------------------------------------------------
def test_stream_list_has_current_state_and_latest_moment(api: Any) -> None:
    with api.client() as client:
        answer = client.get("/api/v1/streams")
    assert answer.status_code == 200
    body = StreamList.model_validate(answer.json()).model_dump(mode="json")
    assert [item["stream_id"] for item in body["items"]] == list(STREAMS)
    assert body["degraded"] == []
    for item in answer.json()["items"]:
        last = windows_of(api, item["stream_id"])[-1]
        assert item["live"] is True
        assert item["viewers"] == last["viewers"] and item["chat_rate"] == last["chat_rate"]
        assert item["latest_moment"] == moments_of(api, item["stream_id"])[0]
        assert parse_ts(item["last_activity"]) > 0


@pytest.mark.parametrize(("live", "count"), [("true", 3), ("false", 0)])
def test_stream_list_live_filter(api: Any, live: str, count: int) -> None:
    with api.client() as client:
        assert len(client.get("/api/v1/streams", params={"live": live}).json()["items"]) == count


@pytest.mark.parametrize("sort", STREAM_SORTS)
def test_stream_list_pages_in_each_order(api: Any, sort: str) -> None:
    with api.client() as client:
        pages = all_pages(client, "/api/v1/streams", sort=sort, limit=1)
        whole = client.get("/api/v1/streams", params={"sort": sort}).json()
    assert [len(page) for page in pages] == [1, 1, 1]
    listed = [page[0]["stream_id"] for page in pages]
    assert listed == [item["stream_id"] for item in whole["items"]] and sorted(listed) == sorted(STREAMS)
    if sort in ("-viewers", "-chat_rate"):  # the newest closed window's (no live window here)
        keys = [(-windows_of(api, s)[-1][sort[1:]], s) for s in listed]
        assert keys == sorted(keys)
    elif sort == "stream_id":
        assert listed == sorted(STREAMS)


def test_stream_list_counts_on_the_first_page(api: Any) -> None:
    with api.client() as client:
        first = client.get("/api/v1/streams", params={"limit": 2}).json()
        second = client.get("/api/v1/streams", params={"limit": 2, "cursor": first["next_cursor"]}).json()
        live = client.get("/api/v1/streams", params={"live": "true", "q": "ga"}).json()
    StreamList.model_validate(first)
    assert [i["stream_id"] for i in first["items"]] == ["alpha", "beta"]
    assert (first["total"], first["live_total"]) == (3, 3) and first["next_cursor"]
    assert [i["stream_id"] for i in second["items"]] == ["gamma"]
    assert (second["total"], second["live_total"], second["next_cursor"]) == (None, None, None)
    assert ([i["stream_id"] for i in live["items"]], live["total"], live["live_total"]) == (["gamma"], 1, 1)


@pytest.mark.parametrize(
    ("q", "found"),
    [("ALP", ["alpha"]), ("a", list(STREAMS)), ("mm", ["gamma"]), ("%", []), ("", list(STREAMS))],
)
def test_stream_list_search(api: Any, q: str, found: list[str]) -> None:
    with api.client() as client:
        body = client.get("/api/v1/streams", params={"q": q, "sort": "-viewers"}).json()
    assert sorted(item["stream_id"] for item in body["items"]) == sorted(found)
    assert body["total"] == len(found)


def listing_cursor(sort: str, key: Any, stream_id: Any = "alpha") -> str:
    return cursor.encode(f"streams:{sort}", [key, stream_id])


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"sort": "viewers"}, ["query", "sort"]),
        ({"sort": "-title"}, ["query", "sort"]),
        ({"limit": "0"}, ["query", "limit"]),
        ({"limit": "1001"}, ["query", "limit"]),
        ({"q": "x" * 101}, ["query", "q"]),
        ({"q": "a\x01b"}, ["query", "q"]),
        ({"live": "maybe"}, ["query", "live"]),
        ({"cursor": "!!"}, ["query", "cursor"]),
        ({"cursor": listing_cursor("-viewers", 3)}, ["query", "cursor"]),  # of another order
        ({"cursor": listing_cursor("stream_id", 3)}, ["query", "cursor"]),
        ({"cursor": listing_cursor("stream_id", None, "UPPER CASE\n")}, ["query", "cursor"]),
        ({"cursor": listing_cursor("-viewers", "many"), "sort": "-viewers"}, ["query", "cursor"]),
        ({"cursor": listing_cursor("-viewers", 2**40), "sort": "-viewers"}, ["query", "cursor"]),
        ({"cursor": listing_cursor("-viewers", 2.5), "sort": "-viewers"}, ["query", "cursor"]),
        ({"cursor": listing_cursor("-chat_rate", None), "sort": "-chat_rate"}, ["query", "cursor"]),
        ({"cursor": listing_cursor("-last_activity", 1e13), "sort": "-last_activity"}, ["query", "cursor"]),
        ({"cursor": cursor.encode("streams:stream_id", [None, "alpha", 1])}, ["query", "cursor"]),
        ({"cursor": cursor.encode("moments:alpha", [0, "alpha"])}, ["query", "cursor"]),
    ],
)
def test_bad_stream_list_parameters_are_422_naming_the_field(
    api: Any, params: dict[str, str], loc: list[str]
) -> None:
    with api.client() as client:
        answer = client.get("/api/v1/streams", params=params)
    assert answer.status_code == 422, answer.text
    assert [e["loc"] for e in answer.json()["detail"]] == [loc]


async def test_stream_list_from_the_cache_while_the_store_is_down(make_api: Any, dataset: Any) -> None:
    """The cache's streams, paged in the same order (its live numbers as keys), searched by id."""
    api = make_api(data=dataset)
    last = {w.stream_id: w for w in dataset.windows}
    viewers = {"alpha": 10, "beta": 30, "gamma": 20}
    live = [dataclasses.replace(last[s], final=False, viewers=n) for s, n in viewers.items()]
    await api.server.arun(api.output().publish_live(live))

    async def down(query: Any) -> Any:
        raise StoreUnavailable("injected outage")

    api.server.state.store.list_streams = down
    with api.client() as client:
        first = client.get("/api/v1/streams", params={"sort": "-viewers", "limit": 2}).json()
        params = {"sort": "-viewers", "limit": 2, "cursor": first["next_cursor"]}
        second = client.get("/api/v1/streams", params=params).json()
        searched = client.get("/api/v1/streams", params={"q": "AMM"}).json()
    assert first["degraded"] == ["store"] and (first["total"], first["live_total"]) == (3, 3)
    assert [(i["stream_id"], i["viewers"]) for i in first["items"]] == [("beta", 30), ("gamma", 20)]
    assert [i["stream_id"] for i in second["items"]] == ["alpha"] and second["next_cursor"] is None
    assert [i["stream_id"] for i in searched["items"]] == ["gamma"]


@pytest.mark.parametrize("stream_id", STREAMS)
def test_stream_detail_round_trips_the_engine_records(api: Any, stream_id: str) -> None:
    with api.client() as client:
        answer = client.get(f"/api/v1/streams/{stream_id}")
    assert answer.status_code == 200
    StreamDetail.model_validate(answer.json())
    body = answer.json()
    assert (
        body["latest_window"] == windows_of(api, stream_id)[-1]
    )  # every field, exactly as the engine made it
    assert body["recent_moments"] == moments_of(api, stream_id)
    assert body["live_window"] is None and body["degraded"] == []


# -- metrics ---------------------------------------------------------------------------------------------
def test_metrics_in_a_time_range(api: Any) -> None:
    params = {"from": "2026-09-21T14:16:00Z", "to": "2026-09-21T16:18:00+02:00", "limit": 1000}
    with api.client() as client:
        answer = client.get("/api/v1/streams/alpha/metrics", params=params)
    assert answer.status_code == 200
    body = MetricsPage.model_validate(answer.json())
    expected = [w for w in windows_of(api, "alpha") if "14:16:00Z" <= w["window_start"][11:] < "14:18:00Z"]
    assert len(expected) == 12
    assert answer.json()["items"] == expected
    assert body.resolution == "10s" and body.next_cursor is None


def test_metrics_pages_cover_everything_once(api: Any) -> None:
    with api.client() as client:
        pages = all_pages(client, "/api/v1/streams/beta/metrics", limit=7)
    assert [len(p) for p in pages] == [7] * 9 + [2]
    assert [w for page in pages for w in page] == windows_of(api, "beta")


def test_metrics_one_minute_resolution_is_the_tiling_windows(api: Any) -> None:
    with api.client() as client:
        body = client.get("/api/v1/streams/gamma/metrics", params={"resolution": "1m"}).json()
    tiles = [w for w in windows_of(api, "gamma") if w["window_start"].endswith(":00Z")]
    assert body["items"] == tiles and len(tiles) == 10


def test_metrics_five_minute_roll_up(api: Any) -> None:
    tiles = [w for w in windows_of(api, "alpha") if w["window_start"].endswith(":00Z")]
    with api.client() as client:
        pages = all_pages(client, "/api/v1/streams/alpha/metrics", resolution="5m", limit=1)
    buckets = [page[0] for page in pages]
    assert [b["window_start"] for b in buckets] == ["2026-09-21T14:15:00Z", "2026-09-21T14:20:00Z"]
    for bucket, minutes in zip(buckets, (tiles[:5], tiles[5:]), strict=True):
        assert bucket["window_end"] == minutes[-1]["window_end"]
        assert bucket["messages"] == sum(m["messages"] for m in minutes)
        assert bucket["chat_rate"] == pytest.approx(bucket["messages"] / 300)
        assert bucket["revenue_usd"] == pytest.approx(sum(m["revenue_usd"] for m in minutes))
        assert bucket["positive"] + bucket["neutral"] + bucket["negative"] == bucket["messages"]
        assert bucket["viewers_max"] == max(m["viewers_max"] for m in minutes)
        assert bucket["viewers"] == minutes[-1]["viewers"]


def test_metrics_roll_up_range_takes_whole_buckets(api: Any) -> None:
    params = {"resolution": "5m", "from": "2026-09-21T14:16:00Z", "to": "2026-09-21T14:21:00Z"}
    with api.client() as client:
        items = client.get("/api/v1/streams/alpha/metrics", params=params).json()["items"]
    assert [i["window_start"] for i in items] == ["2026-09-21T14:20:00Z"]  # buckets starting in the range


def test_metrics_of_a_known_stream_in_an_empty_range(api: Any) -> None:
    params = {"from": "2030-01-01T00:00:00Z"}
    with api.client() as client:
        body = client.get("/api/v1/streams/alpha/metrics", params=params).json()
    assert body["items"] == [] and body["next_cursor"] is None


# -- moments ---------------------------------------------------------------------------------------------
def test_moments_newest_first(api: Any) -> None:
    with api.client() as client:
        answer = client.get("/api/v1/streams/beta/moments")
    MomentsPage.model_validate(answer.json())
    assert answer.json()["items"] == moments_of(api, "beta")
    assert [m["kind"] for m in answer.json()["items"]] == ["raid", "chat_spike"]


def test_moments_by_kind_and_range(api: Any) -> None:
    with api.client() as client:
        raid = client.get("/api/v1/streams/beta/moments", params={"kind": "raid"}).json()["items"]
        both = client.get(
            "/api/v1/streams/gamma/moments", params=[("kind", "chat_spike"), ("kind", "revenue_spike")]
        )
        early = client.get("/api/v1/streams/gamma/moments", params={"to": "2026-09-21T14:21:00Z"}).json()[
            "items"
        ]
        late = client.get("/api/v1/streams/gamma/moments", params={"from": "2026-09-21T14:21:00Z"}).json()[
            "items"
        ]
    assert [m["kind"] for m in raid] == ["raid"]
    assert len(both.json()["items"]) == 2
    assert [m["kind"] for m in early] == ["chat_spike"]
    assert [m["kind"] for m in late] == ["revenue_spike"]


def test_moments_pagination(api: Any) -> None:
    with api.client() as client:
        pages = all_pages(client, "/api/v1/streams/gamma/moments", limit=1)
    assert [m for page in pages for m in page] == moments_of(api, "gamma")


# -- errors ----------------------------------------------------------------------------------------------
ENDPOINTS = ("/api/v1/streams/{}", "/api/v1/streams/{}/metrics", "/api/v1/streams/{}/moments")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_unknown_stream_is_404(api: Any, path: str) -> None:
    with api.client() as client:
        answer = client.get(path.format("nobody-here"), headers={"X-Request-ID": "req-404"})
    assert answer.status_code == 404
    assert answer.json() == {"detail": "unknown stream", "request_id": "req-404"}


@pytest.mark.parametrize("path", ENDPOINTS[1:])
async def test_a_stream_with_only_an_open_window_has_empty_history(
    make_api: Any, dataset: Any, path: str
) -> None:
    """In a stream's first minute only the live cache knows it: its history is empty, not 404."""
    api = make_api()
    opening = dataclasses.replace(dataset.windows[0], stream_id="newcomer", final=False)
    await api.server.arun(api.output().publish_live([opening]))
    async with httpx.AsyncClient(base_url=api.url) as client:
        answer = await client.get(path.format("newcomer"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] == []


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("bad", ["UPPER", "-dash-first", "a" * 65, "dot.ted", "sp ace"])
def test_bad_stream_id_is_422_naming_the_field(api: Any, path: str, bad: str) -> None:
    with api.client() as client:
        answer = client.get(path.format(bad))
    assert answer.status_code == 422
    assert [e["loc"] for e in answer.json()["detail"]] == [["path", "stream_id"]]


@pytest.mark.parametrize(
    ("path", "params", "loc"),
    [
        ("metrics", {"limit": "0"}, ["query", "limit"]),
        ("metrics", {"limit": "1001"}, ["query", "limit"]),
        ("metrics", {"limit": "many"}, ["query", "limit"]),
        ("metrics", {"resolution": "2m"}, ["query", "resolution"]),
        ("metrics", {"from": "2026-09-21T14:16:00"}, ["query", "from"]),  # no offset
        ("metrics", {"from": "yesterday"}, ["query", "from"]),
        ("metrics", {"from": "0001-01-01T00:00:00Z"}, ["query", "from"]),
        ("metrics", {"to": "3001-01-01T00:00:00Z"}, ["query", "to"]),
        ("metrics", {"from": "2026-09-21T14:16:00Z", "to": "2026-09-21T14:16:00Z"}, ["query", "to"]),
        ("metrics", {"cursor": "bm90LWEtY3Vyc29y"}, ["query", "cursor"]),
        ("metrics", {"cursor": "!!"}, ["query", "cursor"]),
        ("moments", {"kind": "earthquake"}, ["query", "kind", 0]),
        ("moments", {"limit": "-1"}, ["query", "limit"]),
        ("moments", {"cursor": "x" * 600}, ["query", "cursor"]),
    ],
)
def test_out_of_range_parameters_are_422_naming_the_field(
    api: Any, path: str, params: dict[str, str], loc: list[Any]
) -> None:
    with api.client() as client:
        answer = client.get(f"/api/v1/streams/alpha/{path}", params=params)
    assert answer.status_code == 422, answer.text
    assert loc in [e["loc"] for e in answer.json()["detail"]]
    assert answer.json()["request_id"] == answer.headers["x-request-id"]


def test_cursor_of_another_resolution_or_stream_is_rejected(api: Any) -> None:
    with api.client() as client:
        cursor = client.get("/api/v1/streams/alpha/metrics", params={"limit": 1}).json()["next_cursor"]
        other_resolution = client.get(
            "/api/v1/streams/alpha/metrics", params={"cursor": cursor, "resolution": "1m"}
        )
        other_stream = client.get("/api/v1/streams/beta/metrics", params={"cursor": cursor})
        other_listing = client.get("/api/v1/streams/alpha/moments", params={"cursor": cursor})
    for answer in (other_resolution, other_stream, other_listing):
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_unknown_path_is_a_json_404(api: Any) -> None:
    with api.client() as client:
        answer = client.get("/api/v2/nothing")
    assert answer.status_code == 404 and set(answer.json()) == {"detail", "request_id"}


# -- request ids and metrics ------------------------------------------------------------------------------
def test_request_id_is_accepted_returned_or_created(api: Any) -> None:
    with api.client() as client:
        mine = client.get("/health", headers={"X-Request-ID": "abc-123.def"})
        made = client.get("/health")
        hostile = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert mine.headers["x-request-id"] == "abc-123.def"
    assert len(made.headers["x-request-id"]) == 32
    assert hostile.headers["x-request-id"] != "bad id\twith spaces"


def test_prometheus_metrics(api: Any) -> None:
    with api.client() as client:
        client.get("/api/v1/streams/alpha")
        client.get("/api/v1/streams/alpha/metrics")
        text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    routes = {
        s.labels["route"]
        for s in families["telemetra_http_request_duration_seconds"].samples
        if "route" in s.labels
    }
    assert {"/api/v1/streams/{stream_id}", "/api/v1/streams/{stream_id}/metrics"} <= routes
    assert not any("alpha" in route for route in routes)  # templates, not raw paths
    lookups = {
        (s.labels["kind"], s.labels["result"]): s.value for s in families["telemetra_cache_requests"].samples
    }
    assert lookups.get(("snapshot", "hit"), 0) >= 1
    assert lookups.get(("query", "miss"), 0) >= 1
    assert {"telemetra_ws_connections", "telemetra_ws_messages_pushed", "telemetra_dependency_up"} <= set(
        families
    )


# -- cached history answers -----------------------------------------------------------------------------------
async def test_history_answers_are_cached_until_the_stream_changes(api: Any) -> None:
    """Repeated questions are answered from memory; a closed window published by the engine invalidates them
    (through the live cache, so with Redis the invalidation arrives a moment after the write)."""
    params = {"from": "2026-09-21T14:20:00Z", "limit": 1000}
    path = "/api/v1/streams/delta/metrics"  # a stream of its own: the shared dataset stays as it is
    windows = [dataclasses.replace(w, stream_id="delta") for w in api.data.windows if w.stream_id == "beta"]
    await api.server.arun(api.output().write_windows(windows))
    async with httpx.AsyncClient(base_url=api.url) as client:
        first = (await client.get(path, params=params)).json()["items"]
        hits = metric_value(api.url, "telemetra_cache_requests", kind="query", result="hit")
        assert (await client.get(path, params=params)).json()["items"] == first
        assert metric_value(api.url, "telemetra_cache_requests", kind="query", result="hit") == hits + 1

        newer = dataclasses.replace(
            windows[-1], window_start="2026-09-21T14:25:00Z", window_end="2026-09-21T14:26:00Z"
        )
        await api.server.arun(api.output().write_windows([newer]))

        async def grew() -> bool:
            return len((await client.get(path, params=params)).json()["items"]) == len(first) + 1

        await eventually(grew, 5, "the new window is served")
