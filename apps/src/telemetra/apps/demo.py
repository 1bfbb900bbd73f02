"""``telemetra demo``: the whole platform in one process on embedded defaults.

Mock producer (three channels, with moments on a repeating schedule) → in-process bus → embedded engine →
SQLite + in-process cache → API (and the dashboard, when built). History survives restarts; Ctrl-C stops cleanly.

Moments alert the destinations of streams with an alert config (``telemetra.services.alerts``): an outbox in the
demo's SQLite file, its intake in the engine's output and a dispatcher task in this process. The configs live
in the outbox (``alert_configs``): ``alerts`` (``--alerts FILE``: ``{stream_id: AlertConfig}``) are written
there at start (origin ``file``, replacing the file's previous ones), and the admin API can change them.

With ``twitch`` channels, real chat joins them: one Twitch connection (:func:`telemetra.sources.twitch.run_channels`)
publishes to the same bus, so those channels show up next to the mock ones (or alone, without ``mock``). A channel
that cannot be read is logged and the rest of the demo goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telemetra.engine.core import Engine
from telemetra.engine.embedded import run_embedded
from telemetra.engine.journal import Journal
from telemetra.producers.mock import MockConfig, generate_batches
from telemetra.producers.runner import pump
from telemetra.producers.scenarios import Scenario, parse_scenario
from telemetra.sinks.memory import InProcessBus, MemorySink
from telemetra.sources.twitch import DEFAULT_URL, ChannelSpec, TwitchChat, TwitchError, run_channels

if TYPE_CHECKING:
    from telemetra.services.alerts import AlertConfig, AlertIntake, Dispatcher, Outbox

log = logging.getLogger("telemetra.demo")

DEMO_STREAMS = ("nebula", "pixelpioneer", "chesswhiz")
CYCLE = 600  # seconds; the schedule below repeats every cycle
# A raid needs no baseline, so one lands early; the other kinds wait for the 2-minute warm-up.
SCHEDULE = (
    "raid@35/pixelpioneer",
    "hype@150+30x5/nebula",
    "gift_bomb@200/pixelpioneer",
    "hype@260+40x3/chesswhiz",
    "sentiment_swing@330/nebula",
    "surge@420/chesswhiz",
    "viewer_drop@480/pixelpioneer",
    "raid@560/nebula",
)
FILE_ORIGIN = "file"  # the origin of the --alerts file's configs in the outbox
DURATION = 7 * 24 * 3600.0  # a week of traffic; the demo is stopped long before


def schedule(cycles: int, first: Sequence[str] = SCHEDULE) -> list[Scenario]:
    """The demo's scenarios for ``cycles`` repetitions of the schedule."""
    base = [parse_scenario(spec) for spec in first]
    return [
        Scenario(s.kind, s.at + cycle * CYCLE, s.duration, s.factor, s.stream_id)
        for cycle in range(cycles)
        for s in base
    ]


@dataclass(frozen=True)
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".telemetra")
    static_dir: Path | None = None  # the built dashboard (frontend/dist), served at /
    rate: float = 40.0  # events/s per stream
    cycles: int = 144  # a day of scheduled moments
    twitch: tuple[ChannelSpec, ...] = ()  # real channels to show
    twitch_url: str = DEFAULT_URL
    mock: bool = True  # the three mock channels
    alerts: Mapping[str, AlertConfig] | None = None  # stream id → its alerting


async def run_demo(options: DemoOptions, stop: asyncio.Event) -> None:
    from telemetra.services.api import create_app
    from telemetra.services.cache import open_cache
    from telemetra.services.output import ServiceOutput
    from telemetra.services.server import serve, until_serving
    from telemetra.services.settings import Settings
    from telemetra.services.storage import open_store

    options.data_dir.mkdir(parents=True, exist_ok=True)
    database = (options.data_dir / "telemetra.db").resolve()
    settings = Settings(
        host=options.host,
        port=options.port,
        store_url=f"sqlite:///{database}",
        cache_url="memory://",
        dashboard_dir=options.static_dir,
    )
    store, cache = open_store(settings.store_url), open_cache(settings.cache_url)
    app = create_app(settings, store=store, cache=cache)

    bus = InProcessBus()
    subscription = bus.subscribe()
    start = float(int(time.time()))
    mock = MockConfig(
        streams=DEMO_STREAMS,
        rate=options.rate,
        duration=DURATION,
        seed=int(start),  # a new seed per run: event ids stay unique across restarts
        start=start,
        scenarios=schedule(options.cycles),
    )
    api_stop = asyncio.Event()  # the API closes the store, so it stops after the engine has drained
    server = asyncio.create_task(serve(app, settings, api_stop), name="api")
    await until_serving(options.host, options.port, server)
    _announce(options, database)

    async with _alerting(options.alerts, settings.store_url) as alerts:
        output = ServiceOutput.from_settings(store, cache, settings, alerts=alerts)
        await output.start()  # the alert intake reads the stream configs, and keeps reading them
        app.state.telemetra.metrics.watch_output(output)  # the output's counters on /metrics
        # The journal lets a restart after a crash rebuild the windows that were open (telemetra.engine.journal).
        journal = Journal(options.data_dir / "journal")
        engine = asyncio.create_task(
            run_embedded(subscription, Engine(), output, journal=journal), name="engine"
        )
        sources: list[Coroutine[Any, Any, object]] = []
        if options.mock:
            sources.append(pump(generate_batches(mock), MemorySink(bus), speed=1.0, stop=stop))
        if options.twitch:
            sources.append(_real_chat(options, MemorySink(bus), stop))
        try:
            await asyncio.gather(*sources)
        finally:
            await bus.close()  # the engine drains what was published, then returns
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(engine, timeout=10)
            api_stop.set()
            await server
            await output.close()
            await cache.close()
            await store.close()  # the demo owns its store: closing it checkpoints SQLite's write-ahead log


