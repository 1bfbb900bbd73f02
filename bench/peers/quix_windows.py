"""The pool job's peer, written with quixstreams: one pool topic of many streams → per-stream sliding windows
(60 s every 10 s) → PostgreSQL. ``bench/pool_throughput.py`` runs it (one or more processes in one consumer
group) next to the Spark pool job, on the same topic and the same cores.

Per record (key = stream id, value = a contract event's JSON, as the producers write it):

* **deserialise**: the event is validated against the contract as the engine validates it (its fast path,
  ``telemetra.contract.fastpath.parse_common``, for chat messages and viewers samples it can prove valid;
  ``telemetra.contract.parse_event``, pydantic, for the rest) and a chat message is scored with the project's
  own sentiment (``telemetra.analytics.stream.chat_features``: emotes, then ``sentiment.score``), so the work per
  event matches the engine's. An invalid event is skipped and counted (the engine would make it a dead letter).
  Event time is the event's ``ts`` (the topic's timestamp extractor), in milliseconds.
* **window** (``--windows hopping``, the default: how quixstreams documents sliding windows):
  ``hopping_window(duration_ms=60000, step_ms=10000, grace_ms=10000)`` per key, i.e. windows aligned to the
  epoch, closed when the stream's newest event time passes their end by 10 s: the engine's watermark
  (``AnalyticsConfig``: window 60, slide 10, lateness 10). Two aggregations: ``WindowCounts`` (chat messages,
  Σ sentiment in nano-units as the engine sums it, positive/neutral/negative, events by type, transactions by
  kind) and ``Collect("user")`` for the exact unique chatters (each event's user id is stored once, not once
  per window, and counted when the window closes). ``.final()``: closed windows only. Each event updates the
  six windows that hold it.
* or (``--windows panes``, tuned: the engine's own technique) the same aggregations over 10 s
  ``tumbling_window`` panes, closed the same way, and a stateful step (:func:`slide`) that assembles each
  closed pane and the five before it into the 60 s window that closes with it. Each event updates one pane.
* **store**: a ``BatchingSink`` that upserts each checkpoint's windows into ``pool_windows``
  (``pool_windows.sql``) with one ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE`` (asyncpg).

It runs until SIGTERM (quixstreams then commits its last checkpoint, which writes the last windows). For the
harness it marks each input partition whose end (``--end-offsets``) it has processed (a file ``end-<p>`` in
``--progress-dir``), and at exit writes ``--stats`` (JSON): when it consumed its first record, when its last
write to PostgreSQL finished, when it processed the end of its last partition, records, windows, CPU seconds
and peak RSS (``VmHWM``).

Needs quixstreams (the ``bench`` extra, installed by ``make bench`` into ``.venv/bench``)::

    .venv/bench/bin/python bench/peers/quix_windows.py --bootstrap 127.0.0.1:9092 \\
        --topic telemetra.pool.default.events --store-url postgresql://… [--group G] [--state-dir D]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from quixstreams import Application
from quixstreams.dataframe.windows import Aggregator, Collect
from quixstreams.models import Deserializer, IgnoreMessage, TimestampType
from quixstreams.sinks import BatchingSink, SinkBatch
from quixstreams.state import State

from telemetra.analytics.panes import NANO
from telemetra.analytics.sentiment import classify
from telemetra.analytics.stream import chat_features, message_features
from telemetra.contract import ChatEvent, InvalidEvent, TransactionEvent, parse_event
from telemetra.contract.fastpath import parse_common

WINDOW_MS, STEP_MS, GRACE_MS = 60_000, 10_000, 10_000  # AnalyticsConfig(): window, slide, lateness
TABLE_SQL = Path(__file__).with_name("pool_windows.sql")
LABELS = {"positive": 2, "neutral": 3, "negative": 4}  # their slots in WindowCounts' state

log = logging.getLogger("quix_windows")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--store-url", required=True, help="postgresql://…")
    parser.add_argument("--name", default="quix", help="the engine column of its rows in pool_windows")
    parser.add_argument("--group", default="telemetra-quix-peer")
    parser.add_argument("--state-dir", type=Path, default=Path("state"))
    parser.add_argument(
        "--windows",
        choices=["hopping", "panes"],
        default="hopping",
        help="hopping: quixstreams' hopping windows (each event updates six); panes: 10 s tumbling windows "
        "assembled into the 60 s windows by a stateful step (each event updates one)",
    )
    parser.add_argument("--commit-interval", type=float, default=5.0, help="seconds between checkpoints")
    parser.add_argument("--no-changelog", action="store_true", help="state without changelog topics")
    parser.add_argument("--end-offsets", default="", help="PARTITION:END,… of the input (for --progress-dir)")
    parser.add_argument("--progress-dir", type=Path, help="where to mark each partition processed to its end")
    parser.add_argument("--stats", type=Path, help="JSON file written at exit")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the run here")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------------- input


class ContractEvent(Deserializer):
    """A record's value → the few fields the windows need, after validating it as the engine does."""

    def __init__(self) -> None:
        super().__init__()
        self.first_consumed: float | None = None
        self.cpu_at_first = 0.0
        self.records = 0
        self.invalid = 0

    def __call__(self, value: bytes, ctx: Any) -> dict[str, Any]:
        if self.first_consumed is None:
            self.first_consumed = time.time()
            self.cpu_at_first = cpu_seconds()
        self.records += 1
        common = parse_common(value)
        if isinstance(common, tuple):  # a chat message, proven valid by the contract's fast path
            return self._chat(*message_features(*common[1:]))
        try:
            event = common if common is not None else parse_event(value)
        except InvalidEvent:
            self.invalid += 1
            raise IgnoreMessage from None
        if isinstance(event, ChatEvent):
            return self._chat(*chat_features(event))
        kind = str(event.kind) if isinstance(event, TransactionEvent) else None
        return {"ms": round(event.ts.timestamp() * 1000), "type": event.type, "user": None, "kind": kind}

    @staticmethod
    def _chat(ts: float, event_id: str, user: str, emotes: list[str], score: float) -> dict[str, Any]:
        return {
            "ms": round(ts * 1000),
            "type": "chat",
            "user": user,
            "nanos": round(score * NANO),  # summed as integers, like the engine's panes
            "label": LABELS[classify(score)],
        }


