"""Every kind of bad input is rejected with a reason that names the field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from telemetra.contract import (
    ChatEvent,
    InvalidEvent,
    StreamMetaEvent,
    TransactionEvent,
    parse_event,
    validate_event,
)

CHAT: dict[str, Any] = {
    "event_id": "e-1",
    "stream_id": "speedrun_42",
    "type": "chat",
    "ts": "2026-11-27T17:00:00.250+01:00",
    "user_id": "1001",
    "username": "pixelwolf",
    "text": "that was awesome PogChamp",
}


def problems_of(raw: bytes) -> dict[str, str]:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw)
    return {p.path: p.message for p in caught.value.problems}


def with_(**changes: Any) -> bytes:
    return orjson.dumps({**CHAT, **changes})


def without(field: str) -> bytes:
    return orjson.dumps({k: v for k, v in CHAT.items() if k != field})


def test_valid_chat_is_parsed_and_its_time_normalised_to_utc() -> None:
    event = parse_event(orjson.dumps(CHAT))
    assert isinstance(event, ChatEvent)
    assert event.ts == datetime(2026, 11, 27, 16, 0, 0, 250_000, tzinfo=UTC)
    assert event.emotes is None
    assert event.badges == []
    assert event.bits == 0


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        (b'{"event_id": "e-1", "stream_id": ', "", "malformed JSON"),
        (b"[1, 2]", "", "object"),
        (without("user_id"), "user_id", "required"),
        (without("type"), "type", "required"),
        (with_(viewers=5), "viewers", "Extra inputs"),
        (with_(bits="3"), "bits", "valid integer"),
        (with_(text=7), "text", "valid string"),
        (with_(text="x" * 501), "text", "at most 500"),
        (with_(text=""), "text", "at least 1"),
        (with_(type="poll"), "type", "unknown event type"),
        (with_(ts="2026-11-27T17:00:00"), "ts", "offset"),
        (with_(ts="yesterday"), "ts", "RFC 3339"),
        (with_(ts=1_790_000_000), "ts", "datetime"),
        (with_(stream_id="Big Stream"), "stream_id", "pattern"),
        (with_(stream_id="-leading-dash"), "stream_id", "pattern"),
        (with_(emotes=["Kappa", ""]), "emotes.1", "at least 1"),
        (with_(bits=-5), "bits", "greater than or equal to 0"),
    ],
)
def test_invalid_event_is_rejected_naming_the_field(raw: bytes, field: str, reason: str) -> None:
    problems = problems_of(raw)
    assert field in problems, problems
    assert reason in problems[field]


def test_oversized_event_is_rejected_before_parsing() -> None:
    raw = with_(padding="y" * 70_000)
    assert problems_of(raw) == {"": f"event is {len(raw)} bytes, over the 65536-byte limit"}


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(with_(stream_id="UPPER", text="x" * 600, bits=-1))
    assert set(problems) == {"stream_id", "text", "bits"}


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "viewers", "viewers": -1}, "viewers"),
        ({"type": "viewers", "viewers": 10.5}, "viewers"),
        ({"type": "transaction", "kind": "tip", "user_id": "u", "amount": 1, "currency": "USD"}, "kind"),
        (
            {"type": "transaction", "kind": "donation", "user_id": "u", "amount": -1, "currency": "USD"},
            "amount",
        ),
        (
            {"type": "transaction", "kind": "donation", "user_id": "u", "amount": 5, "currency": "usd"},
            "currency",
        ),
        (
            {
                "type": "transaction",
                "kind": "sub",
                "user_id": "u",
                "amount": 5,
                "currency": "USD",
                "tier": "4",
            },
            "tier",
        ),
        (
            {"type": "transaction", "kind": "bits", "user_id": "u", "amount": 100, "currency": "USD"},
            "currency",
        ),
        ({"type": "stream_meta", "kind": "raid", "from_stream": "x"}, "raid_viewers"),
        ({"type": "stream_meta", "kind": "title"}, "title"),
        ({"type": "stream_meta", "kind": "pause"}, "kind"),
    ],
)
def test_type_specific_rules(event: dict[str, Any], field: str) -> None:
    common = {"event_id": "e", "stream_id": "s", "ts": "2026-11-27T16:00:00Z"}
    with pytest.raises(InvalidEvent) as caught:
        validate_event({**common, **event})
    assert field in {p.path for p in caught.value.problems}, caught.value.problems


def test_revision_2_transactions_carry_months_and_older_ones_still_validate() -> None:
    base = {"event_id": "e1", "stream_id": "s", "type": "transaction", "ts": "2026-12-07T10:00:00Z",
            "kind": "gift", "user_id": "u1", "amount": 29.94, "currency": "USD", "tier": "1000"}  # fmt: skip
    old = parse_event(orjson.dumps(base))
    assert isinstance(old, TransactionEvent) and old.months == 1 and old.tenure_months is None
    assert isinstance(parse_event(orjson.dumps(base | {"months": 6})), TransactionEvent)
    for bad in ({"months": 0}, {"months": 121}, {"tenure_months": 0}):
        with pytest.raises(InvalidEvent):
            parse_event(orjson.dumps(base | bad))


def test_revision_3_stream_meta_may_carry_a_vod_id() -> None:
    base = {"event_id": "e1", "stream_id": "s", "type": "stream_meta", "ts": "2026-12-07T10:00:00Z"}
    base["kind"] = "start"
    old = parse_event(orjson.dumps(base))
    assert isinstance(old, StreamMetaEvent) and old.vod_id is None
    new = parse_event(orjson.dumps(base | {"vod_id": "2223334445"}))
    assert isinstance(new, StreamMetaEvent) and new.vod_id == "2223334445"
    for bad in ("", "v123", "1" * 21):
        with pytest.raises(InvalidEvent):
            parse_event(orjson.dumps(base | {"vod_id": bad}))
