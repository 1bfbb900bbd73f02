"""Dead letters: the inputs the engine could not process, newest first, in every mode."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from telemetra.contract import STREAM_ID_PATTERN
from telemetra.services.api.deps import Limit, ReaderDep, json_response, require
from telemetra.services.api.schemas import DeadLettersPage, error_responses

router = APIRouter(prefix="/api/v1", tags=["dead letters"], dependencies=[require("read")])


@router.get(
    "/dead-letters",
    response_model=DeadLettersPage,
    summary="Stored dead letters, newest first, with reason and source position",
    responses=error_responses(401, 403, 422, 503),
)
async def dead_letters(
    reader: ReaderDep,
    stream_id: Annotated[
        str | None,
        Query(pattern=STREAM_ID_PATTERN, description="Only those sent to this stream."),
    ] = None,
    limit: Limit = 50,
) -> Response:
    return json_response(await reader.dead_letters(stream_id, limit))