@contextlib.asynccontextmanager
async def _alerting(configs: Mapping[str, AlertConfig] | None, store_url: str) -> AsyncIterator[AlertIntake]:
    """An outbox in the store's database with the file's configs written to it, an intake for the engine's
    output and a dispatcher task, stopped on the way out (sends in flight finish first)."""
    from telemetra.services.alerts import AlertIntake, AlertSettings, Dispatcher, SecretResolver, open_outbox

    settings = AlertSettings()
    secrets = SecretResolver.from_settings(settings)
    outbox: Outbox = open_outbox(settings.outbox_for(store_url))
    try:
        await outbox.start()
        await store_file_configs(outbox, configs or {})
    except BaseException:
        await outbox.close()
        await secrets.close()
        raise
    dispatcher: Dispatcher = Dispatcher(outbox, secrets, settings)
    intake = AlertIntake(
        outbox, max_age_s=settings.max_age_s, refresh_s=settings.rules_refresh_s, on_queued=dispatcher.wake
    )
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop), name="alerts")
    try:
        yield intake
    finally:
        stop.set()
        await task
        await dispatcher.close()
        await outbox.close()
        await secrets.close()


async def store_file_configs(outbox: Outbox, configs: Mapping[str, AlertConfig]) -> None:
    """The ``--alerts`` file's configs into the outbox (origin ``file``); configs an earlier file wrote for
    streams this one leaves out are removed. Configs from elsewhere (the admin API) of other streams stay."""
    now = time.time()
    stale = [s for s, c in (await outbox.configs()).items() if c.origin == FILE_ORIGIN and s not in configs]
    for stream_id in stale:
        await outbox.set_config(stream_id, None, FILE_ORIGIN, now)
    for stream_id, config in configs.items():
        await outbox.set_config(stream_id, config, FILE_ORIGIN, now)
    if configs or stale:
        log.info("alert configs from the file", extra={"streams": sorted(configs), "removed": stale})


async def _real_chat(options: DemoOptions, sink: MemorySink, stop: asyncio.Event) -> None:
    """The Twitch channels' chat until ``stop``; if none can be read, say so once and let the demo go on."""
    chat = TwitchChat(url=options.twitch_url)
    try:
        await run_channels(options.twitch, sink, chat=chat, stop=stop)
    except TwitchError as error:
        log.error("twitch chat cannot be read", extra={"url": options.twitch_url, "error": str(error)})
        await stop.wait()


def _announce(options: DemoOptions, database: Path) -> None:
    from telemetra.services.api.dashboard import is_built

    base = f"http://{options.host}:{options.port}"
    has_dashboard = is_built(options.static_dir)
    lines = [
        "",
        "  Telemetra demo is running (Ctrl-C stops it)",
        f"  dashboard  {base}/"
        if has_dashboard
        else "  dashboard  not built (make frontend), using the API docs",
        f"  API docs   {base}/docs",
        f"  streams    {base}/api/v1/streams",
        f"  live       ws://{options.host}:{options.port}/ws/live/{_shown(options)[0]}",
        f"  history    {database}",
    ]
    if options.mock:
        lines.append(
            "  moments    first raid after ~35 s; chat spikes, gift bombs, swings after the 2-minute warm-up"
        )
    if options.twitch:
        lines.append(
            f"  twitch     {', '.join(spec.channel for spec in options.twitch)} from {options.twitch_url}"
        )
    lines.append("")
    print("\n".join(lines), flush=True)


def _shown(options: DemoOptions) -> list[str]:
    """The stream ids the demo shows: the mock ones, then the Twitch channels'."""
    return [*(DEMO_STREAMS if options.mock else ()), *(spec.stream_id for spec in options.twitch)]
