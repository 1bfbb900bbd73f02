"""Opaque pagination cursors: base64url JSON of the keyset position, tagged with what they page through, so a
cursor from one listing (or resolution) is rejected by another instead of silently returning nonsense."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

VERSION = 1
MAX_LENGTH = 512


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
