"""Every dependency of the routes, in one place: app state, the reader, authentication, and the parameters
several routes share (stream id, time range, limit)."""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import jwt
import orjson
from fastapi import Depends, HTTPException, Path, Query, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BeforeValidator
from starlette.requests import HTTPConnection
from starlette.responses import Response

from telemetra.contract import STREAM_ID_PATTERN
from telemetra.services.alerts.outbox import Outbox
from telemetra.services.api.errors import field_error
from telemetra.services.api.reads import Reader
from telemetra.services.api.state import AppState
from telemetra.services.cursor import EARLIEST, LATEST  # 1970-01-01 … 3000-01-01: the range a query may name
from telemetra.services.settings import Settings

SCOPE_RANK = {"read": 0, "write": 1, "admin": 2}  # a scope grants every scope below it


# Dependencies are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a thread pool, a
# thread hop per dependency per request, which was most of the cost of a cached answer.
async def get_state(connection: HTTPConnection) -> AppState:
    state: AppState = connection.app.state.telemetra
    return state


async def get_reader(connection: HTTPConnection) -> Reader:
    reader: Reader = connection.app.state.reader
    return reader


async def get_outbox(connection: HTTPConnection) -> Outbox:
    outbox: Outbox = connection.app.state.telemetra.outbox
    return outbox


State = Annotated[AppState, Depends(get_state)]
OutboxDep = Annotated[Outbox, Depends(get_outbox)]
ReaderDep = Annotated[Reader, Depends(get_reader)]
StreamId = Annotated[
    str,
    Path(
        pattern=STREAM_ID_PATTERN,
        description="Channel slug: lowercase letters, digits, `_` and `-`.",
        examples=["demo"],
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (1–1000).")]
Cursor = Annotated[
    str | None,
    Query(max_length=512, pattern=r"^[A-Za-z0-9_-]+$", description="`next_cursor` of the previous page."),
]


def json_response(data: Any, status_code: int = 200) -> Response:
    """Encode once with orjson (the records are already plain data)."""
    return Response(orjson.dumps(data), status_code=status_code, media_type="application/json")


# -- time range --------------------------------------------------------------------------------------------
def _epoch(moment: datetime, name: str) -> float:
    try:
        value = moment.timestamp()
    except (OverflowError, ValueError, OSError):
        value = math.nan
    if not EARLIEST <= value < LATEST:  # NaN fails too
        raise field_error(("query", name), "must be between 1970-01-01T00:00:00Z and 3000-01-01T00:00:00Z")
    return value


def _text_time(value: object) -> object:
    """Only RFC 3339 text: pydantic would also read a bare number as epoch seconds, which the document does not
    promise (and a client sending one most likely meant something else)."""
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("must be an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_text_time)]


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: float
    end: float


async def time_range(
    from_: Annotated[
        Instant | None, Query(alias="from", description="Inclusive start, RFC 3339 with offset.")
    ] = None,
    to: Annotated[Instant | None, Query(description="Exclusive end, RFC 3339 with offset.")] = None,
) -> TimeRange:
    start = _epoch(from_, "from") if from_ is not None else EARLIEST
    end = _epoch(to, "to") if to is not None else LATEST
    if end <= start:
        raise field_error(("query", "to"), "must be later than from")
    return TimeRange(start, end)


Range = Annotated[TimeRange, Depends(time_range)]


# -- authentication ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    scopes: frozenset[str]


ANONYMOUS = Principal("anonymous", frozenset({"read"}))
bearer = HTTPBearer(
    auto_error=False,
    description="A static API token (TELEMETRA_API_TOKENS) or an HS256 JWT with a `scope` claim.",
)


def authenticate(token: str, settings: Settings) -> Principal | None:
    for index, static in enumerate(settings.api_tokens):
        if hmac.compare_digest(token.encode(), static.token.get_secret_value().encode()):
            return Principal(f"token#{index}", static.scopes)
    if settings.jwt_secret is None:
        return None
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            # With no audience configured, PyJWT refuses tokens that carry an ``aud``: a token minted for
            # another service (same key, different audience) must not be accepted here.
            options={"require": ["exp"]},
        )
    except jwt.PyJWTError:
        return None
    return Principal(str(claims.get("sub", "jwt")), _scopes(claims))


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    """OAuth 2 style ``scope`` ("read write") or a ``scopes`` list."""
    scope, scopes = claims.get("scope"), claims.get("scopes")
    names = scope.split() if isinstance(scope, str) else scopes if isinstance(scopes, list) else []
    return frozenset(str(name) for name in names)


def granted(scopes: frozenset[str], needed: str) -> bool:
    return any(SCOPE_RANK.get(scope, -1) >= SCOPE_RANK[needed] for scope in scopes)


def require(scope: str) -> Any:
    """A dependency admitting requests whose bearer token grants ``scope`` (reads may be public)."""

    async def check(
        state: State, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
    ) -> Principal:
        if scope == "read" and state.settings.public_reads:
            return ANONYMOUS
        return authorize(credentials.credentials if credentials else None, scope, state.settings)

    return Depends(check)


def authorize(token: str | None, scope: str, settings: Settings) -> Principal:
    challenge = {"WWW-Authenticate": "Bearer"}
    if not token:
        raise HTTPException(401, "bearer token required", headers=challenge)
    principal = authenticate(token, settings)
    if principal is None:
        raise HTTPException(401, "invalid or expired token", headers=challenge)
    if not granted(principal.scopes, scope):
        raise HTTPException(403, f"scope {scope!r} required")
    return principal
