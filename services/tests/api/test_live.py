"""WebSocket ``/ws/live/{id}`` against every store × cache: snapshot then pushes, isolation between streams,
clean-up on disconnect, and bounded memory for a client that never reads."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from telemetra.dev.testing.services import eventually, metric_value, silent_websocket
from telemetra.dev.testing.services import ws_receive as receive
from telemetra.dev.testing.services import ws_receive_type as receive_type
from telemetra.records import Moment, WindowMetrics
from telemetra.services.api.schemas import MomentOut, StreamDetail, WindowOut
from telemetra.services.storage.codec import window_time

pytestmark = pytest.mark.timeout(60)


def later_window(
    api: Any, stream_id: str, steps: int, final: bool = True, messages: int = 7
) -> WindowMetrics:
    last = [w for w in api.data.windows if w.stream_id == stream_id][-1]
    start = time.mktime(time.strptime(last.window_start, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    return dataclasses.replace(
        last,
        window_start=window_time(start + 10 * steps),
        window_end=window_time(start + 10 * steps + 60),
        messages=messages,
        final=final,
    )


async def test_snapshot_then_updates(api: Any) -> None:
    sink = api.output()
    async with connect(f"{api.server.ws_url}/ws/live/alpha") as ws:
        snapshot = await receive(ws)
        assert snapshot["type"] == "snapshot" and snapshot["stream_id"] == "alpha"
        StreamDetail.model_validate(snapshot["data"])
        assert (
            snapshot["data"]["latest_window"]
            == [w.to_dict() for w in api.data.windows if w.stream_id == "alpha"][-1]
        )

        live = later_window(api, "alpha", 1, final=False, messages=3)
        await api.server.arun(sink.publish_live([live]))
        pushed = await receive_type(ws, "live")
        assert pushed["data"] == live.to_dict() and pushed["published_at"] > 0
        WindowOut.model_validate(pushed["data"])

        closed = later_window(api, "alpha", 2)
        await api.server.arun(sink.write_windows([closed]))
        assert (await receive_type(ws, "window"))["data"] == closed.to_dict()

        moment = dataclasses.replace(
            api.data.moments[0], moment_id="ws-test-moment", start="2026-09-21T14:30:00.000Z"
        )
        await api.server.arun(sink.write_moments([moment]))
        pushed = await receive_type(ws, "moments")
        assert pushed["changed"] == ["ws-test-moment"]
        assert pushed["data"][0] == moment.to_dict()
        MomentOut.model_validate(pushed["data"][0])


async def test_two_streams_are_isolated(api: Any) -> None:
    sink = api.output()
    async with (
        connect(f"{api.server.ws_url}/ws/live/beta") as beta,
        connect(f"{api.server.ws_url}/ws/live/gamma") as gamma,
    ):
        await receive(beta)
        await receive(gamma)
        await api.server.arun(sink.publish_live([later_window(api, "beta", 1, final=False)]))
        assert (await receive_type(beta, "live"))["stream_id"] == "beta"
        with pytest.raises(TimeoutError):
            await receive_type(gamma, "live", within=0.5)
        await api.server.arun(sink.publish_live([later_window(api, "gamma", 1, final=False)]))
        assert (await receive_type(gamma, "live"))["stream_id"] == "gamma"


async def test_disconnect_frees_everything(api: Any) -> None:
    fanout = api.server.state.cache.fanout
    base = metric_value(api.url, "telemetra_ws_connections")
    clients = [await connect(f"{api.server.ws_url}/ws/live/alpha") for _ in range(20)]
    for ws in clients:
        await receive(ws)
    assert metric_value(api.url, "telemetra_ws_connections") == base + 20
    assert fanout.subscribers("alpha") == 20
    started = time.monotonic()
    await asyncio.gather(*(ws.close() for ws in clients))
    await eventually(
        lambda: metric_value(api.url, "telemetra_ws_connections") == 0, 2.0, "connection gauge back to 0"
    )
    assert time.monotonic() - started < 2.0
    assert fanout.subscribers() == 0

    async def live_tasks() -> list[str]:
        return [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("ws-")]

    assert await api.server.arun(live_tasks()) == []


async def test_abrupt_disconnect_is_detected(api: Any) -> None:
    """A client that vanishes without a close handshake (socket reset) is cleaned up promptly too."""
    ws = await connect(f"{api.server.ws_url}/ws/live/alpha")
    await receive(ws)
    await eventually(lambda: api.server.state.cache.fanout.subscribers("alpha") == 1, 2.0, "subscribed")
    ws.transport.abort()
    await eventually(
        lambda: api.server.state.cache.fanout.subscribers("alpha") == 0, 2.0, "subscriber removed"
    )
    await eventually(lambda: metric_value(api.url, "telemetra_ws_connections") == 0, 2.0, "gauge back to 0")


@pytest.mark.parametrize("cache", ["memory", "redis"])
async def test_a_client_that_never_reads_stays_bounded(make_api: Any, dataset: Any, cache: str) -> None:
    """A client that reads nothing: once its socket is full and the handler is stuck sending, further updates
    replace the pending one (one slot per message type) instead of queueing; after ``ws_send_timeout_s`` the
    client is dropped and everything it held is freed."""
    api = make_api(cache=cache, data=dataset, ws_send_timeout_s=2)
    sink = api.output()
    fanout = api.server.state.cache.fanout
    padding = [{"emote": f"Emote{i:05d}", "count": i} for i in range(2000)]  # ~60 KB per message

    big = dataclasses.replace(later_window(api, "gamma", 1, final=False), top_emotes=padding)
    small = later_window(api, "gamma", 1, final=False)

    async def fill_until_stuck() -> int:
        """Publish until an update stays in the mailbox: the handler is blocked on the full socket."""
        for i in range(1000):
            await sink.publish_live([dataclasses.replace(big, messages=i)])
            await asyncio.sleep(0.02)  # time for the cache to deliver and the handler to take it
            boxes = fanout.mailboxes("gamma")
            if boxes and len(boxes[0]) == 1:
                return i
        raise AssertionError("the socket never filled up")

    async def flood_stuck_client() -> tuple[int, int]:
        largest = 0
        for i in range(200):  # small updates, quickly: well within the send timeout
            await sink.publish_live([dataclasses.replace(small, messages=i)])
            if i % 10 == 0:
                await asyncio.sleep(0.001)
            largest = max([largest, *(len(m) for m in fanout.mailboxes("gamma"))])
        await asyncio.sleep(0.2)  # the last deliveries through Redis
        return largest, sum(m.coalesced for m in fanout.mailboxes("gamma"))

    writer = await silent_websocket(api.server.port, "/ws/live/gamma")
    try:
        await eventually(lambda: fanout.subscribers("gamma") == 1, 2.0, "subscribed")
        sent_before_stuck = await api.server.arun(fill_until_stuck())
        largest, coalesced = await api.server.arun(flood_stuck_client())
        assert sent_before_stuck > 0
        assert largest == 1  # whatever arrives, one pending "live" state at most
        assert coalesced >= 195  # the 200 updates replaced each other
        await eventually(lambda: fanout.subscribers("gamma") == 0, 5.0, "slow client dropped")
        assert metric_value(api.url, "telemetra_ws_connections") == 0
        with api.client() as client:
            text = client.get("/metrics").text
        assert 'telemetra_ws_disconnects_total{reason="slow"} 1.0' in text
    finally:
        writer.transport.abort()


@pytest.mark.parametrize(("stream_id", "code"), [("NOT-valid", 4422), ("nobody-here", 4404)])
async def test_refused_subscriptions_close_with_a_reason(api: Any, stream_id: str, code: int) -> None:
    async with connect(f"{api.server.ws_url}/ws/live/{stream_id}") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code


async def test_moment_updates_replace_by_id(api: Any) -> None:
    sink = api.output()
    base: Moment = dataclasses.replace(
        api.data.moments[0], stream_id="alpha", moment_id="growing", ongoing=True
    )
    async with connect(f"{api.server.ws_url}/ws/live/alpha") as ws:
        await receive(ws)
        await api.server.arun(sink.write_moments([base]))
        first = await receive_type(ws, "moments")
        await api.server.arun(sink.write_moments([dataclasses.replace(base, ongoing=False, end=base.start)]))
        second = await receive_type(ws, "moments")
    assert next(m for m in first["data"] if m["moment_id"] == "growing")["ongoing"] is True
    grown = [m for m in second["data"] if m["moment_id"] == "growing"]
    assert len(grown) == 1 and grown[0]["ongoing"] is False
