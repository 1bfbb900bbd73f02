"""Alerting, administered (scope ``admin``): each stream's alert config, and the delivery log.

A config set here is stored beside the alert outbox (origin ``api``); every process that offers moments (the
demo, the Spark jobs' outputs) reads it within ``TELEMETRA_ALERTS_RULES_REFRESH_S``. A config that a
TelemetraStream manages (origin ``resource:<namespace>/<name>``, written by the operator from ``spec.alerts``)
cannot be changed here: edit the resource (409 says which).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, HTTPException, Path, Query
from starlette.responses import Response

from telemetra.contract import STREAM_ID_PATTERN
from telemetra.records import format_ts
from telemetra.services import cursor
from telemetra.services.alerts.outbox import (
    AttemptRecord,
    DeliveryPosition,
    DeliveryRecord,
    StoredConfig,
)
from telemetra.services.alerts.rules import NAME_PATTERN, AlertConfig
from telemetra.services.api.deps import Cursor, OutboxDep, StreamId, json_response, require
from telemetra.services.api.errors import NotFound, Unavailable, field_error
from telemetra.services.api.schemas import (
    AlertState,
    DeliveriesPage,
    DeliveryAttempts,
    DeliveryOut,
    StreamAlerts,
    error_responses,
    link,
    links,
    next_page,
)
from telemetra.services.storage import StoreUnavailable

router = APIRouter(prefix="/api/v1/admin", tags=["alerts"], dependencies=[require("admin")])
T = TypeVar("T")
API_ORIGIN = "api"
NO_CONFIG = "no alert config for this stream"
NO_DELIVERY = "no such delivery"
LISTING = "alert-deliveries"
# Secret references without their namespace: the CR's spec.alerts (the operator adds the namespace).
_CR_FIELDS: Any = {
    "destinations": {"__all__": {"url_from": {"namespace"}, "signing_secret_from": {"namespace"}}}
}

MomentId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$", description="The moment's id.", examples=["m0001-alpha"])
]
DestinationName = Annotated[
    str, Path(pattern=NAME_PATTERN, description="The destination's name in the stream's config.")
]
STREAM_ALERTS = {"path_stream_id": "$request.path.stream_id"}
DELIVERY_KEY = {"path_moment_id": "$request.path.moment_id", "path_destination": "$request.path.destination"}


async def _outbox(call: Awaitable[T]) -> T:
    try:
        return await call
    except StoreUnavailable as error:
        raise Unavailable("alert outbox unavailable") from error


def _config_json(config: AlertConfig) -> dict[str, Any]:
    data: dict[str, Any] = config.model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude=_CR_FIELDS
    )
    return data


def _stored(stored: StoredConfig) -> dict[str, Any]:
    return {
        "stream_id": stored.stream_id,
        "origin": stored.origin,
        "updated_at": format_ts(stored.updated_at),
        "config": _config_json(stored.config),
    }


def _managed(stored: StoredConfig | None) -> None:
    """A 409 when a TelemetraStream manages the config."""
    if stored is not None and stored.resource is not None:
        raise HTTPException(409, f"managed by TelemetraStream {stored.resource}: edit spec.alerts")


# -- configs -------------------------------------------------------------------------------------------------
@router.get(
    "/streams/{stream_id}/alerts",
    response_model=StreamAlerts,
    summary="A stream's alert config (scope: admin)",
    responses=error_responses(401, 403, 404, 422, 503, not_found="The stream has no alert config.")
    | links(deliveries=link("list_alert_deliveries", query_stream_id="$response.body#/stream_id")),
)
async def get_stream_alerts(stream_id: StreamId, outbox: OutboxDep) -> Response:
    stored = (await _outbox(outbox.configs([stream_id]))).get(stream_id)
    if stored is None:
        raise NotFound(NO_CONFIG)
    return json_response(_stored(stored))


@router.put(
    "/streams/{stream_id}/alerts",
    response_model=StreamAlerts,
    summary="Set a stream's alert config (scope: admin)",
    description="The body is what a TelemetraStream's `spec.alerts` holds: destinations (secrets by "
    "reference: `urlFrom`, `signingSecretFrom` name a Secret key or an env variable of the dispatcher) and "
    "rules. Applies to moments offered from the next refresh of the configs on (a few seconds). 422 names the "
    "field at fault (never its value); 409 when a TelemetraStream manages the stream's alerts.",
    responses=error_responses(
        401, 403, 409, 413, 422, 503, conflict="A TelemetraStream manages this stream's alerts."
    )
    | links(read=link("get_stream_alerts", **STREAM_ALERTS)),
)
async def put_stream_alerts(
    stream_id: StreamId, config: Annotated[AlertConfig, Body()], outbox: OutboxDep
) -> Response:
    _no_namespaces(config)
    _managed((await _outbox(outbox.configs([stream_id]))).get(stream_id))
    now = round(time.time(), 3)  # what both databases keep exactly (SQLite: milliseconds)
    await _outbox(outbox.set_config(stream_id, config, API_ORIGIN, now))
    return json_response(_stored(StoredConfig(stream_id, config, API_ORIGIN, now)))


@router.delete(
    "/streams/{stream_id}/alerts",
    status_code=204,
    summary="Remove a stream's alert config (scope: admin)",
    description="The stream alerts nothing from the next refresh of the configs on; alerts already queued "
    "are still delivered.",
    responses=error_responses(
        401,
        403,
        404,
        409,
        422,
        503,
        not_found="The stream has no alert config.",
        conflict="A TelemetraStream manages this stream's alerts.",
    )
    | links(204, read=link("get_stream_alerts", **STREAM_ALERTS)),
)
async def delete_stream_alerts(stream_id: StreamId, outbox: OutboxDep) -> Response:
    stored = (await _outbox(outbox.configs([stream_id]))).get(stream_id)
    if stored is None:
        raise NotFound(NO_CONFIG)
    _managed(stored)
    await _outbox(outbox.set_config(stream_id, None, API_ORIGIN, time.time()))
    return Response(status_code=204)


def _no_namespaces(config: AlertConfig) -> None:
    """A Secret reference's namespace is the operator's to set (from the TelemetraStream's): refused here,
    so this API reads no Secret outside the dispatcher's namespace."""
    for i, destination in enumerate(config.destinations):
        for field, alias in (("url_from", "urlFrom"), ("signing_secret_from", "signingSecretFrom")):
            ref = getattr(destination, field)
            if ref is not None and ref.namespace is not None:
                raise field_error(
                    ("body", "destinations", i, alias, "namespace"),
                    "extra inputs are not permitted (the namespace of a Secret is the dispatcher's)",
                    "extra_forbidden",
                )


# -- the delivery log ----------------------------------------------------------------------------------------
def _delivery(record: DeliveryRecord) -> dict[str, Any]:
    return {
        "moment_id": record.moment_id,
        "destination": record.destination,
        "stream_id": record.stream_id,
        "kind": record.kind,
        "state": record.state,
        "reason": record.reason,
        "revision": record.revision,
        "sent_revision": record.sent_revision,
        "remote_id": record.remote_id,
        "attempts": record.attempts,
        "next_attempt_at": format_ts(record.next_attempt_at),
        "created_at": format_ts(record.created_at),
        "updated_at": format_ts(record.updated_at),
        "delivered_at": None if record.delivered_at is None else format_ts(record.delivered_at),
    }


def _attempt(record: AttemptRecord) -> dict[str, Any]:
    return {
        "revision": record.revision,
        "attempt": record.attempt,
        "at": format_ts(record.at),
        "outcome": record.outcome,
        "status": record.status,
        "error": record.error,
        "duration_ms": record.duration_ms,
    }


def _position(text: str) -> DeliveryPosition:
    try:
        position = cursor.decode(text, LISTING)
        if len(position) != 3:
            raise cursor.BadCursor("not a cursor from this API")
        return DeliveryPosition(
            cursor.moment(position[0]), cursor.record_id(position[1]), cursor.record_id(position[2])
        )
    except cursor.BadCursor as error:
        raise field_error(("query", "cursor"), str(error)) from None


@router.get(
    "/alerts/deliveries",
    response_model=DeliveriesPage,
    summary="The delivery log: one row per alert (moment × destination), most recently updated first "
    "(scope: admin)",
    responses=error_responses(401, 403, 422, 503)
    | next_page(
        "list_alert_deliveries",
        "stream_id",
        "state",
        of_stream=False,
        attempts=link(
            "get_alert_delivery_attempts",
            path_moment_id="$response.body#/items/0/moment_id",
            path_destination="$response.body#/items/0/destination",
        ),
    ),
)
async def list_alert_deliveries(
    outbox: OutboxDep,
    stream_id: Annotated[
        str | None, Query(pattern=STREAM_ID_PATTERN, description="Only this stream's alerts.")
    ] = None,
    state: Annotated[AlertState | None, Query(description="Only alerts in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size (1–500).")] = 100,
    cursor_text: Annotated[Cursor, Query(alias="cursor")] = None,
) -> Response:
    after = _position(cursor_text) if cursor_text else None
    rows = await _outbox(outbox.deliveries(state=state, stream_id=stream_id, limit=limit, after=after))
    last = rows[-1].position if len(rows) == limit else None
    next_cursor = (
        cursor.encode(LISTING, [last.updated_at, last.moment_id, last.destination]) if last else None
    )
    return json_response({"items": [_delivery(r) for r in rows], "next_cursor": next_cursor})


@router.get(
    "/alerts/deliveries/{moment_id}/{destination}/attempts",
    response_model=DeliveryAttempts,
    summary="One alert and every attempt to deliver it, oldest first (scope: admin)",
    responses=error_responses(401, 403, 404, 422, 503, not_found="No alert with that key."),
)
async def get_alert_delivery_attempts(
    moment_id: MomentId, destination: DestinationName, outbox: OutboxDep
) -> Response:
    record = await _outbox(outbox.delivery(moment_id, destination))
    if record is None:
        raise NotFound(NO_DELIVERY)
    attempts = await _outbox(outbox.attempts(moment_id, destination))
    return json_response({"delivery": _delivery(record), "attempts": [_attempt(a) for a in attempts]})


@router.post(
    "/alerts/deliveries/{moment_id}/{destination}/requeue",
    status_code=202,
    response_model=DeliveryOut,
    summary="Send a dead alert again (scope: admin)",
    description="A dead letter goes back to pending with its attempts reset; a dispatcher sends it next.",
    responses=error_responses(401, 403, 404, 422, 503, not_found="No dead alert with that key.")
    | links(202, attempts=link("get_alert_delivery_attempts", **DELIVERY_KEY)),
)
async def requeue_alert_delivery(
    moment_id: MomentId, destination: DestinationName, outbox: OutboxDep
) -> Response:
    if not await _outbox(outbox.requeue(moment_id, destination, time.time())):
        raise NotFound("no dead alert with that key")
    record = await _outbox(outbox.delivery(moment_id, destination))
    if record is None:  # removed in between (not done by anything today)
        raise NotFound(NO_DELIVERY)
    return json_response(_delivery(record), 202)
