"""The ``telemetra`` command line. Every flag is documented here and in the README."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import orjson

from telemetra.logs import configure_logging


def _stream_list(text: str) -> list[str]:
    from telemetra.contract.models import STREAM_ID_PATTERN

    streams = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in streams if not re.match(STREAM_ID_PATTERN, s)]
    if not streams or bad:
        raise argparse.ArgumentTypeError(f"stream ids must match {STREAM_ID_PATTERN}: {bad or text!r}")
    return streams


def _scenario(text: str) -> Any:
    from telemetra.producers.scenarios import parse_scenario

    try:
        return parse_scenario(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _timestamp(text: str) -> float:
    from telemetra.contract import parse_ts

    try:
        return parse_ts(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _pool_name(text: str) -> str:
    from telemetra.records import POOL_NAME_PATTERN

    if not re.match(POOL_NAME_PATTERN, text):
        raise argparse.ArgumentTypeError(f"pool name {text!r} must be a DNS label of at most 40 characters")
    return text


def _bootstrap(text: str) -> str:
    if not re.fullmatch(r"[^\s,/:]+:\d{1,5}(,[^\s,/:]+:\d{1,5})*", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT[,HOST:PORT…]")
    return text


def _topic(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Kafka topic name ([A-Za-z0-9._-], at most 249)")
    return text


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _join_limit(text: str) -> Any:
    from telemetra.sources.twitch import JoinLimit

    try:
        return JoinLimit.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _run_until_signal(main: Callable[[asyncio.Event], Coroutine[Any, Any, int]]) -> int:
    """Run ``main(stop)``; SIGINT, SIGTERM and SIGHUP (a closed terminal) set ``stop`` so the command can flush
    and exit cleanly rather than die with what it holds."""

    async def runner() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        return await main(stop)

    return asyncio.run(runner())


def _one_line(error: BaseException) -> str:
    """An error as one line: a pydantic ValidationError's messages joined, anything else its first line."""
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        return "; ".join(item["msg"].removeprefix("Value error, ") for item in error.errors())
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _fail(command: str, message: str, code: int) -> int:
    """Say what went wrong in one line on stderr, argparse-style, and return the exit code."""
    print(f"telemetra {command}: error: {message}", file=sys.stderr)
    return code


# -- produce -----------------------------------------------------------------------------------------------
def cmd_produce(args: argparse.Namespace) -> int:
    from telemetra.producers.mock import MockConfig, generate_batches, labels
    from telemetra.producers.runner import pump
    from telemetra.sinks import open_sink

    config = MockConfig(
        streams=args.streams,
        rate=args.rate,
        duration=args.duration,
        seed=args.seed,
        scenarios=args.scenario,
        chat=args.chat,
        **({"start": args.start} if args.start is not None else {}),
    )
    if args.labels:
        Path(args.labels).write_bytes(b"".join(orjson.dumps(label) + b"\n" for label in labels(config)))

    async def main(stop: asyncio.Event) -> int:
        # A generated log is a whole artefact (same seed, same bytes): a file sink is rewritten, not appended to.
        await pump(
            generate_batches(config), open_sink(args.sink, overwrite=True), speed=args.speed, stop=stop
        )
        return 0

    return _run_until_signal(main)


# -- ingest ------------------------------------------------------------------------------------------------
def cmd_ingest_twitch(args: argparse.Namespace) -> int:
    """Every argument is checked before anything is opened, so a typo never truncates or creates a file.

    Exit codes: 0 stopped by a signal (everything read was written), 1 every channel failed (or the login, the
    server or the sink did), 2 bad arguments. Each failure is one line on stderr; a channel that fails while
    others go on is a warning in the log.
    """
    from telemetra.sinks import DeliveryError, open_sink
    from telemetra.sources.twitch import TwitchChat, TwitchError, run_channels

    command = "ingest twitch"
    try:
        channels = _channels(args.channel, args.channels_file)
        chat = TwitchChat(url=args.url, connect_attempts=CONNECT_ATTEMPTS, join_limit=args.join_limit)
        helix = _helix_credentials(args.client_id)
        sink = open_sink(args.sink, overwrite=args.overwrite)
    except (ValueError, OSError) as error:
        return _fail(command, _one_line(error), 2)

    async def main(stop: asyncio.Event) -> int:
        try:
            await sink.start()
        except OSError as error:  # ConnectionError (Kafka) included
            return _fail(command, f"sink {args.sink}: {_one_line(error)}", 1)
        code = 0
        try:
            followed: list[Any] = []  # the channels, once added: what /metrics reports on
            if args.metrics_port is not None:
                from telemetra.sources.twitch_metrics import serve_metrics

                serve_metrics(chat, lambda: followed, args.metrics_port, args.metrics_host)
            await run_channels(
                channels, sink, chat=chat, helix=helix, stop=stop, log_interval=args.log_interval,
                on_start=followed.extend,
            )  # fmt: skip
        except TwitchError as error:
            code = _fail(command, str(error), 1)
        except DeliveryError as error:
            code = _fail(command, f"sink {args.sink}: {error}", 1)
        except OSError as error:  # the metrics port is taken
            code = _fail(command, f"--metrics-port {args.metrics_port}: {_one_line(error)}", 1)
        finally:
            try:
                await sink.close()
            except (OSError, DeliveryError) as error:
                code = _fail(command, f"sink {args.sink}: {_one_line(error)}", 1)
        return code

    return _run_until_signal(main)


