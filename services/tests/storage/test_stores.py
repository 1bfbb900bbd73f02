"""Both stores (SQLite, and a real PostgreSQL) behind the one interface: migrations, upserts by natural key,
stream descriptions, dead letters, and the queries the API is built on."""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from telemetra.contract import parse_ts
from telemetra.records import DeadLetter, Moment, StreamDescription, WindowMetrics, format_ts
from telemetra.services.storage import (
    DEFAULT_SLIDE_SECONDS,
    DEFAULT_WINDOW_SECONDS,
    MomentPosition,
    Store,
    StoreUnavailable,
    StreamPosition,
    StreamQuery,
    StreamRecord,
    listing,
    migrations,
    open_store,
)
from telemetra.services.storage.base import STREAM_SORTS
from telemetra.services.storage.codec import window_time


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    server = request.getfixturevalue("postgres_server")
    url: str = server.create_database(f"s_{uuid.uuid4().hex[:12]}")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = open_store(store_url)
    await opened.start()
    try:
        yield opened
    finally:
        await opened.close()


async def all_streams(store: Store) -> list[StreamRecord]:
    page = await store.list_streams(StreamQuery(limit=1000))
    assert page.next is None
    return page.streams


def windows_for(dataset: Any, stream_id: str) -> list[WindowMetrics]:
    return [w for w in dataset.windows if w.stream_id == stream_id]


async def applied_versions(url: str) -> list[int]:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as db:
            return [row[0] for row in db.execute("SELECT version FROM schema_migrations ORDER BY version")]
    connection = await asyncpg.connect(url)
    try:
        return [
            row[0] for row in await connection.fetch("SELECT version FROM schema_migrations ORDER BY version")
        ]
    finally:
        await connection.close()


async def store_version_1_moment(url: str, m: Moment, seen_at: float) -> None:
    """A moment written as the first release did (its columns, no rank), and its stream touched."""
    start, end, peak, detected = (parse_ts(t) for t in (m.start, m.end, m.peak_at, m.detected_at))
    fields = (m.metric, m.value, m.baseline, m.score, m.threshold, m.description)
    columns = "moment_id, stream_id, kind, {t}, metric, value, baseline, score, threshold, description, {p}, ongoing"
    if url.startswith("sqlite"):
        times = [round(t * 1000) for t in (start, end, peak, detected)]
        with sqlite3.connect(url.removeprefix("sqlite://")) as db:
            db.execute(
                f"INSERT INTO moments ({columns.format(t='start_ms, end_ms', p='peak_at_ms, detected_at_ms')})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (m.moment_id, m.stream_id, m.kind, *times[:2], *fields, *times[2:], m.ongoing),
            )
            db.execute(
                "INSERT INTO streams (stream_id, first_seen_ms, last_activity_ms) VALUES (?, ?, ?)",
                (m.stream_id, round(seen_at * 1000), round(seen_at * 1000)),
            )
        return
    stamps = [datetime.fromtimestamp(t, UTC) for t in (start, end, peak, detected, seen_at)]
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            f"INSERT INTO moments ({columns.format(t='start_at, end_at', p='peak_at, detected_at')})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            m.moment_id, m.stream_id, m.kind, *stamps[:2], *fields, *stamps[2:4], m.ongoing,
        )  # fmt: skip
        await connection.execute(
            "INSERT INTO streams (stream_id, first_seen, last_activity) VALUES ($1, $2, $2)",
            m.stream_id,
            stamps[4],
        )
    finally:
        await connection.close()


async def test_migrations_apply_once(store_url: str) -> None:
    for _ in range(2):  # a restart finds the schema current and applies nothing
        opened = open_store(store_url)
        await opened.start()
        await opened.close()
    dialect = "postgres" if store_url.startswith("postgresql") else "sqlite"
    assert await applied_versions(store_url) == [m.version for m in migrations.load(dialect)]


async def test_windows_round_trip_exactly(store: Store, dataset: Any) -> None:
    alpha = windows_for(dataset, "alpha")
    await store.upsert_windows(alpha, seen_at=1000.0)
    stored = await store.windows("alpha", start=0, end=4e10, align=0, limit=1000)
    assert stored == alpha


