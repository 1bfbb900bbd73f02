"""JSON Schema (2020-12) documents generated from the models, one per event type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from telemetra.contract.models import EVENT_MODELS, SCHEMA_REVISION, SCHEMA_VERSION

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schema(event_type: str) -> dict[str, Any]:
    schema = EVENT_MODELS[event_type].model_json_schema(mode="validation")
    schema["properties"]["type"] = {"const": event_type}
    schema["required"] = sorted({*schema.get("required", []), "type"})
    return {
        "$schema": DIALECT,
        "$id": f"https://telemetra.io/schemas/{SCHEMA_VERSION}/{event_type}.schema.json",
        "x-telemetra-revision": SCHEMA_REVISION,
        **schema,
    }


def render_schemas() -> dict[str, bytes]:
    """File name → file content, for every event type."""
    return {
        f"{event_type}.schema.json": orjson.dumps(
            event_schema(event_type), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
        )
        + b"\n"
        for event_type in EVENT_MODELS
    }


def export_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render_schemas().items():
        path = directory / name
        path.write_bytes(content)
        written.append(path)
    return written