def _channels(channel: str | None, channels_file: str | None) -> Any:
    """``--channel`` and the channels file's lines, as channel specs; ``ValueError`` says what is wrong."""
    from telemetra.sources.twitch import channels_file_lines, parse_channels

    items = [channel] if channel is not None else []
    if channels_file is not None:
        try:
            items += channels_file_lines(Path(channels_file).read_text(encoding="utf-8"))
        except OSError as error:
            raise ValueError(f"--channels-file {channels_file}: {error.strerror or error}") from None
    if not items:
        raise ValueError("name the channels to read: --channel NAME[,NAME…] or --channels-file FILE")
    return parse_channels(items)


# Failed connections in a row, before the channel was first joined, that end ``ingest twitch`` (an unreachable
# --url); once joined, connections are retried forever.
CONNECT_ATTEMPTS = 5


def _helix_credentials(client_id: str | None) -> Any:
    """Viewer polling needs both halves of the app's credentials; half of them is a mistake worth stopping
    for, since going on would silently record no viewer counts."""
    from telemetra.sources.twitch import HelixCredentials

    secret = os.environ.get("TWITCH_CLIENT_SECRET")
    if not client_id:
        return None
    if not secret:
        raise ValueError(
            "--client-id (or env TWITCH_CLIENT_ID) needs env TWITCH_CLIENT_SECRET for viewer counts; "
            "set it, or leave both out to read chat only"
        )
    return HelixCredentials(client_id=client_id, client_secret=secret)


def cmd_ingest_replay(args: argparse.Namespace) -> int:
    from telemetra.sinks import open_sink
    from telemetra.sources.logfile import send_file

    try:
        sink = open_sink(args.sink, overwrite=args.overwrite)
    except ValueError as error:
        return _fail("ingest replay", _one_line(error), 2)

    async def main(stop: asyncio.Event) -> int:
        await sink.start()
        try:
            stats = await send_file(args.events, sink, speed=args.speed, stop=stop)
        finally:
            await sink.close()
        print(orjson.dumps(stats, default=vars).decode(), file=sys.stderr)
        return 0

    return _run_until_signal(main)


def cmd_ingest_pool(args: argparse.Namespace) -> int:
    """One producer for every stream of a pool: see :mod:`telemetra.apps.pool_ingest`."""
    from telemetra.apps.pool_ingest import PoolIngestOptions, run_pool_ingest
    from telemetra.records import PoolTopics
    from telemetra.sinks.kafka_security import KafkaSecurity

    try:
        security = KafkaSecurity.from_env()
    except ValueError as error:  # a ValidationError is one; its text spans lines
        return _fail("ingest pool", f"Kafka security settings (TELEMETRA_KAFKA_*): {_one_line(error)}", 2)
    topics = PoolTopics.of(args.pool)
    options = PoolIngestOptions(
        pool=args.pool,
        bootstrap=args.kafka_bootstrap,
        sources_topic=args.sources_topic or topics.sources,
        events_topic=args.events_topic or topics.events,
        security=security,
        progress_interval=args.progress_interval,
        connect_timeout=args.connect_timeout,
        twitch_url=args.twitch_url,
        twitch_join_limit=args.twitch_join_limit,
        compression=args.compression,
    )
    return _run_until_signal(lambda stop: run_pool_ingest(options, stop))


