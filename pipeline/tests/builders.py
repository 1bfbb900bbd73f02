"""Builders for hand-made events in tests (times in seconds after T0, a round minute)."""

from __future__ import annotations

import itertools
from typing import Any

from telemetra.contract import Event, format_ts, validate_event

T0 = 1_790_000_040.0  # 2026-09-21T14:14:00Z, a multiple of 60
_ids = itertools.count()


def event(event_type: str, at: float, /, stream: str = "s", **fields: Any) -> Event:
    return validate_event(
        {
            "event_id": f"e{next(_ids)}",
            "stream_id": stream,
            "type": event_type,
            "ts": format_ts(T0 + at),
            **fields,
        }
    )


def chat(
    at: float, user: str = "u1", text: str = "hello", emotes: list[str] | None = None, **kw: Any
) -> Event:
    fields: dict[str, Any] = {"user_id": user, "username": user, "text": text, **kw}
    if emotes is not None:
        fields["emotes"] = emotes
    return event("chat", at, **fields)


def viewers(at: float, count: int, stream: str = "s") -> Event:
    return event("viewers", at, stream=stream, viewers=count)
