"""Error answers: a short reason and the request id, never internals (no SQL, no stack traces, no DSNs).

* ``HTTPException`` → its status and detail.
* Validation → 422 with ``loc`` naming the field (``["query", "limit"]``); inputs are not echoed back.
* :class:`Unavailable` (and the store/cache errors it wraps) → 503 ``"store unavailable"`` etc.
* Anything else → 500 ``"internal error"``, logged with its traceback (see the request-context middleware).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount

from telemetra.services.api.observability import request_id_var
from telemetra.services.cache import CacheUnavailable
from telemetra.services.storage import StoreUnavailable

log = logging.getLogger("telemetra.services.api")


class Unavailable(Exception):
    """A backend needed for this answer is down; ``reason`` is safe to show ("store unavailable")."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotFound(Exception):
    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


def field_error(
    location: Sequence[str | int], message: str, kind: str = "value_error"
) -> RequestValidationError:
    """A 422 naming ``location`` (e.g. ``("query", "to")``), for checks that span several parameters."""
    return RequestValidationError([{"loc": tuple(location), "msg": message, "type": kind}])


def json_error(status: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
    body = {"detail": detail, "request_id": request_id_var.get() or ""}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _clean(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Keep where and why; drop ``input``/``ctx``/``url``, which echo caller data and library internals."""
    return [
        {"loc": [str(p) if not isinstance(p, int) else p for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
         "type": str(e.get("type", "value_error"))}
        for e in errors
    ]  # fmt: skip


async def _validation(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    return json_error(422, _clean(error.errors()))


async def _http(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    headers = dict(error.headers) if error.headers else None
    if error.status_code == 400 and isinstance(error.__cause__, ValueError):
        # FastAPI's body parser: a JSON body that is not UTF-8 (a JSON syntax error is already a 422)
        return json_error(422, [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}])
    if error.status_code == 405:  # Starlette names only the first matching route's methods
        headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    if error.status_code >= 500:  # our own raises carry safe text, but be strict anyway
        return json_error(
            error.status_code, "internal error" if error.status_code == 500 else str(error.detail)
        )
    return json_error(error.status_code, error.detail, headers)


async def _unavailable(request: Request, error: Exception) -> Response:
    reason = error.reason if isinstance(error, Unavailable) else _backend_reason(error)
    log.warning("answered 503", extra={"reason": reason, "error": str(error)[:300]})
    return json_error(503, reason, {"Retry-After": "2"})


async def _not_found(request: Request, error: Exception) -> Response:
    assert isinstance(error, NotFound)
    return json_error(404, error.what)


METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """The methods the router would route to an endpoint for this path: each one is tried in turn (routes
    can be nested routers, which keep their methods to themselves). A mount (the dashboard's static files)
    serves GET and HEAD."""
    allowed = []
    for method in METHODS:
        scope = {**request.scope, "method": method}
        for route in request.app.router.routes:
            if isinstance(route, BaseRoute) and route.matches(scope)[0] == Match.FULL:
                if not isinstance(route, Mount) or method in ("GET", "HEAD"):
                    allowed.append(method)
                break
    return allowed


def _backend_reason(error: Exception) -> str:
    if isinstance(error, StoreUnavailable):
        return "store unavailable"
    if isinstance(error, CacheUnavailable):
        return "cache unavailable"
    return "service unavailable"


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Unavailable, _unavailable)
    app.add_exception_handler(StoreUnavailable, _unavailable)
    app.add_exception_handler(CacheUnavailable, _unavailable)
    app.add_exception_handler(NotFound, _not_found)