# -- demo ------------------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from telemetra.apps.demo import DemoOptions, run_demo
    from telemetra.sources.twitch import check_chat_url, parse_channels

    static = Path(args.static_dir) if args.static_dir else None
    try:
        twitch = tuple(parse_channels(args.twitch)) if args.twitch else ()
        check_chat_url(args.twitch_url)
        alerts = _alert_configs(args.alerts) if args.alerts else None
    except (ValueError, OSError) as error:
        return _fail("demo", _one_line(error), 2)
    if args.no_mock and not twitch:
        return _fail("demo", "--no-mock leaves nothing to show: add --twitch CHANNEL[,CHANNEL…]", 2)
    options = DemoOptions(
        host=args.host, port=args.port, data_dir=Path(args.data_dir), static_dir=static, rate=args.rate,
        twitch=twitch, twitch_url=args.twitch_url, mock=not args.no_mock, alerts=alerts,
    )  # fmt: skip

    async def main(stop: asyncio.Event) -> int:
        await run_demo(options, stop)
        return 0

    return _run_until_signal(main)


def _alert_configs(path: str) -> dict[str, Any]:
    from telemetra.services.alerts.rules import parse_stream_configs

    try:
        text = Path(path).read_text("utf-8")
    except OSError as error:
        raise OSError(f"--alerts {path}: {error.strerror or error}") from None
    return parse_stream_configs(text)


# -- alerts ----------------------------------------------------------------------------------------------------
def cmd_alerts_dispatch(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from telemetra.apps.alerts import bind, check, dispatch
    from telemetra.services.alerts.settings import AlertSettings

    overrides = {
        name: value
        for name, value in (("metrics_host", args.metrics_host), ("metrics_port", args.metrics_port))
        if value is not None
    }
    try:
        settings = AlertSettings(**overrides)
        check(settings)
    except ValidationError as error:  # name the variable, never echo its value
        problems = [
            f"TELEMETRA_ALERTS_{'_'.join(map(str, item['loc'])).upper()}: {item['msg']}" if item["loc"]
            else item["msg"].removeprefix("Value error, ")
            for item in error.errors()
        ]  # fmt: skip
        return _fail("alerts dispatch", "; ".join(problems), 2)
    except ValueError as error:
        return _fail("alerts dispatch", _one_line(error), 2)
    try:
        sock = bind(settings)
    except OSError as error:
        where = f"{settings.metrics_host}:{settings.metrics_port}"
        return _fail("alerts dispatch", f"metrics on {where}: {error.strerror or error}", 2)

    async def main(stop: asyncio.Event) -> int:
        await dispatch(settings, stop, sock)
        return 0

    return _run_until_signal(main)


# -- replay / backtest ------------------------------------------------------------------------------------
def cmd_process(args: argparse.Namespace) -> int:
    from telemetra.analytics.config import AnalyticsConfig
    from telemetra.engine.offline import process_file, write_outputs

    config = AnalyticsConfig(window=args.window, slide=args.slide, lateness=args.lateness)
    result = process_file(Path(args.events), config)
    counts = write_outputs(result, Path(args.out))
    summary = {**counts, "events": result.events, "late_events": result.late_events}
    print(orjson.dumps(summary).decode())
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    """Score moments against ground-truth labels: precision, recall, F1 and delay per kind."""
    from telemetra.analytics.backtest import score_moments

    def load(path: str) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in Path(path).read_bytes().splitlines() if line.strip()]

    scores = score_moments(load(args.moments), load(args.labels), tolerance=args.tolerance)
    for kind, score in sorted(scores.items()):
        print(orjson.dumps({"kind": kind, **score.summary()}).decode())
    return 0


# -- contract ----------------------------------------------------------------------------------------------
def cmd_contract_export(args: argparse.Namespace) -> int:
    from telemetra.contract.schemas import export_schemas

    for path in export_schemas(Path(args.dir)):
        print(path)
    return 0


def cmd_contract_check(args: argparse.Namespace) -> int:
    """Validate a JSON Lines file; print each invalid line with its reasons."""
    from telemetra.contract import InvalidEvent, parse_event

    invalid = total = 0
    with Path(args.events).open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            total += 1
            try:
                parse_event(line)
            except InvalidEvent as error:
                invalid += 1
                print(f"{args.events}:{number}: {error.reason}")
    print(f"{total - invalid} valid, {invalid} invalid", file=sys.stderr)
    return 1 if invalid else 0


