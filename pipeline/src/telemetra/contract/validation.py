"""Enforcing the contract at the boundary: every problem, with the field path that has it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from telemetra.contract.models import EVENT_MODELS, MAX_EVENT_BYTES, Event

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


@dataclass(frozen=True, slots=True)
class Problem:
    path: str  # dotted field path ("emotes.3"), or "" for the whole event
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<event>'}: {self.message}"


class InvalidEvent(ValueError):
    """An event that breaks the contract; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(map(str, problems)))

    @property
    def reason(self) -> str:
        return str(self)


def parse_event(raw: bytes | str) -> Event:
    """Parse and validate one JSON-encoded event; raise :class:`InvalidEvent` with every problem."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_EVENT_BYTES:
        raise InvalidEvent([Problem("", f"event is {size} bytes, over the {MAX_EVENT_BYTES}-byte limit")])
    try:
        return _EVENT_ADAPTER.validate_json(raw)
    except ValidationError as error:
        raise InvalidEvent(_problems(error, raw)) from None


def validate_event(event: Mapping[str, Any]) -> Event:
    """Validate an already-decoded event (it is checked exactly as it would be on the wire)."""
    return parse_event(orjson.dumps(event))


def _problems(error: ValidationError, raw: bytes | str) -> list[Problem]:
    problems = []
    for detail in error.errors(include_url=False, include_input=False):
        location = [str(part) for part in detail["loc"]]
        # Drop the union tag pydantic prefixes to every path ("chat.text" → "text").
        if location and location[0] in EVENT_MODELS:
            location = location[1:]
        kind = detail["type"]
        if kind == "json_invalid":
            message = f"malformed JSON: {detail['ctx'].get('error', 'cannot parse')}"
        elif kind == "union_tag_invalid":
            location, message = ["type"], f"unknown event type; expected one of {', '.join(EVENT_MODELS)}"
        elif kind == "union_tag_not_found":
            location, message = ["type"], "field required"
        elif kind == "model_type":
            message = "expected a JSON object"
        else:
            message = detail["msg"].removeprefix("Value error, ")
        problems.append(Problem(".".join(location), message))
    return problems or [Problem("", f"invalid event: {raw!r:.80}")]