async def test_windows_upsert_by_stream_and_start(store: Store, dataset: Any) -> None:
    first = windows_for(dataset, "beta")[0]
    await store.upsert_windows([first], seen_at=1000.0)
    revised = dataclasses.replace(first, messages=first.messages + 5, late_events=3)
    await store.upsert_windows([revised, revised], seen_at=1001.0)  # duplicates in one batch too
    stored = await store.windows("beta", start=0, end=4e10, align=0, limit=10)
    assert stored == [revised]


async def test_window_queries_by_range_alignment_and_limit(store: Store, dataset: Any) -> None:
    gamma = windows_for(dataset, "gamma")
    await store.upsert_windows(gamma, seen_at=1000.0)
    start, end = parse_ts("2026-09-21T14:16:00Z"), parse_ts("2026-09-21T14:18:00Z")
    in_range = await store.windows("gamma", start=start, end=end, align=0, limit=1000)
    assert [w.window_start for w in in_range] == [window_time(start + 10 * i) for i in range(12)]
    minutes = await store.windows("gamma", start=0, end=4e10, align=60, limit=1000)
    assert [w.window_start for w in minutes] == [
        w.window_start for w in gamma if w.window_start.endswith(":00Z")
    ]
    assert len(await store.windows("gamma", start=0, end=4e10, align=0, limit=5)) == 5
    assert await store.windows("nobody", start=0, end=4e10, align=0, limit=5) == []


async def test_streams_with_latest_window_and_moment(store: Store, dataset: Any) -> None:
    await store.upsert_windows(dataset.windows, seen_at=1000.0)
    await store.upsert_moments(dataset.moments, seen_at=1002.0)
    await store.upsert_windows(windows_for(dataset, "alpha")[:1], seen_at=900.0)  # an older report
    streams = {s.stream_id: s for s in await all_streams(store)}
    assert sorted(streams) == ["alpha", "beta", "gamma"]
    beta = streams["beta"]
    assert beta.latest_window == windows_for(dataset, "beta")[-1]
    assert beta.latest_moment is not None and beta.latest_moment.kind == "raid"
    assert beta.first_seen == 1000.0 and beta.last_activity == 1002.0
    assert streams["alpha"].last_activity == 1002.0  # never moves backwards
    assert await store.get_stream("beta") == beta
    assert await store.get_stream("nobody") is None


async def test_moments_upsert_and_queries(store: Store, dataset: Any) -> None:
    moments: list[Moment] = list(dataset.moments)
    assert all(m.rank is not None and m.rank > 0 for m in moments)  # stored and read back below, exactly
    assert all(m.offset_seconds is not None and m.offset_seconds >= 0 for m in moments)
    await store.upsert_moments(moments, seen_at=1000.0)
    growing = dataclasses.replace(
        moments[0],
        end="2026-09-21T14:21:00.000Z",
        ongoing=True,
        vod_url="https://www.twitch.tv/videos/1?t=1m",
    )
    await store.upsert_moments([growing], seen_at=1001.0)
    gamma = await store.moments("gamma", kinds=[], start=0, end=4e10, before=None, limit=10)
    assert [m.kind for m in gamma] == ["revenue_spike", "chat_spike"]
    raids = await store.moments("beta", kinds=["raid"], start=0, end=4e10, before=None, limit=10)
    assert [m.kind for m in raids] == ["raid"]
    alpha = await store.moments("alpha", kinds=[], start=0, end=4e10, before=None, limit=10)
    assert alpha == [growing]
    overlapping = await store.moments(
        "alpha", kinds=[], start=parse_ts("2026-09-21T14:20:50Z"), end=4e10, before=None, limit=10
    )
    assert overlapping == [growing]  # it ends after the range starts
    first = gamma[0]
    rest = await store.moments(
        "gamma",
        kinds=[],
        start=0,
        end=4e10,
        before=MomentPosition(parse_ts(first.start), first.moment_id),
        limit=10,
    )
    assert rest == gamma[1:]
    assert await store.recent_moments("gamma", 1) == gamma[:1]


async def test_stream_metadata_and_deletion(store: Store, dataset: Any) -> None:
    await store.upsert_windows(windows_for(dataset, "alpha"), seen_at=1000.0)
    await store.upsert_moments([m for m in dataset.moments if m.stream_id == "alpha"], seen_at=1000.0)
    assert await store.set_stream_meta("alpha", "Title", "Category")
    assert not await store.set_stream_meta("nobody", "Title", None)
    stream = await store.get_stream("alpha")
    assert stream is not None and (stream.title, stream.category) == ("Title", "Category")
    assert await store.delete_stream("alpha")
    assert not await store.delete_stream("alpha")
    assert await store.get_stream("alpha") is None
    assert await store.windows("alpha", start=0, end=4e10, align=0, limit=5) == []
    assert await store.recent_moments("alpha", 5) == []


