"""The Spark job's per-batch logic without Spark: batches over stored state give the embedded engine's output,
the stored state stays small, and invalid records become dead letters with their source."""

from __future__ import annotations

import base64
import itertools
import random
from dataclasses import dataclass

import orjson
import pytest

from telemetra.analytics.config import AnalyticsConfig
from telemetra.analytics.stream import StreamAnalytics
from telemetra.contract import parse_ts
from telemetra.dev.testing.spark import engine_reference, scenario_log
from telemetra.records import WindowMetrics
from telemetra.spark.state import (
    CORE,
    DEAD_LETTER,
    DESCRIPTION,
    LIVE,
    MOMENT,
    STATS,
    WINDOW,
    StoredShard,
    decode_core,
    decode_pane,
    process_records,
    state_changes,
)

STREAM = "alpha"
TOPIC = "telemetra.alpha.events"


class StoredState:
    """What the processor keeps in Spark's state store: the core blob and one blob per pane."""

    def __init__(self) -> None:
        self.core: bytes | None = None
        self.panes: dict[int, bytes] = {}

    def load(self, config: AnalyticsConfig) -> StreamAnalytics:
        if self.core is None:
            return StreamAnalytics(STREAM, config)
        return decode_core(self.core, {start: decode_pane(blob) for start, blob in self.panes.items()})

    def save(self, analytics: StreamAnalytics, before: set[int], touched: set[int]) -> None:
        changes = state_changes(analytics, before, touched)
        for start in changes.removed:
            del self.panes[start]
        self.panes.update(changes.updated)
        self.core = changes.core


def run_batches(
    lines: list[bytes], sizes: list[int], config: AnalyticsConfig | None = None
) -> dict[str, list]:
    """Process ``lines`` in batches of ``sizes``, restoring the analytics from the stored state each time."""
    config = config or AnalyticsConfig()
    stored = StoredState()
    out: dict[str, list] = {WINDOW: [], MOMENT: [], DEAD_LETTER: [], DESCRIPTION: [], STATS: [], LIVE: []}
    offset = 0
    for size in sizes:
        chunk = lines[offset : offset + size]
        analytics = stored.load(config)
        before = set(analytics.panes)
        offsets = list(range(offset, offset + len(chunk)))
        result = process_records(analytics, chunk, [0] * len(chunk), offsets, TOPIC)
        stored.save(analytics, before, result.touched)
        for kind, key, payload in result.records:
            out[kind].append((key, orjson.loads(payload)))
        offset += len(chunk)
    assert offset == len(lines)
    return out


def random_sizes(total: int, seed: int) -> list[int]:
    rng, sizes = random.Random(seed), []
    while sum(sizes) < total:
        sizes.append(min(rng.choice([1, 7, 50, 400, 3000]), total - sum(sizes)))
    return sizes


@dataclass
class Log:
    lines: list[bytes]
    duplicates: list[int]  # indexes of the duplicated events


@pytest.fixture(scope="module")
def log() -> Log:
    """Six minutes with a hype and a raid, plus an event later than the watermark and duplicates that arrive
    while their pane is open but already straddles the watermark (the hardest case for the stored dedup
    keys)."""
    lines = scenario_log(STREAM, seconds=360, rate=40, scenarios=["hype@180", "raid@250"]).lines
    times = [parse_ts(orjson.loads(line)["ts"]) for line in lines]
    inserts: dict[int, tuple[bytes, bool]] = {}  # before lines[i]: (line, is a duplicate)
    for first in (3000, 9000):
        # an event in the last second of its pane, duplicated ~4 s of event time later
        original = next(i for i in range(first, len(lines)) if times[i] % 10 >= 9.0)
        later = next(i for i in range(original, len(lines)) if times[i] >= times[original] + 4)
        inserts[later] = (lines[original], True)
    inserts[6000] = (orjson.dumps({**orjson.loads(lines[100]), "event_id": "late-one"}), False)
    out, duplicates = [], []
    for i, line in enumerate(lines):
        if i in inserts:
            extra, duplicate = inserts[i]
            if duplicate:
                duplicates.append(len(out))
            out.append(extra)
        out.append(line)
    return Log(out, duplicates)


