"""Golden snapshots of `helm template` for every profile: a reviewable diff of what a chart change does to the
rendered manifests. Regenerate with ``UPDATE_GOLDEN=1 pytest charts/tests/test_golden.py`` and review the diff.

Generated passwords are random on every render; they (and the URLs built from them) are replaced by a
placeholder before comparing, and so is the chart version label, so a version bump alone is not a diff."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

import yaml

Chart = Any  # conftest.Chart
GOLDEN = Path(__file__).parent / "golden"
GENERATED = "<generated>"


def normalize(text: str) -> str:
    documents = [doc for doc in yaml.safe_load_all(text) if doc]
    for doc in documents:
        if doc["kind"] == "Secret" and doc.get("data"):
            doc["data"] = dict.fromkeys(sorted(doc["data"]), GENERATED)
    rendered = yaml.safe_dump_all(documents, sort_keys=True, width=120)
    return re.sub(r"helm\.sh/chart: telemetra-\S+", "helm.sh/chart: telemetra-<version>", rendered)


def test_normalize_hides_only_generated_values() -> None:
    text = """
kind: Secret
metadata: {name: s, labels: {helm.sh/chart: telemetra-1.2.3}}
data: {password: cGFzcw==, url: dXJs}
---
kind: ConfigMap
metadata: {name: c}
data: {password: visible}
"""
    out = normalize(text)
    assert "cGFzcw==" not in out and f"password: {GENERATED}" in out
    assert "password: visible" in out
    assert "telemetra-<version>" in out


def test_rendered_manifests_match_the_golden_snapshots(chart: Chart, profile_name: str) -> None:
    rendered = normalize(chart.render_text(profile_name))
    path = GOLDEN / f"{profile_name}.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(rendered)
    assert path.exists(), f"no golden snapshot {path}; run with UPDATE_GOLDEN=1"
    expected = path.read_text()
    if rendered != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                rendered.splitlines(keepends=True),
                f"golden/{path.name}",
                "rendered",
            )
        )
        raise AssertionError(f"rendered manifests differ from {path} (UPDATE_GOLDEN=1 to accept):\n{diff}")


def test_rendering_is_deterministic(chart: Chart) -> None:
    assert normalize(chart.render_text("production")) == normalize(chart.render_text("production"))