def event_time(value: dict[str, Any], headers: Any, timestamp: int, timestamp_type: TimestampType) -> int:
    return int(value["ms"])


# ---------------------------------------------------------------------------------------------------- windows


class WindowCounts(Aggregator):
    """``[messages, Σ sentiment nanos, positive, neutral, negative, {type: n}, {kind: n}]`` of a window."""

    def initialize(self) -> list[Any]:
        return [0, 0, 0, 0, 0, {}, {}]

    def agg(self, old: list[Any], new: dict[str, Any], timestamp: int) -> list[Any]:
        kind = new["type"]
        by_type = old[5]
        by_type[kind] = by_type.get(kind, 0) + 1
        if kind == "chat":
            old[0] += 1
            old[1] += new["nanos"]
            old[new["label"]] += 1
        elif new["kind"] is not None and kind == "transaction":
            transactions = old[6]
            transactions[new["kind"]] = transactions.get(new["kind"], 0) + 1
        return old

    def result(self, value: list[Any]) -> list[Any]:
        return value


def summarise(window: dict[str, Any]) -> dict[str, Any]:
    """A closed window (of ``--windows hopping``) as the row to store."""
    users = set(window["chatters"])
    users.discard(None)
    return row(window["start"], window["counts"], len(users))


def row(start: int, counts: list[Any], unique_chatters: int) -> dict[str, Any]:
    messages, nanos, positive, neutral, negative, by_type, transactions = counts
    return {
        "start": start,
        "end": start + WINDOW_MS,
        "events": sum(by_type.values()),
        "messages": messages,
        "unique_chatters": unique_chatters,
        "sentiment": round(nanos / NANO / messages, 9) if messages else None,
        "positive": positive,
        "neutral": neutral,
        "negative": negative,
        "by_type": orjson.dumps(by_type, option=orjson.OPT_SORT_KEYS).decode(),
        "transactions": orjson.dumps(transactions, option=orjson.OPT_SORT_KEYS).decode(),
    }