def test_batches_over_stored_state_give_the_embedded_engines_windows_and_moments(log: Log) -> None:
    lines = log.lines
    reference = engine_reference(lines)
    assert len(reference.windows) > 20 and {m.kind for m in reference.moments} >= {"raid", "chat_spike"}
    # random batch sizes, and batch boundaries right before the duplicates
    cuts = [0, *log.duplicates, len(lines)]
    at_boundaries = [b - a for a, b in itertools.pairwise(cuts)]
    for sizes in (random_sizes(len(lines), 1), random_sizes(len(lines), 2), at_boundaries):
        out = run_batches(lines, sizes)
        assert [w for _, w in out[WINDOW]] == [w.to_dict() for w in reference.windows]
        final = {key: moment for key, moment in out[MOMENT]}  # the last version of each episode
        assert sorted(final) == sorted(m.moment_id for m in reference.moments)
        assert [final[m.moment_id] for m in reference.moments] == [m.to_dict() for m in reference.moments]
        stats = [s for _, s in out[STATS]]
        assert sum(s["events"] for s in stats) == reference.events
        assert sum(s["duplicates"] for s in stats) == 2
        assert sum(s["late_events"] for s in stats) == 1
        assert stats[-1]["watermark"] == reference.watermark
        assert not out[DEAD_LETTER]


def test_the_live_window_is_the_open_one(log: Log) -> None:
    out = run_batches(log.lines[:2000], [2000])
    [(key, live)] = out[LIVE]
    assert live["final"] is False
    closed = [w for _, w in out[WINDOW]]
    assert key == live["window_start"] > closed[-1]["window_start"]
    WindowMetrics(**live)  # the record decodes as the writer decodes it


def test_closed_panes_are_stored_without_event_ids(log: Log) -> None:
    stored = StoredState()
    analytics = stored.load(AnalyticsConfig())
    result = process_records(analytics, log.lines[:8000], [0] * 8000, list(range(8000)), TOPIC)
    stored.save(analytics, set(), result.touched)
    panes = {start: decode_pane(blob) for start, blob in stored.panes.items()}
    assert set(panes) == set(analytics.panes)
    open_panes = {s for s in panes if s + analytics.slide > analytics.watermark}
    assert 1 <= len(open_panes) <= 3
    for start, pane in panes.items():
        assert pane.event_ids == (analytics.panes[start].event_ids if start in open_panes else set())
        assert pane.chatters == analytics.panes[start].chatters  # still needed by the windows to come
    # the core refers to no pane (they are found by their starts): it is small whatever the traffic
    assert b"Pane" not in (stored.core or b"")
    assert len(stored.core or b"") < 20_000 < sum(len(b) for b in stored.panes.values())


def test_invalid_records_become_dead_letters_with_their_source() -> None:
    valid = scenario_log(STREAM, seconds=30, rate=20).lines
    other_stream = orjson.dumps({**orjson.loads(valid[0]), "stream_id": "bravo", "event_id": "x1"})
    bad: list[bytes | None] = [
        b"{not json",
        b'{"type": "chat", "stream_id": "alpha"}',
        orjson.dumps({**orjson.loads(valid[1]), "ts": "yesterday"}),
        b"\xff\xfe binary",
        None,
        other_stream,
    ]
    values: list[bytes | None] = [*valid[:10], *bad, *valid[10:]]
    analytics = StreamAnalytics(STREAM)
    offsets = list(range(500, 500 + len(values)))
    result = process_records(analytics, values, [3] * len(values), offsets, TOPIC)
    letters = [(key, orjson.loads(payload)) for kind, key, payload in result.records if kind == DEAD_LETTER]
    assert [key for key, _ in letters] == [f"{TOPIC}:3:{510 + i}" for i in range(6)]
    reasons = [letter["reason"] for _, letter in letters]
    assert reasons[0].startswith("<event>: malformed JSON")
    assert "user_id" in reasons[1]
    assert reasons[2].startswith("ts:")
    assert "malformed JSON" in reasons[3]
    assert reasons[4] == "empty record (no value)"
    assert reasons[5] == "stream_id: 'bravo' is not the stream it was sent to ('alpha')"
    first = letters[0][1]
    assert (
        first["raw"] == "{not json"
        and first["raw_encoding"] == "utf-8"
        and first["source"] == f"{TOPIC}:3:510"
    )
    assert first["stream_id"] == STREAM and first["raw_bytes"] == 9 and not first["raw_truncated"]
    assert letters[3][1]["raw_encoding"] == "base64"
    assert base64.b64decode(letters[3][1]["raw"]) == b"\xff\xfe binary"
    assert letters[4][1]["raw"] is None
    assert result.events == len(valid) and result.dead_letters == 6
    # the valid events are processed exactly as without the invalid ones
    clean = StreamAnalytics(STREAM)
    process_records(clean, valid, [3] * len(valid), list(range(len(valid))), TOPIC)
    assert analytics.live_window() == clean.live_window()


