"""Pure ASGI middleware (no per-request task or body copy, unlike ``BaseHTTPMiddleware``).

``RequestContext`` (outermost): accepts or creates the request id (``X-Request-ID``), returns it, puts it in
every log record of the request, times the request into the latency histogram by route *template* (bounded
label values), writes one access-log line, optionally wraps the request in a trace span, and turns an
unhandled exception into a generic 500 that still carries the request id.

``BodyLimit``: 413 for bodies over the limit, by ``Content-Length`` or, for chunked bodies, while reading ahead;
408 for a body that does not arrive in time.

``LoadShedding`` and ``RateLimit``: 503 when the process is full, 429 when one client asks too often; both with
``Retry-After``. (Clients too slow to send their headers are closed by the server: ``server.py``.)

``SecurityHeaders`` (outside everything, so the 500 guard's and the body limit's answers have them too):
``X-Content-Type-Options``, ``X-Frame-Options``, ``Referrer-Policy`` and a Content-Security-Policy per kind of
answer: nothing may load from an API answer; the dashboard and ``/docs`` load scripts and styles from this
origin only (no inline script) and may connect back to it (fetch, and the WebSocket on the same host).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telemetra.services.api.dashboard import is_api_path
from telemetra.services.api.observability import Metrics, request_id_var

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

log = logging.getLogger("telemetra.services.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if _REQUEST_ID.fullmatch(text):
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
    """413 for a body over ``max_bytes``: by its ``Content-Length`` before anything is read (the server then
    delivers exactly that many bytes), or, for a chunked body, while reading it ahead in full: the limit is
    small, and the endpoint's body parser would turn an error raised mid-body into a 400. A body that takes
    longer than ``timeout_s`` to arrive gets 408: a client trickling bytes must not hold a request slot."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, chunked = _body_framing(scope)
        if length is not None and length > self.max_bytes:
            await _too_large(send)
            return
        if not chunked and not length:
            await self.app(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                pending = await self._read(receive)
        except TimeoutError:
            await _json_answer(send, 408, "request body not received in time", [(b"connection", b"close")])
            return
        if pending is None:
            await _too_large(send)
            return

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> list[Message] | None:
        """The whole body as one message (None when it is over the limit), or the disconnect that ended it."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away mid-body
                return [message]
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return [{"type": "http.request", "body": bytes(body), "more_body": False}]


def _body_framing(scope: Scope) -> tuple[int | None, bool]:
    """``Content-Length`` (None when absent or malformed) and whether the body is chunked."""
    length: int | None = None
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = chunked or b"chunked" in bytes(value).lower()
    return length, chunked


class LoadShedding:
    """503 with ``Retry-After`` as soon as ``max_in_flight`` HTTP requests are being answered, instead of
    queueing more: under overload a client learns at once to come back, and the requests in progress keep
    their latency. Probes (``/health``, ``/ready``, ``/metrics``) are never shed: they must tell the truth
    about an overloaded process. WebSockets are bounded by the connection cap (``max_connections``)."""

    PROBES = frozenset({"/health", "/ready", "/metrics"})

    def __init__(self, app: ASGIApp, max_in_flight: int, metrics: Metrics):
        self.app = app
        self.max_in_flight = max_in_flight
        self.metrics = metrics
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.PROBES:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            self.metrics.shed.inc()
            await _json_answer(send, 503, "overloaded: retry shortly", [(b"retry-after", b"1")])
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class TokenBuckets:
    """One token bucket per client: ``rate`` tokens a second up to ``burst``; a request takes one. Memory is
    bounded: beyond ``max_clients`` the least recently seen client is forgotten (it comes back with a full
    bucket, which only ever errs towards admitting)."""

    def __init__(
        self, rate: float, burst: int, max_clients: int = 65_536, clock: Callable[[], float] = time.monotonic
    ):
        self.rate, self.burst, self.max_clients, self.clock = rate, burst, max_clients, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when); oldest first

    def take(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds until it could."""
        now = self.clock()
        tokens, then = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[client] = (tokens - 1 if wait == 0 else tokens, now)  # re-inserted: most recent last
        if len(self._buckets) > self.max_clients:
            del self._buckets[next(iter(self._buckets))]
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimit:
    """429 with ``Retry-After`` for a client (by address; behind a proxy, the address it forwards when the
    proxy is trusted: ``forwarded_allow_ips``) that asks more often than its bucket allows. Probes are exempt;
    WebSockets are bounded by the connection cap."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets, metrics: Metrics):
        self.app = app
        self.buckets = buckets
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in LoadShedding.PROBES:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.buckets.take(client[0] if client else "")
        if wait > 0:
            self.metrics.rate_limited.inc()
            retry = str(max(1, math.ceil(wait))).encode()
            await _json_answer(
                send, 429, "too many requests from this client: retry later", [(b"retry-after", retry)]
            )
            return
        await self.app(scope, receive, send)


async def _too_large(send: Send) -> None:
    await _json_answer(send, 413, "request body too large")


async def _json_answer(send: Send, status: int, detail: str, extra: list[Any] | None = None) -> None:
    body = orjson.dumps({"detail": detail, "request_id": request_id_var.get() or ""})
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_PAGE = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; connect-src 'self'"
)
DOCS_POLICY = _PAGE  # Swagger UI: its bundle and init script, its stylesheet (icons as data: URIs), fetches
_COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_HOST = re.compile(r"(?:[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


def dashboard_policy(host: str | None) -> str:
    """The dashboard's policy: ``connect-src`` names this origin's WebSocket URLs explicitly (``'self'``
    covers ws:/wss: only in CSP Level 3 browsers), from the ``Host`` header when it is a plain host[:port]."""
    if host is None or not _HOST.fullmatch(host):
        return _PAGE
    return f"{_PAGE} ws://{host} wss://{host}"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, dashboard: bool):
        self.app = app
        self.dashboard = dashboard
        self._api = [*_COMMON_HEADERS, (b"content-security-policy", API_POLICY.encode())]
        self._docs = [*_COMMON_HEADERS, (b"content-security-policy", DOCS_POLICY.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._headers(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if path == "/docs" or path.startswith("/docs/"):
            return self._docs
        if not self.dashboard or is_api_path(path):
            return self._api
        host = next((bytes(v).decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), None)
        return [*_COMMON_HEADERS, (b"content-security-policy", dashboard_policy(host).encode("latin-1"))]
