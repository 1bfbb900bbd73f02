"""Dead letters of the embedded engine are stored, served newest first with their reason and bus position,
counted on the stream and on /metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from telemetra.dev.testing.services import metric_value, mock_lines
from telemetra.engine.core import Engine
from telemetra.engine.embedded import run_embedded
from telemetra.services.api.schemas import DeadLettersPage
from telemetra.services.output import ServiceOutput
from telemetra.sinks.memory import InProcessBus


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_embedded_dead_letters_are_stored_and_served(make_api: Any, store: str) -> None:
    api = make_api(store=store)
    valid = [orjson.loads(line) for line in mock_lines(["alpha"], seconds=90, rate=10)]
    invalid = [
        {"type": "chat", "stream_id": "alpha"},  # required fields missing
        {**valid[5], "event_id": "late-type", "type": "poll"},
        {"nonsense": True},  # names no stream
    ]
    batches = [valid[:40], [invalid[0], *valid[40:80], invalid[1]], [invalid[2], *valid[80:]]]

    async def run() -> None:
        bus = InProcessBus()
        consumer = asyncio.create_task(
            run_embedded(
                bus.subscribe(), Engine(), ServiceOutput(api.server.state.store, api.server.state.cache)
            )
        )
        for batch in batches:
            await bus.publish(batch)
        await bus.close()
        await asyncio.wait_for(consumer, 30)

    api.server.run(run())
    positions = [41, 82, 83]  # 1-based positions on the bus
    with api.client() as client:
        everything = DeadLettersPage.model_validate(client.get("/api/v1/dead-letters").json())
        alpha = client.get("/api/v1/dead-letters", params={"stream_id": "alpha", "limit": 1}).json()
        detail = client.get("/api/v1/streams/alpha").json()
    assert sorted(d.source for d in everything.items) == sorted(f"bus:{p}" for p in positions)
    by_source = {d.source: d for d in everything.items}
    assert "user_id" in by_source["bus:41"].reason and by_source["bus:41"].stream_id == "alpha"
    assert by_source["bus:82"].reason.startswith("type: unknown event type")
    assert by_source["bus:83"].stream_id is None
    assert orjson.loads(by_source["bus:41"].raw or "") == invalid[0]
    assert len(alpha["items"]) == 1 and alpha["items"][0]["stream_id"] == "alpha"
    assert detail["dead_letters"] == 2
    assert metric_value(api.url, "telemetra_dead_letters_stored", stream_id="alpha") == 2
    assert metric_value(api.url, "telemetra_dead_letters_stored", stream_id="") == 1
