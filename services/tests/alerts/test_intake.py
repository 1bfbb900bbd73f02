"""The intake reads the stream configs from the outbox: at start, then every ``refresh_s``; an outbox that cannot
be read keeps the previous configs (one warning per outage, the recovery logged once); a stream without a
config costs no outbox write. The engine's output starts and closes the intake (and an owned output, its
outbox)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from telemetra.dev.testing.alerts import make_moment, webhook_config
from telemetra.services.alerts import AlertIntake, AlertSettings
from telemetra.services.alerts.outbox import Outbox, open_outbox
from telemetra.services.alerts.rules import AlertConfig
from telemetra.services.output import open_output
from telemetra.services.settings import Settings
from telemetra.services.storage import StoreUnavailable

HOOK = webhook_config("http://127.0.0.1:9/hook")


class Faulty:
    """An outbox whose config reads fail while ``down``; counts offers and records which configs are read."""

    def __init__(self, inner: Outbox):
        self.inner, self.down, self.offered = inner, False, 0
        self.read: list[set[str] | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def config_stamps(self) -> Any:
        if self.down:
            raise StoreUnavailable("injected outage")
        return await self.inner.config_stamps()

    async def configs(self, stream_ids: Any = None) -> Any:
        self.read.append(None if stream_ids is None else set(stream_ids))
        return await self.inner.configs(stream_ids)

    async def offer(self, offers: Any, now: float) -> Any:
        self.offered += 1
        return await self.inner.offer(offers, now)


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Faulty]:
    box = open_outbox(f"sqlite:///{tmp_path / 'alerts.db'}")
    await box.start()
    try:
        yield Faulty(box)
    finally:
        await box.close()


async def eventually(condition: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(5):
            while not condition():  # noqa: ASYNC110 - the refresh runs in the background
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"no {what} within 5 s") from None


async def test_configs_come_from_the_outbox_and_changes_arrive_within_the_refresh(outbox: Faulty) -> None:
    await outbox.set_config("alpha", HOOK, "file", time.time())
    await outbox.set_config("beta", AlertConfig(), "api", time.time())  # no rules: alerts nothing
    intake = AlertIntake(outbox, refresh_s=0.05)  # type: ignore[arg-type]
    assert intake.config("alpha") is None  # nothing read yet
    await intake.start()
    try:
        assert set(intake.configs) == {"alpha"} and intake.config("alpha") == HOOK
        await outbox.set_config("gamma", HOOK, "api", time.time())
        await outbox.set_config("alpha", None, "api", time.time())
        await eventually(lambda: set(intake.configs) == {"gamma"}, "the changed configs")
    finally:
        await intake.close()
    await outbox.set_config("delta", HOOK, "api", time.time())
    await asyncio.sleep(0.2)
    assert set(intake.configs) == {"gamma"}  # closed: no more refreshes


async def test_a_refresh_reads_again_only_the_configs_set_since_the_last(outbox: Faulty) -> None:
    for stream_id in ("alpha", "beta", "gamma"):
        await outbox.set_config(stream_id, HOOK, "api", time.time())
    intake = AlertIntake(outbox)  # type: ignore[arg-type]
    assert await intake.refresh() and outbox.read == [{"alpha", "beta", "gamma"}]
    assert await intake.refresh() and outbox.read[1:] == []  # nothing changed: nothing read
    changed = webhook_config("http://127.0.0.1:9/other")
    await outbox.set_config("beta", changed, "api", time.time() + 1)
    await outbox.set_config("gamma", None, "api", time.time())
    assert await intake.refresh() and outbox.read[1:] == [{"beta"}]
    assert dict(intake.configs) == {"alpha": HOOK, "beta": changed}


async def test_an_unreadable_outbox_keeps_the_configs_and_warns_once(
    outbox: Faulty, caplog: pytest.LogCaptureFixture
) -> None:
    await outbox.set_config("alpha", HOOK, "file", time.time())
    intake = AlertIntake(outbox, refresh_s=0.02)  # type: ignore[arg-type]
    caplog.set_level(logging.INFO, "telemetra.services.alerts")
    await intake.start()
    try:
        outbox.down = True
        await asyncio.sleep(0.3)  # some 15 failed refreshes
        assert set(intake.configs) == {"alpha"}
        outbox.down = False
        await outbox.set_config("beta", HOOK, "api", time.time())
        await eventually(lambda: set(intake.configs) == {"alpha", "beta"}, "the configs after the outage")
    finally:
        await intake.close()
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("alert configs cannot be read; keeping the previous ones") == 1
    assert messages.count("alert configs read again") == 1
    assert not any(r.exc_info for r in caplog.records)  # no tracebacks


async def test_streams_without_a_config_cost_no_outbox_write(outbox: Faulty) -> None:
    intake = AlertIntake(outbox, max_age_s=None)  # type: ignore[arg-type]
    assert await intake.refresh()
    assert (await intake.moments([make_moment(1)])).queued == 0 and outbox.offered == 0
    await outbox.set_config("alpha", HOOK, "api", time.time())
    assert await intake.refresh()
    assert (await intake.moments([make_moment(2, stream="beta")])).queued == 0 and outbox.offered == 0
    assert (await intake.moments([make_moment(3)])).queued == 1 and outbox.offered == 1


async def test_an_owned_output_starts_its_intake_and_outbox_in_the_stores_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'job.db'}"
    writer = open_outbox(url)  # what the admin API or the operator does, elsewhere
    await writer.start()
    await writer.set_config("alpha", HOOK, "api", time.time())
    output = open_output(
        Settings(store_url=url, cache_url="memory://"), AlertSettings(rules_refresh_s=0.05, max_age_s=None)
    )
    assert output.alerts is not None
    await output.start()
    try:
        assert set(output.alerts.configs) == {"alpha"}
        await output.write_moments([make_moment(1)])
        await eventually(lambda: output.stats.alerts_offered == 1, "the offer")
        assert [r.stream_id for r in await writer.deliveries()] == ["alpha"]
    finally:
        await output.close()
        await writer.close()
    assert open_output(Settings(store_url=url), AlertSettings(enabled=False)).alerts is None
    assert open_output(Settings(store_url=url)).alerts is None
