"""The contract's fast path accepts only what the models accept, and gives what they give.

Over the mock traffic (every event of it, and mutations of its fields and bytes), :func:`parse_common` either
says nothing (None: the models decide) or returns exactly what ``parse_event`` builds; and the engine's routing,
which uses it, gives the same item or dead letter as with the models alone.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import telemetra.engine.core as engine_core
from telemetra.analytics.stream import chat_features
from telemetra.contract import ChatEvent, InvalidEvent, ViewersEvent, parse_event
from telemetra.contract.fastpath import parse_common
from telemetra.engine.core import Engine
from telemetra.producers.mock import MockConfig, generate_batches

START = 1_790_000_100.0
MOCK: list[dict[str, Any]] = list(
    itertools.chain.from_iterable(
        batch
        for _, batch in generate_batches(
            MockConfig(streams=["s0000", "raid_42", "x-y"], rate=30, duration=40, seed=17, start=START)
        )
    )
)
COMMON = [e for e in MOCK if e["type"] in ("chat", "viewers")]
OTHER = [e for e in MOCK if e["type"] not in ("chat", "viewers")]

# Values a field is set to: each breaks some field's constraint, or is valid for some field.
ODD_VALUES: list[Any] = [
    None, "", " ", "x", "x" * 64, "x" * 65, "x" * 128, "x" * 129, "x" * 500, "x" * 501, "é" * 64, "é" * 65,
    "S0000", "s0000\n", "-s", "_s", "s" * 64, "s" * 65, "s.1", "chat", "viewers", "Chat",
    0, 1, -1, 2**63, 2**64, True, False, 1.0, 0.5, -0.0,
    [], [""], ["x"], ["x"] * 33, ["x"] * 501, ["x" * 65], [1], [None], [[]], {}, {"a": 1},
    "2026-09-21T14:15:00.123Z", "2026-09-21T14:15:00Z", "2026-09-21T14:15:00.123+00:00",
    "2026-09-21t14:15:00.123Z", "2026-09-21T14:15:00.123z", "2026-09-21 14:15:00.123Z",
    "2026-09-21T14:15:00.12Z", "2026-09-21T14:15:00.1234Z", "2026-02-30T14:15:00.123Z",
    "2026-09-21T24:00:00.000Z", "2026-09-21T14:60:00.000Z", "2026-09-21T14:15:60.000Z",
    "0000-01-01T00:00:00.000Z", "1969-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z",
    "2026-09-21T14:15:00.١٢٣Z", "٢٠٢٦-09-21T14:15:00.123Z", "2026-09-21T14:15:00.123",
]  # fmt: skip
FIELDS = [
    "event_id", "stream_id", "type", "ts", "user_id", "username", "text", "emotes", "badges", "bits",
    "viewers", "chatters", "followers", "kind", "amount", "extra",
]  # fmt: skip


def dumps(event: Any) -> bytes:
    """JSON as a producer writes it (orjson), or by the standard library for what orjson cannot write
    (integers beyond 64 bits)."""
    try:
        return orjson.dumps(event)
    except TypeError:
        return json.dumps(event, ensure_ascii=False).encode()


def models(raw: bytes) -> Any:
    """What the models make of ``raw``: the event, or None when they reject it."""
    try:
        return parse_event(raw)
    except InvalidEvent:
        return None


def assert_agrees(raw: bytes) -> None:
    """The fast path returns nothing, or exactly what the models build."""
    fast = parse_common(raw)
    if fast is None:
        return
    event = models(raw)
    assert event is not None, raw
    if isinstance(fast, tuple):
        assert isinstance(event, ChatEvent)
        features = (event.stream_id, event.ts.timestamp(), event.event_id, event.user_id, event.text)
        assert fast == (*features, event.emotes), raw
    else:
        assert isinstance(event, ViewersEvent)
        assert (fast, repr(fast), fast.model_fields_set) == (event, repr(event), event.model_fields_set), raw


def route_both_ways(raw: bytes, stream_id: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine routes ``raw`` to the same stream and item with and without the fast path."""
    engine = Engine()
    fast = engine.route(raw, "t:0:1", stream_id)
    with monkeypatch.context() as patched:
        patched.setattr(engine_core, "parse_common", lambda raw: None)
        slow = engine.route(raw, "t:0:1", stream_id)
    assert fast == slow, raw