async def test_stream_metadata_of_named_fields_only(store: Store, dataset: Any) -> None:
    """``fields`` names what changes (an admin's PATCH sends only some); the others keep their value."""
    await store.upsert_windows(windows_for(dataset, "alpha")[:1], seen_at=1000.0)
    assert await store.set_stream_meta("alpha", "Title", "Category")

    async def meta() -> tuple[str | None, str | None]:
        stream = await store.get_stream("alpha")
        assert stream is not None
        return stream.title, stream.category

    assert await store.set_stream_meta("alpha", "Renamed", None, fields={"title"})
    assert await meta() == ("Renamed", "Category")
    assert await store.set_stream_meta("alpha", None, None, fields={"category"})
    assert await meta() == ("Renamed", None)
    assert await store.set_stream_meta("alpha", "ignored", "ignored", fields=())
    assert await meta() == ("Renamed", None)
    assert not await store.set_stream_meta("nobody", "Title", None, fields=())


def window(stream_id: str, start: float) -> WindowMetrics:
    return WindowMetrics(
        stream_id=stream_id,
        window_start=window_time(start),
        window_end=window_time(start + 60),
        messages=3,
        chat_rate=0.05,
        unique_chatters=2,
        top_emotes=[{"emote": "Kappa", "count": 2}],
        sentiment=0.5,
        positive=2,
        neutral=1,
        negative=0,
        viewers=10,
        viewers_max=12,
        revenue_usd=0.0,
        transactions={},
        late_events=0,
        bits=0,
        emote_total=2,
        final=True,
    )


START = parse_ts("2026-09-21T14:15:00Z")


async def test_streams_have_default_geometry_until_described(store: Store) -> None:
    await store.upsert_windows([window("alpha", START)], seen_at=1000.0)
    stream = await store.get_stream("alpha")
    assert stream is not None
    assert (stream.window_seconds, stream.slide_seconds) == (DEFAULT_WINDOW_SECONDS, DEFAULT_SLIDE_SECONDS)
    assert (stream.window_seconds, stream.slide_seconds) == (60, 10)
    assert stream.dead_letters == 0


async def test_describe_sets_geometry_and_keeps_an_admin_title(store: Store) -> None:
    await store.upsert_windows([window("alpha", START), window("beta", START)], seen_at=1000.0)
    assert await store.set_stream_meta("alpha", "Admin title", "Admin category")
    assert await store.describe_stream(StreamDescription("alpha", None, None, 120, 15))
    alpha = await store.get_stream("alpha")
    assert alpha is not None
    assert (alpha.title, alpha.category) == ("Admin title", "Admin category")  # None keeps what is stored
    assert (alpha.window_seconds, alpha.slide_seconds) == (120, 15)
    assert await store.describe_stream(StreamDescription("alpha", "Live title", None, 30, 5))
    streams = {s.stream_id: s for s in await all_streams(store)}
    assert (streams["alpha"].title, streams["alpha"].category) == ("Live title", "Admin category")
    assert (streams["alpha"].window_seconds, streams["alpha"].slide_seconds) == (30, 5)
    assert (streams["beta"].window_seconds, streams["beta"].slide_seconds) == (60, 10)  # untouched
    assert streams["alpha"].first_seen == 1000.0 and streams["alpha"].last_activity == 1000.0


async def test_describe_of_an_unknown_stream_creates_nothing(store: Store) -> None:
    assert not await store.describe_stream(StreamDescription("nobody", "Title", "Category", 60, 10))
    assert await store.get_stream("nobody") is None
    assert await all_streams(store) == []


def letter(stream_id: str | None, source: str, raw: bytes | str | None = b'{"bad": json}') -> DeadLetter:
    return DeadLetter.of("invalid JSON", raw, source, stream_id)


