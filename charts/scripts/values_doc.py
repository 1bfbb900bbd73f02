"""Write the parameter table of charts/telemetra/README.md from values.schema.json (descriptions, types and
defaults), between the `<!-- values:begin -->` and `<!-- values:end -->` markers.

    python charts/scripts/values_doc.py          # rewrite the table
    python charts/scripts/values_doc.py --check  # exit 1 if the README is out of date (a chart test runs this)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHART = Path(__file__).resolve().parents[1] / "telemetra"
README = CHART / "README.md"
BEGIN, END = "<!-- values:begin -->", "<!-- values:end -->"


def rows(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, str, str, str]]:
    for key, sub in node.get("properties", {}).items():
        here = f"{path}.{key}" if path else key
        if here == "global":
            continue
        nested = (
            sub.get("type") == "object" and "properties" in sub and sub.get("additionalProperties") is False
        )
        if nested:
            yield from rows(sub, here)
            continue
        kind = sub.get("type") or "/".join(sorted({b.get("type", "?") for b in sub.get("oneOf", [])}))
        if isinstance(kind, list):
            kind = "/".join(kind)
        if "enum" in sub:
            kind = " \\| ".join(f"`{v}`" for v in sub["enum"])
        default = json.dumps(sub.get("default"), separators=(", ", ": "))
        yield here, kind, default, sub.get("description", "")


def table(schema: dict[str, Any]) -> str:
    lines = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for key, kind, default, description in rows(schema):
        cell = description.replace("|", "\\|")
        lines.append(f"| `{key}` | {kind} | `{default}` | {cell} |")
    return "\n".join(lines)


def render(readme: str, schema: dict[str, Any]) -> str:
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table(schema)}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report whether the README is current")
    args = parser.parse_args()
    schema = json.loads((CHART / "values.schema.json").read_text())
    current = README.read_text()
    wanted = render(current, schema)
    if args.check:
        if wanted != current:
            print(f"{README} is out of date: run python charts/scripts/values_doc.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
