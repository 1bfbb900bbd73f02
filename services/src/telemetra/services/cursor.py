"""Opaque pagination cursors: base64url JSON of the keyset position, tagged with what they page through, so a
cursor from one listing (or resolution) is rejected by another instead of silently returning nonsense."""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

import orjson

VERSION = 1
MAX_LENGTH = 512
EARLIEST, LATEST = 0.0, 32_503_680_000.0  # 1970-01-01 … 3000-01-01: the range a query (and a cursor) may name
_ID = re.compile(r"[\x21-\x7e]{1,128}")  # record ids are printable ASCII (moment ids: 24 hex digits)


class BadCursor(ValueError):
    """The cursor was not produced by this API for this listing."""


def encode(kind: str, position: list[Any]) -> str:
    raw = orjson.dumps({"v": VERSION, "k": kind, "p": position})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(text: str, kind: str) -> list[Any]:
    if len(text) > MAX_LENGTH:
        raise BadCursor("cursor too long")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        body = orjson.loads(raw)
    except (binascii.Error, ValueError) as error:
        raise BadCursor("not a cursor from this API") from error
    if not isinstance(body, dict) or body.get("v") != VERSION or not isinstance(body.get("p"), list):
        raise BadCursor("not a cursor from this API")
    if body.get("k") != kind:
        raise BadCursor("cursor belongs to another listing or resolution")
    position: list[Any] = body["p"]
    return position


def moment(value: Any) -> float:
    """A time position (epoch seconds) taken from a decoded cursor: a number in the range a query may name
    (not a bool, NaN or infinite); anything else is :class:`BadCursor`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadCursor("not a cursor from this API")
    number = float(value)
    if not (math.isfinite(number) and EARLIEST <= number < LATEST):
        raise BadCursor("not a cursor from this API")
    return number


def number(value: Any) -> float:
    """A sort key taken from a decoded cursor: a finite number (not a bool), else :class:`BadCursor`."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadCursor("not a cursor from this API")
    return float(value)


def count(value: Any) -> int:
    """A sort key taken from a decoded cursor that counts something: an integer a database's 32-bit integer
    column can hold, else :class:`BadCursor`."""
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise BadCursor("not a cursor from this API")
    return value


def record_id(value: Any) -> str:
    """A record id taken from a decoded cursor: 1–128 printable ASCII characters, else :class:`BadCursor`."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise BadCursor("not a cursor from this API")
    return value