def test_a_shards_log_replays_to_its_streams_and_stays_compact() -> None:
    """Three streams of one shard, batch by batch, one of them leaving halfway: replaying the stored log
    (appended batches and snapshots) after any batch gives the entries the shard recorded, and the streams
    decoded from it go on exactly like the live ones; the log stays within twice the live state."""
    logs = {s: scenario_log(s, seconds=360, rate=20, seed=n).lines for n, s in enumerate(("a", "b", "c"))}
    live, elements, snapshots = StoredShard(), list[bytes](), 0
    streams = {s: StreamAnalytics(s) for s in logs}
    for batch in range(10):
        for stream_id, analytics in list(streams.items()):
            lines = logs[stream_id][batch * 400 : (batch + 1) * 400]
            if stream_id == "c" and batch == 6:
                del streams[stream_id]
                live.drop(stream_id)
                continue
            before = set(analytics.panes)
            result = process_records(analytics, lines, [0] * len(lines), list(range(len(lines))), TOPIC)
            live.record(stream_id, state_changes(analytics, before, result.touched), batch)
        flushed = live.flush(factor=2, slack=0)
        assert flushed is not None
        position, element = flushed
        assert position == (0 if not position else len(elements))
        elements = [*elements[:position], element]  # a snapshot (position 0) replaces the log
        snapshots += not position

        replayed = StoredShard()
        for element in elements:
            replayed.apply(element)
        assert (replayed.blobs, replayed.seen_ms, replayed.log_bytes, replayed.elements) == (
            live.blobs,
            live.seen_ms,
            live.log_bytes,
            live.elements,
        )
        assert set(replayed.blobs) == set(streams) and all(CORE in b for b in replayed.blobs.values())
        entries = sum(len(blob) for blobs in live.blobs.values() for blob in blobs.values())
        assert live.log_bytes <= 2 * entries or not position

    assert snapshots >= 2 and live.flush() is None  # nothing pending: nothing to store
    decoded = replayed.decode()
    for stream_id, analytics in streams.items():
        rest = logs[stream_id][10 * 400 :]
        positions = list(range(len(rest)))
        ours = process_records(decoded[stream_id], rest, [0] * len(rest), positions, TOPIC)
        theirs = process_records(analytics, rest, [0] * len(rest), positions, TOPIC)
        assert ours.records == theirs.records and ours.windows > 0


def test_a_detector_stored_by_another_version_restarts_and_the_windows_stay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from telemetra.spark.state import encode_core

    analytics = StreamAnalytics(STREAM, AnalyticsConfig())
    analytics.max_ts = 1_790_000_000.0
    del analytics.detector.version  # as stored before the detector had a version
    old = analytics.detector
    restored = decode_core(encode_core(analytics), {})
    assert restored.detector is not old and restored.detector.version == restored.detector.STATE_VERSION
    assert restored.max_ts == analytics.max_ts  # the rest of the state is kept
    assert "moment detection restarts" in caplog.text
    caplog.clear()
    again = decode_core(encode_core(restored), {})  # the current version loads as it is
    assert again.detector.baselines.keys() == restored.detector.baselines.keys()
    assert "moment detection restarts" not in caplog.text
