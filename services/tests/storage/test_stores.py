"""Both stores (SQLite, and a real PostgreSQL) behind the one interface: migrations, upserts by natural key,
stream descriptions, dead letters, and the queries the API is built on."""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid
from collections.abc import AsyncIterator
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
    migrations,
    open_store,
)
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
    streams = {s.stream_id: s for s in await store.list_streams()}
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
    await store.upsert_moments(moments, seen_at=1000.0)
    growing = dataclasses.replace(moments[0], end="2026-09-21T14:21:00.000Z", ongoing=True)
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
    streams = {s.stream_id: s for s in await store.list_streams()}
    assert (streams["alpha"].title, streams["alpha"].category) == ("Live title", "Admin category")
    assert (streams["alpha"].window_seconds, streams["alpha"].slide_seconds) == (30, 5)
    assert (streams["beta"].window_seconds, streams["beta"].slide_seconds) == (60, 10)  # untouched
    assert streams["alpha"].first_seen == 1000.0 and streams["alpha"].last_activity == 1000.0


async def test_describe_of_an_unknown_stream_creates_nothing(store: Store) -> None:
    assert not await store.describe_stream(StreamDescription("nobody", "Title", "Category", 60, 10))
    assert await store.get_stream("nobody") is None
    assert await store.list_streams() == []


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
    streams = {s.stream_id: s for s in await store.list_streams()}
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
            migrations, "pending", lambda d, applied: [m for m in pending(d, applied) if m.version == 1]
        )
        old = open_store(store_url)
        await old.start()
        await old.upsert_moments([old_moment], seen_at=1000.0)  # (this code's windows need a later schema)
        assert await old.set_stream_meta("alpha", "Title", None)
        await old.close()
    assert await applied_versions(store_url) == [1]

    store = open_store(store_url)
    await store.start()
    try:
        dialect = "postgres" if store_url.startswith("postgresql") else "sqlite"
        assert await applied_versions(store_url) == [m.version for m in migrations.load(dialect)]
        [alpha] = await store.list_streams()
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
