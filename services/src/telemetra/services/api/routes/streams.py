"""Streams: the list with their current state (paged, searched and sorted), and one stream in detail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from telemetra.services import cursor
from telemetra.services.api.deps import Cursor, Limit, ReaderDep, StreamId, json_response, require
from telemetra.services.api.errors import field_error
from telemetra.services.api.schemas import (
    SearchText,
    StreamDetail,
    StreamList,
    error_responses,
    link,
    links,
    next_page,
)
from telemetra.services.storage import StreamPosition, StreamQuery, StreamSort

FIRST = "$response.body#/items/0/stream_id"
THIS = "$response.body#/stream_id"
SORT_HELP = (
    "`stream_id` (the default); or greatest first, the id breaking ties: `-viewers` and `-chat_rate` (of the "
    "newest closed window, so they may lag the current numbers shown by up to a window's slide; streams without "
    "one last), `-last_activity` (the engine's last report)."
)
LIVE_HELP = (
    "Only live (true) or only offline (false) streams, by the store's last report of each: while the store lags "
    "the live cache by more than the live threshold, a stream may be in neither, and a page may hold fewer than "
    "`limit`."
)
SEARCH_HELP = "Case-insensitive substring of the stream id, title or category (`%` and `_` match themselves)."

router = APIRouter(prefix="/api/v1", tags=["streams"], dependencies=[require("read")])


@router.get(
    "/streams",
    response_model=StreamList,
    summary="Streams with live flag, current viewers and chat rate, last activity and latest moment",
    responses=error_responses(401, 403, 422, 503)
    | next_page(
        "list_streams",
        "sort",
        "q",
        "live",
        of_stream=False,
        first_stream=link("get_stream", path_stream_id=FIRST),
        first_stream_metrics=link("stream_metrics", path_stream_id=FIRST),
        first_stream_moments=link("stream_moments", path_stream_id=FIRST),
        retitle_first_stream=link("update_stream", path_stream_id=FIRST),
    ),
)
async def list_streams(
    reader: ReaderDep,
    live: Annotated[bool | None, Query(description=LIVE_HELP)] = None,
    q: Annotated[SearchText | None, Query(description=SEARCH_HELP)] = None,
    sort: Annotated[StreamSort, Query(description=SORT_HELP)] = "stream_id",
    limit: Limit = 100,
    cursor_text: Annotated[Cursor, Query(alias="cursor")] = None,
) -> Response:
    listing = f"streams:{sort}"
    after = _position(cursor_text, listing, sort) if cursor_text else None
    query = StreamQuery(sort=sort, search=q or "", live=live, after=after, limit=limit, count=after is None)
    page, following = await reader.streams(query)
    page["next_cursor"] = cursor.encode(listing, [following.key, following.stream_id]) if following else None
    return json_response(page)


def _no_key(value: Any) -> None:
    if value is not None:
        raise cursor.BadCursor("not a cursor from this API")


_KEYS: dict[StreamSort, Callable[[Any], float | None]] = {
    "stream_id": _no_key,
    "-viewers": cursor.count,
    "-chat_rate": cursor.number,
    "-last_activity": cursor.moment,
}


def _position(text: str, listing: str, sort: StreamSort) -> StreamPosition:
    try:
        position = cursor.decode(text, listing)
        if len(position) != 2:
            raise cursor.BadCursor("not a cursor from this API")
        return StreamPosition(_KEYS[sort](position[0]), cursor.record_id(position[1]))
    except cursor.BadCursor as error:
        raise field_error(("query", "cursor"), str(error)) from None


@router.get(
    "/streams/{stream_id}",
    response_model=StreamDetail,
    summary="One stream: summary, newest closed window, open window, recent moments",
    responses=error_responses(401, 403, 404, 422, 503)
    | links(
        metrics=link("stream_metrics", path_stream_id=THIS),
        moments=link("stream_moments", path_stream_id=THIS),
        dead_letters=link("dead_letters", query_stream_id=THIS),
    ),
)
async def get_stream(stream_id: StreamId, reader: ReaderDep) -> Response:
    return json_response(await reader.stream(stream_id))
