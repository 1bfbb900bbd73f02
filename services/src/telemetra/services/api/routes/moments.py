"""A stream's moments by kind and time range, newest first, cursor-paginated."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from telemetra.contract import parse_ts
from telemetra.services import cursor
from telemetra.services.api.deps import Cursor, Limit, Range, ReaderDep, State, StreamId, require
from telemetra.services.api.errors import field_error
from telemetra.services.api.schemas import MomentKind, MomentsPage, error_responses, next_page
from telemetra.services.storage import MomentPosition

router = APIRouter(prefix="/api/v1", tags=["moments"], dependencies=[require("read")])


@router.get(
    "/streams/{stream_id}/moments",
    response_model=MomentsPage,
    summary="Moments overlapping [from, to), newest first",
    responses=error_responses(401, 403, 404, 422, 503) | next_page("stream_moments", "kind"),
)
async def stream_moments(
    stream_id: StreamId,
    reader: ReaderDep,
    state: State,
    span: Range,
    kind: Annotated[list[MomentKind] | None, Query(description="Repeat to select several kinds.")] = None,
    limit: Limit = 50,
    cursor_text: Annotated[Cursor, Query(alias="cursor")] = None,
) -> Response:
    listing = f"moments:{stream_id}"
    before = _position(cursor_text, listing) if cursor_text else None
    kinds = sorted(set(kind or ()))

    async def answer() -> bytes:
        page, last = await reader.moments_page(
            stream_id, kinds=kinds, start=span.start, end=span.end, limit=limit, before=before
        )
        page["next_cursor"] = cursor.encode(listing, [parse_ts(last.start), last.moment_id]) if last else None
        return orjson.dumps(page)

    key = ("moments", tuple(kinds), span.start, span.end, limit, before)
    return Response(await state.queries.get(stream_id, key, answer), media_type="application/json")


def _position(text: str, listing: str) -> MomentPosition:
    try:
        position = cursor.decode(text, listing)
        if len(position) != 2:
            raise cursor.BadCursor("not a cursor from this API")
        return MomentPosition(cursor.moment(position[0]), cursor.record_id(position[1]))
    except cursor.BadCursor as error:
        raise field_error(("query", "cursor"), str(error)) from None
