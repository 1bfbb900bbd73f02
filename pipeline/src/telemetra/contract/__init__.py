"""The event contract: models, JSON Schemas and the boundary validator."""

from telemetra.contract.models import (
    EVENT_MODELS,
    MAX_CHAT_TEXT,
    MAX_EVENT_BYTES,
    STREAM_ID_PATTERN,
    ChatEvent,
    Event,
    EventType,
    MetaKind,
    StreamMetaEvent,
    TransactionEvent,
    TransactionKind,
    ViewersEvent,
)
from telemetra.contract.validation import InvalidEvent, Problem, parse_event, validate_event
from telemetra.records import format_ts, parse_ts

__all__ = [
    "EVENT_MODELS",
    "MAX_CHAT_TEXT",
    "MAX_EVENT_BYTES",
    "STREAM_ID_PATTERN",
    "ChatEvent",
    "Event",
    "EventType",
    "InvalidEvent",
    "MetaKind",
    "Problem",
    "StreamMetaEvent",
    "TransactionEvent",
    "TransactionKind",
    "ViewersEvent",
    "format_ts",
    "parse_event",
    "parse_ts",
    "validate_event",
]
