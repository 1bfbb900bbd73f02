"""The JSON Schema files are generated from the models and agree with them on real traffic."""

from __future__ import annotations

import itertools

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from telemetra.contract import EVENT_MODELS, parse_event
from telemetra.contract.schemas import SCHEMA_DIR, render_schemas
from telemetra.producers.mock import MockConfig, generate_batches
from telemetra.producers.scenarios import parse_scenario

VALIDATORS = {
    name: Draft202012Validator(
        orjson.loads((SCHEMA_DIR / f"{name}.schema.json").read_bytes()), format_checker=FormatChecker()
    )
    for name in EVENT_MODELS
}


def test_committed_schema_files_match_the_models() -> None:
    for name, content in render_schemas().items():
        path = SCHEMA_DIR / name
        assert path.exists(), f"{name} missing: run `telemetra contract export`"
        assert path.read_bytes() == content, f"{name} is stale: run `telemetra contract export`"


def test_schema_files_are_valid_2020_12() -> None:
    for name, validator in VALIDATORS.items():
        Draft202012Validator.check_schema(validator.schema)
        assert validator.schema["$schema"].endswith("2020-12/schema"), name


@pytest.mark.parametrize("seed", [1, 7, 42, 1234])
def test_generated_traffic_is_valid_against_schemas_and_models(seed: int) -> None:
    config = MockConfig(
        streams=["alpha", "beta_2"],
        rate=150,
        duration=20,
        seed=seed,
        start=1_790_000_000,
        scenarios=[
            parse_scenario(s) for s in ("hype@3+5", "raid@5/alpha", "gift_bomb@8", "sentiment_swing@9")
        ],
    )
    events = list(itertools.chain.from_iterable(batch for _, batch in generate_batches(config)))
    assert len(events) >= 2_500
    seen_types = set()
    for event in events:
        errors = list(VALIDATORS[event["type"]].iter_errors(event))
        assert not errors, (event, [e.message for e in errors])
        assert parse_event(orjson.dumps(event)).event_id == event["event_id"]
        seen_types.add(event["type"])
    assert seen_types == set(EVENT_MODELS)


def test_schema_and_model_agree_on_cross_field_rules() -> None:
    bits_in_usd = {
        "event_id": "e", "stream_id": "s", "type": "transaction", "ts": "2026-01-01T00:00:00Z",
        "kind": "bits", "user_id": "u", "amount": 100, "currency": "USD",
    }  # fmt: skip
    raid_without_source = {
        "event_id": "e", "stream_id": "s", "type": "stream_meta", "ts": "2026-01-01T00:00:00Z", "kind": "raid",
    }  # fmt: skip
    for event in (bits_in_usd, raid_without_source):
        assert list(VALIDATORS[event["type"]].iter_errors(event))
        with pytest.raises(ValueError, match=r"currency|from_stream"):
            parse_event(orjson.dumps(event))
