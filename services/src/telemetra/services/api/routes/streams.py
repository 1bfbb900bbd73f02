"""Streams: the list with their current state, and one stream in detail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from telemetra.services.api.deps import ReaderDep, StreamId, json_response, require
from telemetra.services.api.schemas import StreamDetail, StreamList, error_responses, link, links

FIRST = "$response.body#/items/0/stream_id"
THIS = "$response.body#/stream_id"

router = APIRouter(prefix="/api/v1", tags=["streams"], dependencies=[require("read")])


@router.get(
    "/streams",
    response_model=StreamList,
    summary="Streams with live flag, current viewers and chat rate, last activity and latest moment",
    responses=error_responses(401, 403, 422, 503)
    | links(
        first_stream=link("get_stream", path_stream_id=FIRST),
        first_stream_metrics=link("stream_metrics", path_stream_id=FIRST),
        first_stream_moments=link("stream_moments", path_stream_id=FIRST),
        retitle_first_stream=link("update_stream", path_stream_id=FIRST),
    ),
)
async def list_streams(
    reader: ReaderDep,
    live: Annotated[
        bool | None, Query(description="Only live (true) or only offline (false) streams.")
    ] = None,
) -> Response:
    return json_response(await reader.streams(live))


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