async def test_dead_letters_upsert_list_and_count(store: Store) -> None:
    await store.upsert_windows([window("alpha", START)], seen_at=1000.0)
    first, second, third = (letter("alpha", f"telemetra.alpha.events:0:{n}") for n in range(3))
    binary = letter("beta", "telemetra.beta.events:0:7", b"\xff\xfe\x00")
    nul = letter(None, "bus:3", b"\x00\x00{}")  # valid UTF-8 with NUL, which PostgreSQL text cannot hold
    assert binary.raw_encoding == "base64" and nul.raw_encoding == "utf-8"
    await store.upsert_dead_letters([first, nul], seen_at=1000.0)
    await store.upsert_dead_letters([second, binary, third], seen_at=1001.0)
    replayed = dataclasses.replace(first, reason="invalid JSON (again)")
    await store.upsert_dead_letters([replayed, replayed], seen_at=1005.0)  # same letter: same row
    await store.upsert_dead_letters([], seen_at=1006.0)

    alpha = await store.dead_letters("alpha", limit=10)
    newest_pair = sorted([second, third], key=lambda d: d.letter_id, reverse=True)
    assert [s.letter for s in alpha] == [*newest_pair, replayed]  # newest first, then by id
    assert [s.stored_at for s in alpha] == [1001.0, 1001.0, 1000.0]  # the replay kept its first time
    assert [s.letter.letter_id for s in alpha][-1] == first.letter_id
    assert [s.letter for s in await store.dead_letters("alpha", limit=1)] == newest_pair[:1]
    everything = await store.dead_letters(None, limit=10)
    assert len(everything) == 5 and [s.stored_at for s in everything] == [1001.0] * 3 + [1000.0] * 2
    assert {s.letter for s in everything} == {replayed, second, third, binary, nul}  # exact round trip
    assert [s.letter for s in await store.dead_letters("", limit=10)] == [nul]  # stream unknown
    assert await store.dead_letters("nobody", limit=10) == []

    assert await store.count_dead_letters() == {"alpha": 3, "beta": 1, "": 1}
    streams = {s.stream_id: s for s in await all_streams(store)}
    assert sorted(streams) == ["alpha"]  # dead letters never create a stream
    assert streams["alpha"].dead_letters == 3 and streams["alpha"].last_activity == 1000.0
    stream = await store.get_stream("alpha")
    assert stream is not None and stream.dead_letters == 3


async def test_delete_stream_removes_its_dead_letters(store: Store) -> None:
    await store.upsert_windows([window("alpha", START)], seen_at=1000.0)
    await store.upsert_dead_letters(
        [letter("alpha", "f:1"), letter("alpha", "f:2"), letter("beta", "f:3"), letter(None, "f:4")], 1000.0
    )
    assert await store.delete_stream("alpha")
    assert await store.dead_letters("alpha", limit=10) == []
    assert await store.count_dead_letters() == {"beta": 1, "": 1}
    assert await store.delete_stream("beta")  # a stream known only by its dead letters
    assert await store.count_dead_letters() == {"": 1}
    assert not await store.delete_stream("beta")


