"""Typed event models: the single source of truth for the event contract.

The JSON Schema files in ``pipeline/schemas/`` are generated from these models (``telemetra contract export``)
and a test keeps them identical, so producers in other languages can validate against the files while Python
code uses the models.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

STREAM_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# RFC 3339 date-time with a mandatory offset (Z or ±hh:mm); naive timestamps are rejected.
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
CURRENCY_PATTERN = r"^([A-Z]{3}|BITS)$"
VOD_ID_PATTERN = r"^[0-9]{1,20}$"  # a Twitch video id
MAX_CHAT_TEXT = 500
MAX_EVENT_BYTES = 64 * 1024
SCHEMA_VERSION = "v1"  # compatible additions are revisions of v1: every v1 event stays valid
SCHEMA_REVISION = 3  # 2: transaction.months, transaction.tenure_months; 3: stream_meta.vod_id

_RFC3339 = re.compile(RFC3339_PATTERN)


def _parse_rfc3339(value: Any) -> Any:
    if isinstance(value, str):
        if not _RFC3339.match(value):
            raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-27T16:00:00Z")
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("must carry a UTC offset")
    return value


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Timestamp = Annotated[
    datetime,
    BeforeValidator(_parse_rfc3339),
    AfterValidator(_to_utc),
    Field(json_schema_extra={"format": "date-time", "pattern": RFC3339_PATTERN}),
]
StreamId = Annotated[str, Field(pattern=STREAM_ID_PATTERN, description="Channel slug, lowercase.")]
UserId = Annotated[str, Field(min_length=1, max_length=64)]


class EventType(StrEnum):
    CHAT = "chat"
    VIEWERS = "viewers"
    TRANSACTION = "transaction"
    STREAM_META = "stream_meta"


class TransactionKind(StrEnum):
    SUB = "sub"
    RESUB = "resub"
    GIFT = "gift"
    BITS = "bits"
    DONATION = "donation"


class MetaKind(StrEnum):
    START = "start"
    END = "end"
    TITLE = "title"
    CATEGORY = "category"
    RAID = "raid"


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, use_enum_values=True)

    event_id: str = Field(min_length=1, max_length=128, description="Globally unique; the dedup key.")
    stream_id: StreamId
    ts: Timestamp = Field(description="Event time, RFC 3339 with offset; normalised to UTC.")


class ChatEvent(_Event):
    """One chat message."""

    type: Literal["chat"] = "chat"
    user_id: UserId
    username: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=MAX_CHAT_TEXT)
    emotes: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None,
        max_length=MAX_CHAT_TEXT,
        description="Emote names in order of appearance, repeats kept; recognised from the text when absent.",
    )
    badges: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=32)
    bits: int = Field(default=0, ge=0, description="Bits cheered in this message.")


class ViewersEvent(_Event):
    """A sample of the concurrent viewer count."""

    type: Literal["viewers"] = "viewers"
    viewers: int = Field(ge=0)
    chatters: int | None = Field(default=None, ge=0)
    followers: int | None = Field(default=None, ge=0)


class TransactionEvent(_Event):
    """Money in: subscriptions, gifted subs, bits and donations."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {  # bits are counted in BITS, and only bits are
                    "if": {"properties": {"kind": {"const": "bits"}}},
                    "then": {"properties": {"currency": {"const": "BITS"}}},
                    "else": {"properties": {"currency": {"not": {"const": "BITS"}}}},
                }
            ]
        }
    )

    type: Literal["transaction"] = "transaction"
    kind: TransactionKind
    user_id: UserId
    amount: float = Field(ge=0, description="In `currency` units; the number of bits for kind=bits.")
    currency: str = Field(pattern=CURRENCY_PATTERN, description="ISO 4217 code, or BITS.")
    tier: Literal["1000", "2000", "3000", "prime"] | None = None
    count: int = Field(default=1, ge=1, le=10_000, description="Subscriptions gifted at once (kind=gift).")
    months: int = Field(
        default=1,
        ge=1,
        le=120,
        description="Months paid for at once: a multi-month sub (kind=sub or resub), or the months of each "
        "gifted sub (kind=gift). Added in revision 2 of v1; absent means 1.",
    )
    tenure_months: int | None = Field(
        default=None,
        ge=1,
        le=1_200,
        description="A resub's months subscribed in all, as the viewer shares it. Added in revision 2 of v1.",
    )
    message: str | None = Field(default=None, max_length=MAX_CHAT_TEXT)

    @field_validator("currency")
    @classmethod
    def _bits_use_bits_currency(cls, currency: str, info: ValidationInfo) -> str:
        if "kind" in info.data and (info.data["kind"] == TransactionKind.BITS) != (currency == "BITS"):
            raise ValueError("must be BITS exactly when kind is bits")
        return currency


class StreamMetaEvent(_Event):
    """Lifecycle and metadata of the broadcast."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"kind": {"const": kind}}},
                    "then": {"required": list(required)},
                }
                for kind, required in (
                    ("raid", ("from_stream", "raid_viewers")),
                    ("title", ("title",)),
                    ("category", ("category",)),
                )
            ]
        }
    )

    type: Literal["stream_meta"] = "stream_meta"
    kind: MetaKind
    title: str | None = Field(default=None, max_length=140, validate_default=True)
    category: str | None = Field(default=None, max_length=100, validate_default=True)
    from_stream: str | None = Field(
        default=None, pattern=STREAM_ID_PATTERN, validate_default=True, description="Raiding channel."
    )
    raid_viewers: int | None = Field(default=None, ge=0, validate_default=True)
    vod_id: str | None = Field(
        default=None,
        pattern=VOD_ID_PATTERN,
        description="The Twitch video id of this broadcast's VOD, when known (usually on kind=start): moments "
        "then link to their point of it. Added in revision 3 of v1.",
    )

    @field_validator("title", "category", "from_stream", "raid_viewers")
    @classmethod
    def _required_by_kind(cls, value: object, info: ValidationInfo) -> object:
        needed_by = {"title": "title", "category": "category", "from_stream": "raid", "raid_viewers": "raid"}
        kind = info.data.get("kind")
        if value is None and kind == needed_by[info.field_name or ""]:
            raise ValueError(f"required when kind is {kind}")
        return value


Event = Annotated[ChatEvent | ViewersEvent | TransactionEvent | StreamMetaEvent, Field(discriminator="type")]
EVENT_MODELS: dict[str, type[_Event]] = {
    EventType.CHAT: ChatEvent,
    EventType.VIEWERS: ViewersEvent,
    EventType.TRANSACTION: TransactionEvent,
    EventType.STREAM_META: StreamMetaEvent,
}
