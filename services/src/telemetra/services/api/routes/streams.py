"""Streams: the list with their current state, and one stream in detail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from telemetra.services.api.deps import ReaderDep, StreamId, json_response, require
from telemetra.services.api.schemas import StreamDetail, StreamList, error_responses

router = APIRouter(prefix="/api/v1", tags=["streams"], dependencies=[require("read")])


@router.get(
    "/streams",
    response_model=StreamList,
    summary="Streams with live flag, current viewers and chat rate, last activity and latest moment",
    responses=error_responses(401, 403, 422, 503),
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
    responses=error_responses(401, 403, 404, 422, 503),
)
async def get_stream(stream_id: StreamId, reader: ReaderDep) -> Response:
    return json_response(await reader.stream(stream_id))