def slide(pane: dict[str, Any], state: State) -> list[dict[str, Any]]:
    """``--windows panes``: a closed 10 s pane in, the 60 s windows it completes out (the engine's technique).

    A pane closes once the stream's newest event is 10 s past its end, and so does every window ending with it:
    window ``[p - 50 s, p + 10 s)`` closes with pane ``p``. The state keeps the panes the next windows need
    (the last five: their counts and their distinct chatters) and the start of the next window to emit."""
    start = pane["start"]
    users = set(pane["chatters"])
    users.discard(None)
    panes: list[list[Any]] = state.get("panes", [])
    panes.append([start, pane["counts"], sorted(users)])
    first = state.get("next")
    if first is None:
        first = panes[0][0] - (WINDOW_MS - STEP_MS)
    windows = []
    for window in range(first, start - (WINDOW_MS - STEP_MS) + 1, STEP_MS):
        inside = [p for p in panes if window <= p[0] < window + WINDOW_MS]
        if inside:
            windows.append(
                row(window, merge_counts([p[1] for p in inside]), len(set().union(*(p[2] for p in inside))))
            )
    keep_from = start - (WINDOW_MS - 2 * STEP_MS)  # the next window's first pane
    state.set("panes", [p for p in panes if p[0] >= keep_from])
    state.set("next", keep_from)
    return windows


def merge_counts(counts: list[list[Any]]) -> list[Any]:
    merged: list[Any] = [0, 0, 0, 0, 0, {}, {}]
    for each in counts:
        for slot in range(5):
            merged[slot] += each[slot]
        for slot in (5, 6):
            for name, n in each[slot].items():
                merged[slot][name] = merged[slot].get(name, 0) + n
    return merged


# ---------------------------------------------------------------------------------------------------- output

UPSERT = """
INSERT INTO pool_windows (engine, stream_id, window_start, window_end, events, messages, unique_chatters,
                          sentiment, positive, neutral, negative, by_type, transactions)
SELECT $1, s, to_timestamp(ws / 1000.0), to_timestamp(we / 1000.0), ev, m, u, se, p, nu, ng, bt::jsonb, tx::jsonb
FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::int[], $6::int[], $7::int[], $8::float8[], $9::int[],
            $10::int[], $11::int[], $12::text[], $13::text[]) AS w(s, ws, we, ev, m, u, se, p, nu, ng, bt, tx)
ON CONFLICT (engine, stream_id, window_start) DO UPDATE SET
    window_end = EXCLUDED.window_end, events = EXCLUDED.events, messages = EXCLUDED.messages,
    unique_chatters = EXCLUDED.unique_chatters, sentiment = EXCLUDED.sentiment, positive = EXCLUDED.positive,
    neutral = EXCLUDED.neutral, negative = EXCLUDED.negative, by_type = EXCLUDED.by_type,
    transactions = EXCLUDED.transactions, stored_at = clock_timestamp()
"""
COLUMNS = (
    "start", "end", "events", "messages", "unique_chatters", "sentiment", "positive", "neutral", "negative",
    "by_type", "transactions",
)  # fmt: skip


class PostgresWindows(BatchingSink):
    """Each checkpoint's closed windows (per input partition) in one upsert statement."""

    def __init__(self, url: str, engine: str):
        super().__init__()
        self.url = url
        self.engine = engine
        self.windows = 0
        self.writes = 0
        self.last_stored: float | None = None
        self.cpu_at_last = 0.0
        self._loop = asyncio.new_event_loop()
        self._connection: asyncpg.Connection | None = None

    def setup(self) -> None:
        self._connection = self._loop.run_until_complete(asyncpg.connect(self.url))
        self._loop.run_until_complete(self._connection.execute(TABLE_SQL.read_text()))

    def write(self, batch: SinkBatch) -> None:
        assert self._connection is not None
        streams: list[str] = []
        columns: list[list[Any]] = [[] for _ in COLUMNS]
        for item in batch:
            streams.append(item.key)
            value = item.value
            for values, name in zip(columns, COLUMNS, strict=True):
                values.append(value[name])
        if not streams:
            return
        self._loop.run_until_complete(self._connection.execute(UPSERT, self.engine, streams, *columns))
        self.windows += len(streams)
        self.writes += 1
        self.last_stored = time.time()
        self.cpu_at_last = cpu_seconds()

    def close(self) -> None:
        if self._connection is not None:
            self._loop.run_until_complete(self._connection.close())
        self._loop.close()