def test_every_common_mock_event_takes_the_fast_path_and_agrees() -> None:
    for event in COMMON:
        raw = orjson.dumps(event)
        assert parse_common(raw) is not None, raw
        assert_agrees(raw)
    assert {e["type"] for e in COMMON} == {"chat", "viewers"}


def test_other_event_types_are_left_to_the_models() -> None:
    assert OTHER
    assert all(parse_common(orjson.dumps(event)) is None for event in OTHER)


def test_the_engine_routes_mock_events_as_the_models_do(monkeypatch: pytest.MonkeyPatch) -> None:
    for event in MOCK[::7]:
        raw = orjson.dumps(event)
        route_both_ways(raw, None, monkeypatch)
        route_both_ways(raw, event["stream_id"], monkeypatch)
        route_both_ways(raw, "another", monkeypatch)  # sent to another stream: a dead letter either way


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_a_field_set_to_an_odd_value(field: str, value: Any) -> None:
    for event in (COMMON[0], next(e for e in COMMON if e["type"] == "viewers"), COMMON[5]):
        assert_agrees(dumps({**event, field: value}))


@pytest.mark.parametrize("field", FIELDS)
def test_a_field_missing(field: str) -> None:
    for event in COMMON[:40]:
        assert_agrees(dumps({k: v for k, v in event.items() if k != field}))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"null",
        b"[]",
        b'"chat"',
        b"{}",
        b'{"type": "chat"}',
        b"{'type': 'chat'}",
        b"\xef\xbb\xbf" + orjson.dumps(COMMON[0]),  # a byte order mark
        orjson.dumps(COMMON[0]) + b" \n",
        b" \t" + orjson.dumps(COMMON[0]),
        orjson.dumps(COMMON[0])[:-1],
        orjson.dumps(COMMON[0]) + b"{}",
        orjson.dumps(COMMON[0]).replace(b"}", b',"text":""}'),  # a duplicate key: the last one counts
        orjson.dumps(COMMON[0]).replace(b"}", b',"text":"again"}'),
        orjson.dumps(COMMON[0]).replace(b'"type":"chat"', b'"type":"viewers"'),
        orjson.dumps(COMMON[0]).replace(b'{"', b'{"type":"viewers","'),
        orjson.dumps({**COMMON[0], "text": "a\\ud800b"}).replace(b"\\\\", b"\\"),  # a lone surrogate
        orjson.dumps({**COMMON[0], "text": "\\ud83d\\ude00"}).replace(b"\\\\", b"\\"),  # an escaped pair
        orjson.dumps({**COMMON[0], "text": "x"}).replace(b'"x"', b'"\xff"'),  # not UTF-8
        orjson.dumps({**COMMON[0], "text": "x"}).replace(b'"x"', b'"\x01"'),  # a control character
        orjson.dumps({**COMMON[0], "text": "x" * 70_000}),  # over the size limit
        orjson.dumps({**COMMON[0], "emotes": ["Kappa"] * 500, "text": "Kappa " * 80}),
        orjson.dumps({**COMMON[0], "badges": ["x" * 64] * 32, "bits": 2**62}),
    ],
)
def test_odd_bytes(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_agrees(raw)
    route_both_ways(raw, None, monkeypatch)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(COMMON),
    st.dictionaries(st.sampled_from(FIELDS), json_values | st.sampled_from(ODD_VALUES), max_size=3),
    st.sets(st.sampled_from(FIELDS), max_size=2),
)
def test_mutated_mock_events(event: dict[str, Any], changes: dict[str, Any], removed: set[str]) -> None:
    mutated = {k: v for k, v in {**event, **changes}.items() if k not in removed}
    assert_agrees(dumps(mutated))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(COMMON), st.integers(min_value=0, max_value=300), st.binary(max_size=3))
def test_corrupted_bytes(event: dict[str, Any], at: int, junk: bytes) -> None:
    raw = dumps(event)
    assert_agrees(raw[:at] + junk + raw[at + len(junk) :])


def test_chat_features_from_the_fast_path_are_the_models() -> None:
    for event in COMMON:
        if event["type"] == "chat":
            raw = orjson.dumps(event)
            item = Engine().prepare(raw, "t:0:1")
            chat = parse_event(raw)
            assert isinstance(chat, ChatEvent)
            assert item[1:] == chat_features(chat)
