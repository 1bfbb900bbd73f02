"""Hot right now: the live streams of every channel ranked by hype (chat against its own normal, recent moments),
filtered by category, cursor-paginated."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from telemetra.services import cursor
from telemetra.services.api.deps import Cursor, Limit, ReaderDep, json_response, require
from telemetra.services.api.errors import field_error
from telemetra.services.api.schemas import HotList, error_responses, link, next_page
from telemetra.services.storage import StreamPosition

MINUTES_HELP = "How far back moments count (and where the baseline period ends), in minutes."
CATEGORY_HELP = "Only streams in this category (case-insensitive, exact): one of the answer's `categories`."

router = APIRouter(prefix="/api/v1", tags=["streams"], dependencies=[require("read")])


@router.get(
    "/hot",
    response_model=HotList,
    summary="Live streams ranked by hype: chat rate against their own baseline, moments in the last minutes",
    responses=error_responses(401, 403, 422, 503)
    | next_page(
        "hot_streams",
        "minutes",
        "category",
        of_stream=False,
        first_stream=link("get_stream", path_stream_id="$response.body#/items/0/stream_id"),
    ),
)
async def hot_streams(
    reader: ReaderDep,
    minutes: Annotated[int, Query(ge=1, le=120, description=MINUTES_HELP)] = 10,
    category: Annotated[str | None, Query(min_length=1, max_length=100, description=CATEGORY_HELP)] = None,
    limit: Limit = 50,
    cursor_text: Annotated[Cursor, Query(alias="cursor")] = None,
) -> Response:
    listing = f"hot:{minutes}:{(category or '').casefold()}"
    after = _position(cursor_text, listing) if cursor_text else None
    page, following = await reader.hot(minutes=minutes, category=category, after=after, limit=limit)
    page["next_cursor"] = cursor.encode(listing, [following.key, following.stream_id]) if following else None
    return json_response(page)


def _position(text: str, listing: str) -> StreamPosition:
    try:
        position = cursor.decode(text, listing)
        if len(position) != 2:
            raise cursor.BadCursor("not a cursor from this API")
        return StreamPosition(cursor.number(position[0]), cursor.record_id(position[1]))
    except cursor.BadCursor as error:
        raise field_error(("query", "cursor"), str(error)) from None