# ---------------------------------------------------------------------------------------------------- progress


class Progress:
    """Marks each input partition once its last record (``--end-offsets``) has been processed."""

    def __init__(self, topic: str, end_offsets: dict[int, int], directory: Path | None):
        self.topic = topic
        self.last = {partition: end - 1 for partition, end in end_offsets.items()}
        self.directory = directory
        self.partitions: set[int] = set()  # the input partitions this process processed records of
        self.marked: set[int] = set()
        self.last_end: float | None = None  # when it last processed a partition to its end
        self.cpu_at_last_end = 0.0

    def __call__(self, topic: str, partition: int, offset: int) -> None:
        if topic != self.topic:
            return
        self.partitions.add(partition)
        if partition not in self.marked and offset >= self.last.get(partition, 1 << 62):
            self.marked.add(partition)
            self.last_end, self.cpu_at_last_end = time.time(), cpu_seconds()
            if self.directory is not None:
                (self.directory / f"end-{partition}").write_text(f"{time.time():.6f}\n")


def parse_offsets(text: str) -> dict[int, int]:
    pairs = (item.split(":") for item in text.split(",") if item)
    return {int(partition): int(end) for partition, end in pairs}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


# ---------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    progress = Progress(args.topic, parse_offsets(args.end_offsets), args.progress_dir)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        commit_interval=args.commit_interval,
        use_changelog_topics=not args.no_changelog,
        on_message_processed=progress,
        loglevel="WARNING",
        consumer_poll_timeout=0.2,  # (default 1 s) how long an idle poll blocks: so SIGTERM is seen sooner
    )
    events = ContractEvent()
    topic = app.topic(
        args.topic, key_deserializer="str", value_deserializer=events, timestamp_extractor=event_time
    )
    sink = PostgresWindows(args.store_url, args.name)
    sdf = app.dataframe(topic)
    if args.windows == "hopping":
        sdf = (
            sdf.hopping_window(duration_ms=WINDOW_MS, step_ms=STEP_MS, grace_ms=GRACE_MS, name="pool-windows")
            .agg(counts=WindowCounts(), chatters=Collect("user"))
            .final()
        )
        sdf = sdf.apply(summarise)
    else:
        sdf = (
            sdf.tumbling_window(duration_ms=STEP_MS, grace_ms=GRACE_MS, name="pool-panes")
            .agg(counts=WindowCounts(), chatters=Collect("user"))
            .final()
        )
        sdf = sdf.apply(slide, stateful=True, expand=True)
    sdf.sink(sink)
    began, cpu_at_start = time.time(), cpu_seconds()
    profiler = cProfile.Profile() if args.profile else None
    try:
        if profiler is not None:
            profiler.runcall(app.run)
        else:
            app.run()
    finally:
        sink.close()
        if profiler is not None:
            profiler.dump_stats(args.profile)
    stats = {
        "engine": args.name,
        "windows_mode": args.windows,
        "started": began,
        "first_consumed": events.first_consumed,
        "last_stored": sink.last_stored,
        "records": events.records,
        "invalid": events.invalid,
        "windows": sink.windows,
        "writes": sink.writes,
        "partitions": sorted(progress.partitions),
        "ended": time.time(),
        "cpu_s": cpu_seconds(),
        "cpu_s_before_run": cpu_at_start,  # interpreter, imports, the app's set-up
        "last_end": progress.last_end,
        # first record → the later of its last write and the end of its last partition
        "cpu_s_measured": max(sink.cpu_at_last, progress.cpu_at_last_end) - events.cpu_at_first,
        "peak_rss_kib": peak_rss_kib(),
    }
    if args.stats is not None:
        args.stats.write_text(orjson.dumps(stats, option=orjson.OPT_INDENT_2).decode())
    print(orjson.dumps(stats).decode(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
