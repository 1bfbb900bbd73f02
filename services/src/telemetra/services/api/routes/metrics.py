"""A stream's window metrics over a time range: raw 10 s slide or 1 m / 5 m roll-ups, cursor-paginated."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from telemetra.services import cursor
from telemetra.services.api.deps import Cursor, Limit, Range, ReaderDep, State, StreamId, require
from telemetra.services.api.errors import field_error
from telemetra.services.api.schemas import MetricsPage, Resolution, error_responses, next_page

router = APIRouter(prefix="/api/v1", tags=["metrics"], dependencies=[require("read")])

RESOLUTION_HELP = (
    "`10s`: every window as stored, one per slide (the stream's `window_seconds` long, one every "
    "`slide_seconds`; 60 s and 10 s by default); `1m` and `5m`: the stream's non-overlapping windows merged into "
    "buckets of that length (sums exact; unique chatters and top emotes approximate); 422 when the stream's "
    "window length does not divide the resolution."
)


@router.get(
    "/streams/{stream_id}/metrics",
    response_model=MetricsPage,
    summary="Window metrics in [from, to), oldest first",
    responses=error_responses(401, 403, 404, 422, 503) | next_page("stream_metrics", "resolution"),
)
async def stream_metrics(
    stream_id: StreamId,
    reader: ReaderDep,
    state: State,
    span: Range,
    limit: Limit = 100,
    cursor_text: Annotated[Cursor, Query(alias="cursor")] = None,
    resolution: Annotated[Resolution, Query(description=RESOLUTION_HELP)] = "10s",
) -> Response:
    kind = f"metrics:{stream_id}:{resolution}"
    after = _position(cursor_text, kind) if cursor_text else None

    async def answer() -> bytes:
        page, next_after = await reader.metrics_page(
            stream_id, start=span.start, end=span.end, limit=limit, after=after, resolution=resolution
        )
        page["next_cursor"] = cursor.encode(kind, [next_after]) if next_after is not None else None
        return orjson.dumps(page)

    key = ("metrics", resolution, span.start, span.end, limit, after)
    return Response(await state.queries.get(stream_id, key, answer), media_type="application/json")


def _position(text: str, kind: str) -> float:
    try:
        position = cursor.decode(text, kind)
        if len(position) != 1:
            raise cursor.BadCursor("not a cursor from this API")
        return cursor.moment(position[0])
    except cursor.BadCursor as error:
        raise field_error(("query", "cursor"), str(error)) from None
