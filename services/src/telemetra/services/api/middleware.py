"""Pure ASGI middleware (no per-request task or body copy, unlike ``BaseHTTPMiddleware``).

``RequestContext`` (outermost): accepts or creates the request id (``X-Request-ID``), returns it, puts it in
every log record of the request, times the request into the latency histogram by route *template* (bounded
label values), writes one access-log line, optionally wraps the request in a trace span, and turns an
unhandled exception into a generic 500 that still carries the request id.

``BodyLimit``: 413 for bodies over the limit, by ``Content-Length`` or while streaming.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telemetra.services.api.observability import Metrics, request_id_var

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

log = logging.getLogger("telemetra.services.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if _REQUEST_ID.match(text):
                return text
            break  # malformed ids are replaced, not echoed (no header or log injection)
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContext:
    def __init__(
        self, app: ASGIApp, metrics: Metrics, *, access_log: bool = True, tracer: Tracer | None = None
    ):
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        token = request_id_var.set(request_id)
        try:
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
            elif self.tracer is None:
                await self._http(scope, receive, send, request_id)
            else:
                await self._traced(scope, receive, send, request_id)
        finally:
            request_id_var.reset(token)

    async def _traced(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        from opentelemetry import propagate, trace

        assert self.tracer is not None
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        with self.tracer.start_as_current_span(
            f"{scope['method']}", context=propagate.extract(carrier), kind=trace.SpanKind.SERVER
        ) as span:
            status = await self._http(scope, receive, send, request_id)
            span.update_name(f"{scope['method']} {route_template(scope)}")
            span.set_attribute("http.request.method", scope["method"])
            span.set_attribute("http.route", route_template(scope))
            span.set_attribute("http.response.status_code", status)
            span.set_attribute("telemetra.request_id", request_id)
            if status >= 500:
                span.set_status(trace.Status(trace.StatusCode.ERROR))

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> int:
        started = time.perf_counter()
        status = 500
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"path": scope.get("path")})
            status = 500
            await _send_500(send, request_id)  # a started response cannot be replaced; uvicorn closes it
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            self.metrics.request_seconds.labels(scope["method"], route, str(status)).observe(elapsed)
            if self.access_log:
                log.info(
                    "request",
                    extra={"method": scope["method"], "path": scope.get("path"), "route": route, "status": status,
                           "duration_ms": round(elapsed * 1000, 3)},
                )  # fmt: skip
        return status


async def _send_500(send: Send, request_id: str) -> None:
    body = orjson.dumps({"detail": "internal error", "request_id": request_id})
    try:
        await send({
            "type": "http.response.start",
            "status": 500,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"x-request-id", request_id.encode())],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": body})
    except Exception:  # the response had already started: nothing more can be said to this client
        log.debug("could not send the 500 answer", exc_info=True)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            await _too_large(send)
            return
        seen = 0
        responded = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal responded
            responded = responded or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not responded:
                await _too_large(send)


class _TooLarge(Exception):
    pass


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send) -> None:
    body = orjson.dumps({"detail": "request body too large", "request_id": request_id_var.get() or ""})
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
