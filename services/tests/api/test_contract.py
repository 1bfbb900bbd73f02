"""Schemathesis against the OpenAPI document: generated requests (valid and invalid) on every operation, with
and without an admin token, against a running server over each store × cache, must never get a 5xx nor an
answer that contradicts the document; and stateful runs, sequences that follow the document's links (a listed
stream to its detail and metrics, a page to the next with the cursor just issued, an update or a delete to
the stream's detail), must not either."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from telemetra.dev.testing.services import ADMIN_TOKEN
from telemetra.services.api import create_app
from telemetra.services.settings import Settings

pytestmark = pytest.mark.timeout(300)

# The document is the app's own; building the app opens nothing (backends connect at start-up).
DOCUMENT = create_app(Settings(store_url="sqlite:///unused.db", cache_url="memory://")).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)
SEMANTIC_FIELDS = {"cursor", "from", "to"}  # checks the schema cannot express: foreign cursors, to <= from
# An alert config's rules across fields (a rule naming an unknown destination, an inline Discord URL, quiet hours'
# syntax, known moment kinds) are beyond its schema too.
SEMANTIC_BODY = ("PUT", "/api/v1/admin/streams/{stream_id}/alerts")


def valid_data_is_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis' positive_data_acceptance, except that a 422 is allowed when it names only a field whose
    validity spans beyond its own schema (a cursor this API did not issue, a range that ends before it
    starts; an alert config whose parts contradict each other): those values are well formed, yet invalid."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code < 400 or response.status_code in (401, 403, 404):
        return None
    if response.status_code == 422:
        locations = [error["loc"] for error in orjson.loads(response.content)["detail"]]
        if {loc[1] for loc in locations if len(loc) > 1} <= SEMANTIC_FIELDS and all(
            len(loc) > 1 for loc in locations
        ):
            return None
        if (case.method, case.path) == SEMANTIC_BODY and all(loc[0] == "body" for loc in locations):
            return None
    raise AssertionError(f"valid data rejected: {response.status_code} {response.content[:300]!r}")


CHECKS: dict[str, Any] = {
    "excluded_checks": [schemathesis.checks.positive_data_acceptance],
    "additional_checks": [valid_data_is_accepted],
}
EXAMPLES = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@schema.parametrize()
@EXAMPLES
def test_anonymous_requests_honour_the_document(case: Any, api: Any) -> None:
    case.call_and_validate(base_url=api.url, **CHECKS)


@schema.parametrize()
@EXAMPLES
def test_admin_requests_honour_the_document(case: Any, api: Any) -> None:
    case.call_and_validate(base_url=api.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, **CHECKS)


def test_stateful_run_follows_links_without_errors(api: Any, tmp_path: Path) -> None:
    """The schemathesis command itself, as someone auditing the API would run it: its stateful phase chains
    operations through the document's links (a listed stream to its detail, metrics and moments, a page to
    the next with the cursor just issued, an update to the stream's detail), with every check. Deleting is
    left out: the first inferred delete would empty the data every other chain needs (the stateless runs
    above and the admin tests cover it); so are the alert operations, which share no data with these chains
    (stateless runs above, test_alerts.py)."""
    events = tmp_path / "events.ndjson"
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "run", f"{api.url}/openapi.json",
        "--phases", "stateful", "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "--exclude-operation-id", "delete_stream", "--exclude-tag", "alerts", "--max-examples", "60", "--seed", "1",
        "--no-color", "--warnings", "off", "--header", f"Authorization: Bearer {ADMIN_TOKEN}",
        "--report", "ndjson", "--report-ndjson-path", str(events),
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-6000:]
    followed = set(re.findall(r'"transition":\{"id":"[^"]*\] (\w+) ->', events.read_text()))
    assert {"first_stream", "metrics", "next_page", "updated"} <= followed, followed
