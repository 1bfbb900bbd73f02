"""The bounded mailbox and the fan-out (pure logic)."""

from __future__ import annotations

import asyncio

from telemetra.services.cache import FanOut, Mailbox
from telemetra.services.cache.base import encode_message


def message(kind: str, n: int, stream_id: str = "s") -> object:
    return encode_message(kind, stream_id, {"n": n}, float(n))


async def test_keeps_only_the_latest_message_per_type() -> None:
    mailbox = Mailbox()
    for n in range(1000):
        mailbox.put(message("live", n))  # type: ignore[arg-type]
        mailbox.put(message("window", n))  # type: ignore[arg-type]
        assert len(mailbox) <= 2
    assert mailbox.coalesced == 2 * 999
    first, second = await mailbox.get(), await mailbox.get()
    assert (first.type, first.data) == ("live", {"n": 999})
    assert (second.type, second.data) == ("window", {"n": 999})
    assert len(mailbox) == 0


async def test_types_leave_in_order_of_their_last_change() -> None:
    mailbox = Mailbox()
    for kind in ("live", "window", "live"):
        mailbox.put(message(kind, 1))  # type: ignore[arg-type]
    assert [(await mailbox.get()).type for _ in range(2)] == ["window", "live"]


async def test_get_waits_for_a_message() -> None:
    mailbox = Mailbox()
    waiter = asyncio.create_task(mailbox.get())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    mailbox.put(message("moments", 3))  # type: ignore[arg-type]
    assert (await asyncio.wait_for(waiter, 1)).type == "moments"


async def test_fan_out_reaches_subscribers_of_the_stream_and_cleans_up() -> None:
    fanout = FanOut()
    coalesced: list[int] = []
    fanout.on_coalesced = coalesced.append
    with fanout.subscribe("a") as a1, fanout.subscribe("a") as a2, fanout.subscribe("b") as b:
        fanout.publish(message("live", 1, "a"))  # type: ignore[arg-type]
        fanout.publish(message("live", 2, "a"))  # type: ignore[arg-type]
        assert (len(a1), len(a2), len(b)) == (1, 1, 0)
        assert coalesced == [2]
        fanout.broadcast_status(False, "down")
        assert {(await b.get()).type} == {"status"}
        assert fanout.subscribers() == 3 and fanout.subscribers("a") == 2
    assert fanout.subscribers() == 0
