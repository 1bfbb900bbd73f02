"""Answers built from the store (history) and the live cache (latest state), each tolerating the other being
down: the cache is consulted first for what changes every second, the store is the record for the rest."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import orjson

from telemetra.records import Moment, WindowMetrics, format_ts, parse_ts
from telemetra.services import hot, rollup
from telemetra.services.api.errors import NotFound, Unavailable, field_error
from telemetra.services.api.state import AppState
from telemetra.services.cache import CacheUnavailable, Snapshot
from telemetra.services.cache.base import merge_moments, moment_order
from telemetra.services.storage import (
    MomentPosition,
    StoreUnavailable,
    StreamPosition,
    StreamQuery,
    StreamRecord,
    listing,
)
from telemetra.services.storage.base import DEFAULT_SLIDE_SECONDS, DEFAULT_WINDOW_SECONDS
from telemetra.services.storage.codec import record as as_record

T = TypeVar("T")
Record = dict[str, Any]


async def _attempt(work: Awaitable[T], failures: list[str], name: str) -> T | None:
    """The result, or None with ``name`` added to ``failures`` when that backend is unavailable."""
    try:
        return await work
    except (StoreUnavailable, CacheUnavailable):
        failures.append(name)
        return None


def _newest(a: Record | None, b: Record | None, key: str) -> Record | None:
    if a is None or b is None:
        return a or b
    return a if a[key] >= b[key] else b


class Reader:
    def __init__(self, state: AppState):
        self.state = state
        self.store, self.cache = state.store, state.cache
        self.settings, self.metrics = state.settings, state.metrics

    # -- streams ---------------------------------------------------------------------------------------------
    async def streams(self, query: StreamQuery) -> tuple[Record, StreamPosition | None]:
        """A page of the listing, and where the next one starts. The store pages (it has every stream, from its
        first live view on, and their titles) and the cache adds the page's live state; while the store is
        down the cache's streams are paged instead, in the same order."""
        failures: list[str] = []
        query = dataclasses.replace(query, live_since=time.time() - self.settings.live_after_s)
        page = await _attempt(self.store.list_streams(query), failures, "store")
        if page is None:
            return await self._cached_streams(query, failures)
        ids = [record.stream_id for record in page.streams]
        # Without their moments: the store's latest is as new (moments are stored before they are cached).
        snapshots = await _attempt(self.cache.snapshots(ids, moments=False), failures, "cache") if ids else []
        by_snapshot = {s.stream_id: s for s in snapshots or ()}
        if snapshots is not None:
            for stream_id in ids:
                self.metrics.cache_hit(stream_id in by_snapshot)
        now = time.time()
        items = [self._summary(r.stream_id, r, by_snapshot.get(r.stream_id), now) for r in page.streams]
        counts = {"total": page.total, "live_total": page.live_total}
        return self._listing(items, query, failures, counts), page.next

    async def _cached_streams(
        self, query: StreamQuery, failures: list[str]
    ) -> tuple[Record, StreamPosition | None]:
        snapshots = await _attempt(self.cache.snapshots(), failures, "cache")
        if snapshots is None:
            raise Unavailable("store and cache unavailable")
        now = time.time()
        matching = []
        for snapshot in snapshots:
            item = self._summary(snapshot.stream_id, None, snapshot, now)
            if listing.memory_matches(query.search, item) and query.live in (None, item["live"]):
                matching.append(
                    (listing.memory_key(query.sort, item, snapshot.last_activity), item["stream_id"], item)
                )
        page, position = listing.memory_page(matching, query.after, query.limit)
        counts = (
            {"total": len(matching), "live_total": sum(e[2]["live"] for e in matching)} if query.count else {}
        )
        return self._listing(page, query, failures, {"total": None, "live_total": None, **counts}), position

    @staticmethod
    def _listing(items: list[Record], query: StreamQuery, failures: list[str], counts: Record) -> Record:
        if query.live is not None:  # the store filters by its own last report; the cache may know a later one
            items = [item for item in items if item["live"] is query.live]
        return {"items": [_public_summary(item) for item in items], "degraded": sorted(failures), **counts}

    async def stream(self, stream_id: str) -> Record:
        failures: list[str] = []
        record, snapshot, stored_moments = await asyncio.gather(
            _attempt(self.store.get_stream(stream_id), failures, "store"),
            _attempt(self.cache.snapshot(stream_id), failures, "cache"),
            _attempt(self.store.recent_moments(stream_id, self.settings.recent_moments), [], "store"),
        )
        if "cache" not in failures:
            self.metrics.cache_hit(snapshot is not None)
        if record is None and snapshot is None:
            if "store" in failures:  # the store is the record of which streams exist
                raise Unavailable(f"{' and '.join(failures)} unavailable")
            raise NotFound("unknown stream")
        detail = self._summary(stream_id, record, snapshot, time.time())
        recent = merge_moments(
            snapshot.moments if snapshot else (), stored_moments or (), self.settings.recent_moments
        )
        detail["recent_moments"] = recent
        detail["dead_letters"] = record.dead_letters if record else 0
        detail["degraded"] = sorted(set(failures))
        return detail

    def _summary(
        self, stream_id: str, record: StreamRecord | None, snap: Snapshot | None, now: float
    ) -> Record:
        stored_window = as_record(record.latest_window) if record and record.latest_window else None
        latest_window = _newest(snap.window if snap else None, stored_window, "window_start")
        activity = [
            t for t in (record.last_activity if record else None, snap.last_activity if snap else None) if t
        ]
        last_activity = max(activity) if activity else None
        live = last_activity is not None and now - last_activity <= self.settings.live_after_s
        live_window = snap.live if snap and live else None
        stored_moment = as_record(record.latest_moment) if record and record.latest_moment else None
        cached_moment = snap.moments[0] if snap and snap.moments else None
        latest_moment = max((m for m in (stored_moment, cached_moment) if m), key=moment_order, default=None)
        return {
            "stream_id": stream_id,
            "title": record.title if record else None,
            "category": record.category if record else None,
            "live": live,
            "last_activity": format_ts(last_activity) if last_activity else None,
            # The open window first; it may not have a viewer sample yet, the closed one has.
            "viewers": _first("viewers", live_window, latest_window),
            "chat_rate": _first("chat_rate", live_window, latest_window),
            "latest_moment": latest_moment,
            "window_seconds": record.window_seconds if record else DEFAULT_WINDOW_SECONDS,
            "slide_seconds": record.slide_seconds if record else DEFAULT_SLIDE_SECONDS,
            "latest_window": latest_window,
            "live_window": live_window,
        }

    # -- hot right now -----------------------------------------------------------------------------------
    async def hot(
        self, *, minutes: int, category: str | None, after: StreamPosition | None, limit: int
    ) -> tuple[Record, StreamPosition | None]:
        """A page of the live streams by hype (:mod:`telemetra.services.hot`), greatest first, the id breaking
        ties; and the categories of all live streams, for the filter."""
        rows = await self.store.hype_inputs(
            time.time() - self.settings.live_after_s, minutes * 60, hot.BASELINE_SECONDS
        )
        categories = sorted({r.category for r in rows if r.category}, key=lambda c: (c.casefold(), c))
        wanted = category.casefold() if category else None
        entries = [
            (entry["hype"], r.stream_id, entry | {"last_activity": format_ts(r.last_activity)})
            for r in rows
            if wanted is None or (r.category or "").casefold() == wanted
            for entry in (hot.item(r),)
        ]
        items, position = listing.memory_page(entries, after, limit)
        return {"minutes": minutes, "categories": categories, "items": items}, position

    # -- history -----------------------------------------------------------------------------------------
    async def metrics_page(
        self, stream_id: str, *, start: float, end: float, limit: int, after: float | None, resolution: str
    ) -> tuple[Record, float | None]:
        """A page of windows, oldest first, and the position to continue after (None on the last page).
        Roll-ups follow the stream's own window length (:mod:`telemetra.services.rollup`)."""
        low = start if after is None else max(start, after + 0.001)
        window = await self._window_seconds(stream_id) if resolution != rollup.FINEST else 0
        try:
            per_bucket = rollup.tiles_per_bucket(resolution, window) if window else 0
        except rollup.NotTiling as error:
            raise field_error(("query", "resolution"), str(error)) from None
        if per_bucket <= 1:  # the windows as stored: JSON straight from the store
            page = await self.store.windows_page(stream_id, start=low, end=end, align=window, limit=limit)
            if not page.count:
                await self._must_exist(stream_id)
            next_after = page.last_start if page.more else None
            items: Any = orjson.Fragment(page.items)
        else:
            rolled, grouped = await self._rolled_up(stream_id, low, end, limit, window, per_bucket)
            if not rolled:
                await self._must_exist(stream_id)
            next_after = parse_ts(rolled[-1].window_start) if len(grouped) > limit else None
            items = rolled  # dataclasses: orjson encodes them directly
        return {"stream_id": stream_id, "resolution": resolution, "items": items}, next_after

    async def _window_seconds(self, stream_id: str) -> int:
        record = await self.store.get_stream(stream_id)
        return record.window_seconds if record else DEFAULT_WINDOW_SECONDS

    async def _rolled_up(
        self, stream_id: str, low: float, end: float, limit: int, window: int, per_bucket: int
    ) -> tuple[list[WindowMetrics], list[Any]]:
        step = window * per_bucket
        first = math.ceil(low / step) * step  # buckets start at or after `low`…
        last = math.ceil(end / step) * step  # …and before `end`: take their windows up to the bucket's end
        tiles = await self.store.windows(
            stream_id, start=first, end=last, align=window, limit=(limit + 1) * per_bucket
        )
        grouped = rollup.buckets(tiles, step)
        items = [rollup.merge(stream_id, start, step, windows) for start, windows in grouped[:limit]]
        return items, grouped

    async def moments_page(
        self,
        stream_id: str,
        *,
        kinds: Sequence[str],
        start: float,
        end: float,
        limit: int,
        before: MomentPosition | None,
    ) -> tuple[Record, Moment | None]:
        """A page of moments, newest first, and the last one when there are more."""
        rows = await self.store.moments(
            stream_id, kinds=kinds, start=start, end=end, before=before, limit=limit + 1
        )
        page = rows[:limit]
        if not page:
            await self._must_exist(stream_id)
        last = page[-1] if len(rows) > limit else None
        return {"stream_id": stream_id, "items": page}, last

    async def _must_exist(self, stream_id: str) -> None:
        """An empty page of a known stream is an answer; a stream is known to the store or, before its first
        window closes, only to the live cache."""
        if await self.store.get_stream(stream_id) is not None:
            return
        if await _attempt(self.cache.snapshot(stream_id), [], "cache") is None:
            raise NotFound("unknown stream")

    # -- dead letters ------------------------------------------------------------------------------------
    async def dead_letters(self, stream_id: str | None, limit: int) -> Record:
        stored = await self.store.dead_letters(stream_id, limit=limit)
        items = [
            {"letter_id": s.letter.letter_id, **s.letter.to_dict(), "stored_at": format_ts(s.stored_at)}
            for s in stored
        ]
        return {"items": items}

    # -- live --------------------------------------------------------------------------------------------
    async def stored_state(self, stream_id: str) -> tuple[Record | None, list[Record]]:
        """Latest closed window and recent moments from the store (the live fallback while the cache is down)."""
        record, moments = await asyncio.gather(
            self.store.get_stream(stream_id),
            self.store.recent_moments(stream_id, self.settings.recent_moments),
        )
        window = as_record(record.latest_window) if record and record.latest_window else None
        return window, [as_record(m) for m in moments]


def _first(field: str, *records: Record | None) -> Any:
    return next((r[field] for r in records if r is not None and r[field] is not None), None)


def _public_summary(item: Record) -> Record:
    """The list answer carries summaries only (the detail endpoint has the windows)."""
    return {k: v for k, v in item.items() if k not in ("latest_window", "live_window")}