async def test_migrating_a_version_1_database_keeps_its_rows(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending = migrations.pending
    at = format_ts(START)
    old_moment = Moment("m-old", "alpha", "raid", at, at, "raid_viewers", 100.0, 0.0, 100.0, 0.0, "Raided by x",
                        at, at, False)  # fmt: skip
    with monkeypatch.context() as patch:  # a database as the previous release left it
        patch.setattr(
            migrations,
            "pending",
            lambda d, applied, package=None: [m for m in pending(d, applied, package) if m.version == 1],
        )
        old = open_store(store_url)
        await old.start()
        await store_version_1_moment(
            store_url, old_moment, seen_at=1000.0
        )  # (this code's need a later schema)
        assert await old.set_stream_meta("alpha", "Title", None)
        await old.close()
    assert await applied_versions(store_url) == [1]

    store = open_store(store_url)
    await store.start()
    try:
        dialect = "postgres" if store_url.startswith("postgresql") else "sqlite"
        assert await applied_versions(store_url) == [m.version for m in migrations.load(dialect)]
        [alpha] = await all_streams(store)
        assert (alpha.stream_id, alpha.title, alpha.first_seen) == ("alpha", "Title", 1000.0)
        assert (alpha.window_seconds, alpha.slide_seconds, alpha.dead_letters) == (60, 10, 0)
        assert alpha.latest_moment == old_moment
        assert await store.describe_stream(StreamDescription("alpha", None, "Games", 30, 5))
        await store.upsert_dead_letters([letter("alpha", "f:1")], seen_at=1001.0)
        described = await store.get_stream("alpha")
        assert described is not None
        assert (described.title, described.category, described.dead_letters) == ("Title", "Games", 1)
        assert (described.window_seconds, described.slide_seconds) == (30, 5)
    finally:
        await store.close()


async def test_postgres_that_cannot_be_reached_fails_fast() -> None:
    store = open_store("postgresql://telemetra@127.0.0.1:9/none", timeout=1.0)  # port 9: nothing listens
    with pytest.raises(StoreUnavailable):
        await store.start()
    with pytest.raises(StoreUnavailable, match="postgres"):  # within the retry pause: no new attempt
        await store.ping()
    await store.close()


async def test_sqlite_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = open_store(f"sqlite:///{blocker / 'db' / 'x.db'}")
    with pytest.raises(StoreUnavailable):
        await store.start()
    with pytest.raises(StoreUnavailable):
        await store.ping()


def test_unknown_store_url() -> None:
    with pytest.raises(ValueError, match="mysql"):
        open_store("mysql://localhost/db")


async def test_a_windows_page_is_the_api_json_of_the_windows(
    store: Store, store_url: str, dataset: Any
) -> None:
    """What the metrics endpoint sends: built from stored documents, or from the columns for rows that have
    none (written before documents were, in PostgreSQL), it is the windows' own JSON either way."""
    alpha = windows_for(dataset, "alpha")
    await store.upsert_windows(alpha, seen_at=1000.0)
    first, last = parse_ts(alpha[0].window_start), parse_ts(alpha[-1].window_start)
    expected = [w.to_dict() for w in alpha[:20]]
    variants = ["stored"]
    if store_url.startswith("postgresql"):
        variants.append("built from the columns")
    for variant in variants:
        if variant == "built from the columns":
            connection = await asyncpg.connect(store_url)
            try:
                await connection.execute("UPDATE window_metrics SET document = NULL")
            finally:
                await connection.close()
        page = await store.windows_page("alpha", start=first, end=last + 1, align=0, limit=20)
        assert orjson.loads(page.items) == expected, variant
        assert (page.count, page.more, page.last_start) == (20, True, parse_ts(alpha[19].window_start))
        rest = await store.windows_page("alpha", start=page.last_start + 1, end=last + 1, align=0, limit=1000)
        assert orjson.loads(rest.items) == [w.to_dict() for w in alpha[20:]] and not rest.more
    empty = await store.windows_page("alpha", start=0, end=first, align=0, limit=10)
    assert (empty.items, empty.count, empty.more, empty.last_start) == (b"[]", 0, False, None)


# -- the stream listing ----------------------------------------------------------------------------------------
# stream id, title, category, newest window's viewers (None: no sample; "-": no window yet), seen at
LISTED: list[tuple[str, str | None, str | None, int | str | None, float]] = [
    ("alpha", "Speedrun any%", "Games", 500, 1000.0),
    ("beta", None, None, 500, 1003.0),  # ties alpha on viewers
    ("gamma", "100% completion", "Games", None, 1001.0),  # no viewer sample: listed after those with one
    ("delta", "chess_960", "Chess", 20, 1003.0),
    ("epsilon", "back\\slash", None, 500, 1002.0),
    ("newbie", None, None, "-", 1002.0),  # known from its first live view only: no window, no chat rate
    *((f"s{n:02d}", f"Stream {n}", None, n % 4 * 100, 1000.0 + n % 3) for n in range(14)),
]


def chat_rate_of(stream_id: str) -> float:
    return len(stream_id) / 4


async def listed_streams(store: Store) -> None:
    for stream_id, title, category, viewers, seen_at in LISTED:
        if viewers == "-":
            await store.register_streams([stream_id], seen_at)
        else:
            at = window(stream_id, START)
            await store.upsert_windows(
                [dataclasses.replace(at, viewers=viewers, chat_rate=chat_rate_of(stream_id))], seen_at
            )
        if title or category:
            assert await store.set_stream_meta(stream_id, title, category)


def expected_order(sort: str) -> list[str]:
    def key(entry: tuple[Any, ...]) -> tuple[float, str]:
        stream_id, _, _, viewers, seen_at = entry
        if sort == "stream_id":
            return (0, stream_id)
        if sort == "-last_activity":
            return (-seen_at, stream_id)
        value = {"-viewers": viewers, "-chat_rate": chat_rate_of(stream_id)}[sort] if viewers != "-" else None
        return (-(value if value is not None else -1), stream_id)

    return [entry[0] for entry in sorted(LISTED, key=key)]


async def pages(store: Store, query: StreamQuery) -> list[list[str]]:
    found, after = [], None
    for _ in range(100):  # a position that does not advance must fail the test, not hang it
        page = await store.list_streams(dataclasses.replace(query, after=after))
        found.append([s.stream_id for s in page.streams])
        if page.next is None:
            return found
        assert page.next.stream_id == found[-1][-1]
        after = page.next
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("sort", STREAM_SORTS)
async def test_listing_pages_through_each_order_once(store: Store, sort: Any) -> None:
    await listed_streams(store)
    everything = await pages(store, StreamQuery(sort=sort, limit=3))
    assert [stream_id for page in everything for stream_id in page] == expected_order(sort)
    assert [len(page) for page in everything] == [3] * 6 + [2]
    assert (await pages(store, StreamQuery(sort=sort, limit=1000))) == [expected_order(sort)]


@pytest.mark.parametrize("sort", STREAM_SORTS)
def test_the_listing_in_memory_has_the_same_order(sort: Any) -> None:
    """The API pages the live cache's streams this way while the store is down."""
    entries = []
    for stream_id, _, _, viewers, seen_at in LISTED:
        known = viewers != "-"
        values = {
            "viewers": viewers if known else None,
            "chat_rate": chat_rate_of(stream_id) if known else None,
        }
        entries.append((listing.memory_key(sort, values, seen_at), stream_id, stream_id))
    found: list[str] = []
    page, after = listing.memory_page(entries, None, 3)
    while after is not None:
        found += page
        assert after.stream_id == page[-1]
        page, after = listing.memory_page(entries, after, 3)
    assert [*found, *page] == expected_order(sort)


async def test_listing_order_and_keys_of_the_first_page(store: Store) -> None:
    await listed_streams(store)
    page = await store.list_streams(StreamQuery(sort="-viewers", limit=4))
    # 500 viewers: alpha, beta, epsilon (ties by id), then the first of the 300s
    assert [s.stream_id for s in page.streams] == ["alpha", "beta", "epsilon", "s03"]
    assert page.next == StreamPosition(300, "s03")
    assert [s.latest_window.viewers for s in page.streams if s.latest_window] == [500, 500, 500, 300]
    last = await pages(store, StreamQuery(sort="-viewers", limit=1000))
    assert last[0][-2:] == ["gamma", "newbie"]  # without viewers: last, by id
    by_activity = await store.list_streams(StreamQuery(sort="-last_activity", limit=2))
    assert by_activity.next == StreamPosition(1003.0, "delta")


@pytest.mark.parametrize(
    ("search", "found"),
    [
        ("SPEED", ["alpha"]),  # title, any case
        ("games", ["alpha", "gamma"]),  # category
        ("PS", ["epsilon"]),  # id
        ("%", ["alpha", "gamma"]),  # wildcards match themselves only
        ("_", ["delta"]),
        ("\\", ["epsilon"]),
        ("chess_9", ["delta"]),
        ("stream 1", ["s01", "s10", "s11", "s12", "s13"]),
        ("nothing like it", []),
        ("alphaspeed", []),  # never across two fields
        ("any%games", []),
    ],
)
async def test_listing_search_is_a_case_insensitive_substring(
    store: Store, search: str, found: list[str]
) -> None:
    await listed_streams(store)
    page = await store.list_streams(StreamQuery(search=search, count=True))
    assert [s.stream_id for s in page.streams] == found
    assert page.total == len(found)


async def test_listing_search_live_filter_and_counts_with_pages(store: Store) -> None:
    await listed_streams(store)
    live = [e[0] for e in LISTED if e[4] >= 1002.0]
    query = StreamQuery(sort="-viewers", live=True, live_since=1002.0, limit=2, count=True)
    first = await store.list_streams(query)
    assert (first.total, first.live_total) == (len(live), len(live))
    assert [s for page in await pages(store, query) for s in page] == [
        s for s in expected_order("-viewers") if s in live
    ]
    offline = await store.list_streams(dataclasses.replace(query, live=False, limit=100))
    assert {s.stream_id for s in offline.streams} == {e[0] for e in LISTED} - set(live)
    assert offline.live_total == 0
    searched = StreamQuery(sort="-last_activity", search="s1", live_since=1002.0, limit=2, count=True)
    assert (await pages(store, searched)) == [["s11", "s10"], ["s13", "s12"]]
    counted = await store.list_streams(searched)
    assert (counted.total, counted.live_total) == (4, 1)
    later = await store.list_streams(dataclasses.replace(searched, after=counted.next, count=False))
    assert (later.total, later.live_total) == (None, None)


async def test_listing_keys_follow_the_newest_window(store: Store) -> None:
    older, newer = window("alpha", START), window("alpha", START + 10)
    await store.upsert_windows([dataclasses.replace(older, viewers=1), window("beta", START)], 1000.0)
    await store.upsert_windows([dataclasses.replace(newer, viewers=900, chat_rate=9.0)], 1001.0)
    await store.upsert_windows([dataclasses.replace(older, viewers=5, chat_rate=99.0)], 1002.0)  # a replay
    for sort in ("-viewers", "-chat_rate"):
        page = await store.list_streams(StreamQuery(sort=sort, limit=1))  # type: ignore[arg-type]
        assert page.streams[0].stream_id == "alpha" and page.next is not None
        assert page.next.key == {"-viewers": 900, "-chat_rate": 9.0}[sort]
    await store.upsert_windows([dataclasses.replace(newer, viewers=3)], 1003.0)  # the same window, revised
    page = await store.list_streams(StreamQuery(sort="-viewers", limit=1))
    assert [s.stream_id for s in page.streams] == ["beta"]  # 10 viewers now beat alpha's 3


async def test_registering_makes_a_stream_known_without_touching_known_ones(store: Store) -> None:
    await store.upsert_windows([window("alpha", START)], seen_at=1000.0)
    await store.register_streams(["newbie", "alpha", "newbie"], seen_at=2000.0)
    await store.register_streams([], seen_at=3000.0)
    streams = {s.stream_id: s for s in await all_streams(store)}
    assert sorted(streams) == ["alpha", "newbie"]
    assert (streams["alpha"].first_seen, streams["alpha"].last_activity) == (1000.0, 1000.0)
    newbie = streams["newbie"]
    assert (newbie.first_seen, newbie.last_activity, newbie.latest_window) == (2000.0, 2000.0, None)
    await store.register_streams(["newbie"], seen_at=2500.0)
    assert (await store.get_stream("newbie")) == newbie


async def test_the_listing_migration_fills_the_keys_of_stored_streams(store_url: str) -> None:
    """A database from before the listing's migration: its streams get their newest window's keys."""
    store = open_store(store_url)
    await store.start()
    await store.upsert_windows([dataclasses.replace(window("alpha", START), viewers=7)], seen_at=1000.0)
    await store.upsert_windows([dataclasses.replace(window("alpha", START + 10), viewers=70)], seen_at=1001.0)
    await store.upsert_windows([dataclasses.replace(window("beta", START), viewers=40)], seen_at=1000.0)
    await store.close()
    await undo_the_listing_migration(store_url)
    store = open_store(store_url)
    await store.start()
    try:
        page = await store.list_streams(StreamQuery(sort="-viewers", limit=1))
        assert [s.stream_id for s in page.streams] == ["alpha"] and page.next == StreamPosition(70, "alpha")
    finally:
        await store.close()


async def undo_the_listing_migration(url: str) -> None:
    dialect = "sqlite" if url.startswith("sqlite") else "postgres"
    time_column = "latest_window_start_ms" if dialect == "sqlite" else "latest_window_start"
    [listing] = [m for m in migrations.load(dialect) if m.name.endswith("stream_listing")]
    statements = [
        *(
            f"DROP INDEX {name}"
            for name in ("streams_by_viewers", "streams_by_chat_rate", "streams_by_activity")
        ),
        *(
            f"ALTER TABLE streams DROP COLUMN {c}"
            for c in (time_column, "viewers", "chat_rate", "search_text")
        ),
        f"DELETE FROM schema_migrations WHERE version = {listing.version}",
    ]
    if dialect == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite://")) as db:
            for statement in statements:
                db.execute(statement)
        return
    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()
