"""The records of a pool's sources topic: what decodes, what is refused (with a reason on one line), and mock
traffic run live for one member stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import orjson
import pytest

from telemetra.contract import parse_ts, validate_event
from telemetra.producers.pool import (
    InvalidSource,
    LiveMockStats,
    MockSpec,
    PoolSource,
    decode_source,
    phase_of,
    run_live_mock,
)
from telemetra.producers.scenarios import DEFAULTS, Scenario, ScenarioKind
from telemetra.records import PoolTopics
from telemetra.sinks.base import RawEvent, SinkStats

MOCK = (
    b'{"type":"mock","mock":{"rate":50,"seed":7,"scenarios":'
    b'[{"kind":"hype","atSeconds":60,"durationSeconds":30,"factor":4.0}]}}'
)
TWITCH = b'{"type":"twitch","twitch":{"channel":"shroud"}}'
REPLAY = b'{"type":"replay","replay":{"url":"https://example.com/log.jsonl","speed":1.0}}'


def test_the_pool_has_a_sources_topic_next_to_its_others() -> None:
    topics = PoolTopics.of("eu-1")
    assert topics.sources == "telemetra.pool.eu-1.sources"
    assert (topics.events, topics.control, topics.dead_letter) == (
        "telemetra.pool.eu-1.events",
        "telemetra.pool.eu-1.control",
        "telemetra.pool.eu-1.dead-letter",
    )


def test_the_three_kinds_of_source_decode() -> None:
    mock = decode_source(MOCK)
    assert mock.type == "mock" and mock.mock is not None
    assert (mock.mock.rate, mock.mock.seed) == (50.0, 7)
    assert [s.scenario() for s in mock.mock.scenarios] == [Scenario(ScenarioKind.HYPE, 60.0, 30.0, 4.0)]
    assert mock.spec is mock.mock

    twitch = decode_source(TWITCH)
    assert twitch.twitch is not None and twitch.twitch.channel == "shroud"
    replay = decode_source(REPLAY.decode())  # text works too
    assert replay.replay is not None
    assert (replay.replay.url, replay.replay.speed) == ("https://example.com/log.jsonl", 1.0)


def test_defaults_are_the_crds() -> None:
    source = decode_source(b'{"type":"mock","mock":{}}')
    assert source.mock == MockSpec(rate=50.0, seed=7, scenarios=())
    replay = decode_source(b'{"type":"replay","replay":{"url":"http://h/x.jsonl"}}')
    assert replay.replay is not None and replay.replay.speed == 1.0
    (scenario,) = decode_source(
        b'{"type":"mock","mock":{"scenarios":[{"kind":"gift_bomb","atSeconds":5}]}}'
    ).mock.scenarios  # type: ignore[union-attr]
    duration, factor = DEFAULTS[ScenarioKind.GIFT_BOMB]
    assert scenario.scenario() == Scenario(ScenarioKind.GIFT_BOMB, 5.0, duration, factor)


def test_unknown_fields_are_ignored_and_do_not_make_a_record_different() -> None:
    noisy = orjson.dumps(
        {
            "type": "twitch",
            "twitch": {"channel": "shroud", "newOption": True},
            "mirror": {"anything": 1},
            "comment": "from a newer operator",
        }
    )
    assert decode_source(noisy) == decode_source(TWITCH)


@pytest.mark.parametrize("value", [MOCK, TWITCH, REPLAY, b'{"type":"mock","mock":{}}'])
def test_to_json_is_read_back_equal(value: bytes) -> None:
    source = decode_source(value)
    assert decode_source(source.to_json()) == source
    assert orjson.loads(source.to_json())["type"] == source.type


def test_log_lines_show_a_replay_url_without_its_query() -> None:
    signed = decode_source(
        b'{"type":"replay","replay":{"url":"https://b.example/log.jsonl?X-Amz-Signature=s3cr3t#x","speed":2}}'
    )
    assert signed.describe() == {
        "type": "replay",
        "replay": {"url": "https://b.example/log.jsonl?…", "speed": 2.0},
    }
    assert b"s3cr3t" in signed.to_json()  # the record itself is whole
    assert decode_source(REPLAY).describe()["replay"]["url"] == "https://example.com/log.jsonl"


def test_equal_records_make_equal_sources_and_a_change_does_not() -> None:
    assert decode_source(MOCK) == decode_source(MOCK.replace(b"4.0", b"4"))  # same number, other spelling
    assert decode_source(MOCK) != decode_source(MOCK.replace(b'"seed":7', b'"seed":8'))
    assert decode_source(MOCK) != decode_source(MOCK.replace(b'"rate":50', b'"rate":51'))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "Invalid JSON"),
        (b"{not json", "Invalid JSON"),
        (b'["mock"]', "Input should be an object"),
        (b'{"mock":{}}', "type: Field required"),
        (b'{"type":"file"}', "type: Input should be 'mock', 'twitch' or 'replay'"),
        (b'{"type":"replay","mock":{}}', "type is 'replay' but replay is not set"),
        (b'{"type":"mock","mock":{},"twitch":{"channel":"a"}}', "set exactly one of mock, twitch and replay"),
        (b'{"type":"mock","mock":{"rate":0}}', "mock.rate: Input should be greater than 0"),
        (b'{"type":"mock","mock":{"rate":"50"}}', "mock.rate: Input should be a valid number"),
        (b'{"type":"mock","mock":{"seed":-1}}', "mock.seed: Input should be greater than or equal to 0"),
        (
            b'{"type":"mock","mock":{"scenarios":[{"kind":"boom","atSeconds":1}]}}',
            "mock.scenarios.0.kind: Input should be 'hype', 'raid', 'surge', 'gift_bomb'",
        ),
        (
            b'{"type":"mock","mock":{"scenarios":[{"kind":"raid"}]}}',
            "mock.scenarios.0.atSeconds: Field required",
        ),
        (b'{"type":"twitch","twitch":{"channel":"no spaces"}}', "twitch.channel: String should match"),
        (
            b'{"type":"twitch","twitch":{"channel":"a","credentialsSecret":{"name":"helix"}}}',
            "twitch: Helix credentials (credentialsSecret) are not supported by the pool producer",
        ),
        (b'{"type":"replay","replay":{"url":"ftp://h/x"}}', "replay.url: String should match"),
        (
            b'{"type":"replay","replay":{"configMap":{"name":"log"}}}',
            "replay: a replay from a ConfigMap (configMap) is not supported by the pool producer",
        ),
        (
            b'{"type":"replay","replay":{"url":"http://h/x","speed":-1}}',
            "replay.speed: Input should be greater",
        ),
    ],
)
def test_bad_records_are_refused_with_a_one_line_reason(value: bytes, reason: str) -> None:
    with pytest.raises(InvalidSource) as raised:
        decode_source(value)
    assert reason in raised.value.reason
    assert "\n" not in raised.value.reason
    assert str(raised.value) == raised.value.reason


def test_every_problem_of_a_record_is_named() -> None:
    with pytest.raises(InvalidSource) as raised:
        decode_source(b'{"type":"mock","mock":{"rate":-5,"seed":"x"}}')
    assert raised.value.reason.count(";") == 1
    assert "mock.rate" in raised.value.reason and "mock.seed" in raised.value.reason


def test_a_source_is_frozen() -> None:
    source = decode_source(MOCK)
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic's frozen-instance error
        source.type = "twitch"  # type: ignore[misc]
    assert isinstance(source, PoolSource)


def test_phases_spread_streams_over_the_second() -> None:
    phases = [phase_of(f"stream-{i}") for i in range(1000)]
    assert all(0 <= phase < 1 for phase in phases)
    assert phase_of("stream-1") == phase_of("stream-1")
    assert len({int(phase * 10) for phase in phases}) == 10  # every tenth of the second is used


# -- live mock -----------------------------------------------------------------------------------------------
class Collecting:
    def __init__(self) -> None:
        self.stats = SinkStats()
        self.batches: list[list[RawEvent]] = []

    async def start(self) -> None:
        return None

    async def send(self, events: Sequence[RawEvent]) -> None:
        self.batches.append(list(events))

    async def close(self) -> None:
        return None


async def test_live_mock_sends_each_second_when_due_and_stops_when_told() -> None:
    sink, stop, stats = Collecting(), asyncio.Event(), LiveMockStats()
    start = float(int(time.time())) - 3  # three seconds overdue: they go out at once, then one a second
    spec = MockSpec(rate=40, seed=3)
    task = asyncio.create_task(run_live_mock("live-a", spec, sink, stop, stats=stats, start=start))
    async with asyncio.timeout(10):
        while stats.ticks < 5:  # noqa: ASYNC110 - polling the stats is the point
            await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(task, 5) is stats
    assert stats.ticks == len(sink.batches) and stats.events == sum(map(len, sink.batches))
    assert stats.lag < 1.0
    events = [event for batch in sink.batches for event in batch]
    assert {event["stream_id"] for event in events} == {"live-a"}
    assert (events[0]["type"], events[0]["kind"]) == ("stream_meta", "start")
    for event in events[:50]:
        validate_event(event)
    for second, batch in enumerate(sink.batches):  # the batch of second t holds events of [t, t+1)
        assert all(start + second <= parse_ts(event["ts"]) < start + second + 1 for event in batch)
    # the overdue seconds went out together; the later ones no sooner than they were due
    assert stats.ticks <= 3 + (time.time() - start - 3) + 1


async def test_live_mock_is_the_simulator_of_its_seed() -> None:
    async def first_seconds(seed: int) -> list[RawEvent]:
        sink, stop, stats = Collecting(), asyncio.Event(), LiveMockStats()
        task = asyncio.create_task(
            run_live_mock("s", MockSpec(rate=30, seed=seed), sink, stop, stats=stats, start=1_790_000_000.0)
        )
        async with asyncio.timeout(10):
            while stats.ticks < 3:  # noqa: ASYNC110 - polling the stats is the point
                await asyncio.sleep(0.01)
        stop.set()
        await task
        return [event for batch in sink.batches[:3] for event in batch]

    assert await first_seconds(1) == await first_seconds(1)
    assert await first_seconds(1) != await first_seconds(2)
