"""Write and admin endpoints (bearer token with scope ``write`` or ``admin``)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from telemetra.services.api.deps import ReaderDep, State, StreamId, json_response, require
from telemetra.services.api.errors import NotFound
from telemetra.services.api.schemas import StreamDetail, StreamMetaIn, error_responses, link, links

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.patch(
    "/streams/{stream_id}",
    response_model=StreamDetail,
    summary="Set a stream's title and/or category (scope: write)",
    description="Only the fields sent change; `null` clears one. Control characters (other than tab and line "
    "breaks) are refused with 422.",
    dependencies=[require("write")],
    responses=error_responses(401, 403, 404, 413, 422, 503)
    | links(updated=link("get_stream", path_stream_id="$response.body#/stream_id")),
)
async def update_stream(stream_id: StreamId, meta: StreamMetaIn, state: State, reader: ReaderDep) -> Response:
    sent = meta.model_fields_set
    if not await state.store.set_stream_meta(stream_id, meta.title, meta.category, fields=sent):
        raise NotFound("unknown stream")
    return json_response(await reader.stream(stream_id))


@router.delete(
    "/streams/{stream_id}",
    status_code=204,
    summary="Delete a stream's history and live state (scope: admin)",
    dependencies=[require("admin")],
    responses=error_responses(401, 403, 404, 422, 503)
    | links(204, deleted=link("get_stream", path_stream_id="$request.path.stream_id")),
)
async def delete_stream(stream_id: StreamId, state: State) -> Response:
    existed = await state.store.delete_stream(stream_id)
    state.queries.invalidate(stream_id)
    cached = await state.cache.snapshot(stream_id)
    await state.cache.forget(stream_id)
    if not existed and cached is None:
        raise NotFound("unknown stream")
    return Response(status_code=204)