# -- parser ------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from telemetra.contract.schemas import SCHEMA_DIR

    parser = argparse.ArgumentParser(prog="telemetra", description="Real-time analytics for live streams.")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("TELEMETRA_LOG_LEVEL", "INFO"),
        help="DEBUG, INFO, WARNING or ERROR (env TELEMETRA_LOG_LEVEL; default INFO)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    produce = commands.add_parser("produce", help="generate realistic mock traffic with labelled scenarios")
    produce.add_argument(
        "--streams", type=_stream_list, default=["demo"], help="comma-separated stream ids (default: demo)"
    )
    produce.add_argument("--rate", type=float, default=200.0, help="mean events/s per stream (default 200)")
    produce.add_argument("--duration", type=float, default=60.0, help="seconds of traffic (default 60)")
    produce.add_argument(
        "--seed", type=int, default=7, help="random seed; same seed, same events (default 7)"
    )
    produce.add_argument(
        "--scenario",
        type=_scenario,
        action="append",
        default=[],
        help="inject KIND@START[+DURATION][xFACTOR][/STREAM], repeatable; kinds: hype, raid, "
        "surge, gift_bomb, sentiment_swing, viewer_drop, ramp",
    )
    produce.add_argument(
        "--sink",
        default="file://events.jsonl",
        help="kafka://HOST:PORT[?topic=T], file://PATH (rewritten) or memory:// (default file://events.jsonl)",
    )
    produce.add_argument("--labels", help="write ground-truth scenario labels to this JSON Lines file")
    produce.add_argument(
        "--chat",
        choices=["bursty", "poisson"],
        default="bursty",
        help="chat model: bursty (drifts and comes in bursts, as real chat does; default) or poisson",
    )
    produce.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="1 = real time, N = N× faster, 0 = as fast as possible (default 1)",
    )
    produce.add_argument(
        "--start", type=_timestamp, help="RFC 3339 event time of the first second (default: now)"
    )
    produce.set_defaults(handler=cmd_produce)

    ingest = commands.add_parser("ingest", help="ingest real traffic").add_subparsers(
        dest="source", required=True, metavar="SOURCE"
    )
    twitch = ingest.add_parser(
        "twitch", help="read Twitch channels' chat over one connection (anonymous, read-only)"
    )
    twitch.add_argument(
        "--channel",
        help="channel login(s), comma-separated, e.g. shroud,pokimane (all read over one connection); "
        "CHANNEL=STREAM_ID sends a channel's events to another stream id (default: the login)",
    )
    twitch.add_argument(
        "--channels-file", help="a file of channels, one per line (CHANNEL[=STREAM_ID]; # starts a comment)"
    )
    twitch.add_argument(
        "--join-limit",
        type=_join_limit,
        default="20/10",
        help="JOINS/SECONDS: how fast channels are joined (default 20/10, Twitch's limit for a normal account)",
    )
    twitch.add_argument(
        "--metrics-port", type=int, help="serve per-channel Prometheus metrics at :PORT/metrics"
    )
    twitch.add_argument(
        "--metrics-host", default="0.0.0.0", help="address of the metrics endpoint (default 0.0.0.0)"
    )
    twitch.add_argument(
        "--log-interval",
        type=_positive,
        default=60.0,
        help="seconds between 'twitch stats' log lines with per-channel counters (default 60)",
    )
    twitch.add_argument(
        "--sink", required=True, help="where events go (see produce --sink); a file is appended to"
    )
    twitch.add_argument(
        "--overwrite", action="store_true", help="truncate a file sink first instead of appending"
    )
    twitch.add_argument("--url", default="wss://irc-ws.chat.twitch.tv:443", help="Twitch chat WebSocket URL")
    twitch.add_argument(
        "--client-id",
        default=os.environ.get("TWITCH_CLIENT_ID"),
        help="Helix client id for viewer counts (env TWITCH_CLIENT_ID; the secret is read "
        "from env TWITCH_CLIENT_SECRET, and is required with it)",
    )
    twitch.set_defaults(handler=cmd_ingest_twitch)
    replay = ingest.add_parser("replay", help="send a recorded JSON Lines event log to a sink, at its pace")
    replay.add_argument("events", help="JSON Lines event log")
    replay.add_argument(
        "--sink", required=True, help="where events go (see produce --sink); a file is appended to"
    )
    replay.add_argument(
        "--overwrite", action="store_true", help="truncate a file sink first instead of appending"
    )
    replay.add_argument("--speed", type=float, default=1.0, help="1 = original pace, N = N× faster, 0 = max")
    replay.set_defaults(handler=cmd_ingest_replay)
    pool = ingest.add_parser(
        "pool",
        help="run the sources of every stream of a pool, as its sources topic says, into its events topic",
    )
    pool.add_argument("--pool", required=True, type=_pool_name, help="the pool's name (a DNS label)")
    pool.add_argument(
        "--kafka-bootstrap",
        required=True,
        type=_bootstrap,
        help="HOST:PORT[,HOST:PORT…] of the Kafka cluster",
    )
    pool.add_argument(
        "--sources-topic",
        type=_topic,
        help="compacted topic of the streams' sources (default telemetra.pool.POOL.sources)",
    )
    pool.add_argument(
        "--events-topic",
        type=_topic,
        help="where events go, keyed by stream id (default telemetra.pool.POOL.events)",
    )
    pool.add_argument(
        "--progress-interval",
        type=_positive,
        default=10.0,
        help="seconds between progress lines (default 10)",
    )
    pool.add_argument(
        "--connect-timeout",
        type=_positive,
        default=30.0,
        help="seconds to keep trying to reach Kafka (default 30)",
    )
    pool.add_argument(
        "--compression",
        choices=["none", "gzip", "snappy", "lz4", "zstd"],
        default="zstd",
        help="compression of the events' record batches (default zstd)",
    )
    pool.add_argument(
        "--twitch-url", default="wss://irc-ws.chat.twitch.tv:443", help="Twitch chat WebSocket URL"
    )
    pool.add_argument(
        "--twitch-join-limit",
        type=_join_limit,
        default="20/10",
        help="JOINS/SECONDS of the pool's one Twitch connection (default 20/10, Twitch's limit for a normal "
        "account)",
    )
    pool.set_defaults(handler=cmd_ingest_pool)

    default_static = Path(__file__).resolve().parents[4] / "frontend" / "dist"
    demo = commands.add_parser("demo", help="run the whole platform in this process on embedded defaults")
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=8000, help="port of the API and dashboard (default 8000)")
    demo.add_argument(
        "--data-dir", default=".telemetra", help="where the SQLite history lives (default .telemetra)"
    )
    demo.add_argument("--static-dir", default=str(default_static), help="built dashboard to serve at /")
    demo.add_argument("--rate", type=float, default=40.0, help="mean events/s per demo stream (default 40)")
    demo.add_argument(
        "--twitch",
        action="append",
        default=[],
        metavar="CHANNEL[,CHANNEL…]",
        help="also show these Twitch channels' live chat (read anonymously; repeatable)",
    )
    demo.add_argument(
        "--twitch-url",
        default="wss://irc-ws.chat.twitch.tv:443",
        help="Twitch chat WebSocket URL (a local server: python -m telemetra.dev.twitch_chat)",
    )
    demo.add_argument("--no-mock", action="store_true", help="show only the --twitch channels, no mock ones")
    demo.add_argument(
        "--alerts",
        metavar="FILE",
        help="alert rules: a JSON object {stream_id: {destinations, rules}} (see services/alerts/__init__.py)",
    )
    demo.set_defaults(handler=cmd_demo)

    alerts = commands.add_parser("alerts", help="alert delivery").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    dispatch = alerts.add_parser(
        "dispatch",
        help="deliver the outbox's alerts until SIGTERM (settings: TELEMETRA_ALERTS_*); /health and /metrics",
    )
    dispatch.add_argument(
        "--metrics-host", help="address of /health and /metrics (TELEMETRA_ALERTS_METRICS_HOST)"
    )
    dispatch.add_argument(
        "--metrics-port",
        type=int,
        help="port of /health and /metrics (TELEMETRA_ALERTS_METRICS_PORT, default 9465)",
    )
    dispatch.set_defaults(handler=cmd_alerts_dispatch)

    process_cmd = commands.add_parser("process", help="run the engine over an event log as fast as possible")
    process_cmd.add_argument("events", help="JSON Lines event log")
    process_cmd.add_argument(
        "--out", required=True, help="directory for metrics.jsonl, moments.jsonl, dead_letters.jsonl"
    )
    process_cmd.add_argument("--window", type=int, default=60, help="window length in seconds (default 60)")
    process_cmd.add_argument("--slide", type=int, default=10, help="window slide in seconds (default 10)")
    process_cmd.add_argument(
        "--lateness", type=float, default=10.0, help="allowed lateness in seconds (default 10)"
    )
    process_cmd.set_defaults(handler=cmd_process)

    backtest = commands.add_parser("backtest", help="score detected moments against scenario labels")
    backtest.add_argument("--moments", required=True, help="moments.jsonl written by replay")
    backtest.add_argument("--labels", required=True, help="labels.jsonl written by produce --labels")
    backtest.add_argument("--tolerance", type=float, default=20.0, help="seconds of slack around an episode")
    backtest.set_defaults(handler=cmd_backtest)

    contract = commands.add_parser("contract", help="the event contract").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    export = contract.add_parser("export", help="write the JSON Schema files generated from the models")
    export.add_argument("--dir", default=str(SCHEMA_DIR), help=f"output directory (default {SCHEMA_DIR})")
    export.set_defaults(handler=cmd_contract_export)
    check = contract.add_parser("check", help="validate a JSON Lines event file; exit 1 if any is invalid")
    check.add_argument("events", help="JSON Lines event log")
    check.set_defaults(handler=cmd_contract_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
