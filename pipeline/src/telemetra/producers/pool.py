"""A pool's member sources: the records of a pool's ``sources`` topic, and mock traffic that runs forever.

A pool has one producer process (``telemetra ingest pool``) for all its streams. It learns what to run from the
pool's compacted ``sources`` topic (:attr:`telemetra.records.PoolTopics.sources`): keyed by stream id, each
value is the stream's source, the TelemetraStream's ``spec.source`` as camelCase JSON; a tombstone (null
value) means the stream left the pool or is suspended::

    {"type": "mock", "mock": {"rate": 50, "seed": 7,
                              "scenarios": [{"kind": "hype", "atSeconds": 60, "durationSeconds": 30, "factor": 4}]}}
    {"type": "twitch", "twitch": {"channel": "shroud"}}
    {"type": "replay", "replay": {"url": "https://example.com/log.jsonl", "speed": 1.0}}

:func:`decode_source` turns a value into a :class:`PoolSource` or raises :class:`InvalidSource` saying, on one
line, what is wrong. Unknown fields are ignored (a newer operator may add some); what the shared producer cannot
run is refused rather than half-run: Twitch Helix credentials (``twitch.credentialsSecret``) and replays from
a ConfigMap (``replay.configMap``) need a producer of their own, and the operator gives them one.
:meth:`PoolSource.to_json` writes a record the decoder reads back equal.

:func:`run_live_mock` is one stream's mock traffic (:class:`~telemetra.producers.mock.StreamSimulator`) in
real time, for as long as it is wanted: the events of simulated second ``t`` are sent at second ``t`` of the
run, plus a phase of the stream's own (so that a thousand streams do not all tick at the same instant).
Scenario times count from the moment it starts.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from telemetra.producers.mock import MockConfig, StreamSimulator
from telemetra.producers.scenarios import DEFAULTS, Scenario, ScenarioKind
from telemetra.sinks.base import EventSink

SourceType = Literal["mock", "twitch", "replay"]
MAX_RATE = 100_000.0  # events/s of one mock stream (the CRD's bound)


class InvalidSource(ValueError):
    """A sources record that cannot be run; ``reason`` says why, on one line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",  # a newer operator may add fields
        frozen=True,
        strict=True,  # a wire format: "50" is not a rate
        hide_input_in_errors=True,
    )


class MockScenario(_Model):
    """An episode injected into mock traffic, ``at_seconds`` after the stream's traffic starts."""

    kind: ScenarioKind
    at_seconds: Annotated[int, Field(ge=0, le=31_536_000)]
    duration_seconds: Annotated[int, Field(ge=1, le=86_400)] | None = None  # default: the kind's own
    factor: Annotated[float, Field(ge=-1000, le=1000, allow_inf_nan=False)] | None = (
        None  # default: the kind's
    )

    def scenario(self) -> Scenario:
        duration, factor = DEFAULTS[self.kind]
        return Scenario(
            kind=self.kind,
            at=float(self.at_seconds),
            duration=float(self.duration_seconds) if self.duration_seconds is not None else duration,
            factor=self.factor if self.factor is not None else factor,
        )


class MockSpec(_Model):
    """Synthetic traffic (``telemetra produce``): mean events per second, seed and scenarios."""

    rate: Annotated[float, Field(gt=0, le=MAX_RATE, allow_inf_nan=False)] = 50.0
    seed: Annotated[int, Field(ge=0, le=2_147_483_647)] = 7
    scenarios: Annotated[tuple[MockScenario, ...], Field(max_length=50)] = ()


class TwitchSpec(_Model):
    """A Twitch channel's chat, read anonymously."""

    channel: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,25}$")]

    @model_validator(mode="before")
    @classmethod
    def _no_credentials(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("credentialsSecret") is not None:
            raise ValueError(
                "Helix credentials (credentialsSecret) are not supported by the pool producer; "
                "such a stream needs a producer of its own"
            )
        return data


class ReplaySpec(_Model):
    """A recorded JSON Lines event log, downloaded from ``url``, replayed at ``speed`` (0: flat out)."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=2048)]
    speed: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] = 1.0

    @model_validator(mode="before")
    @classmethod
    def _no_config_map(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("configMap") is not None:
            raise ValueError(
                "a replay from a ConfigMap (configMap) is not supported by the pool producer; "
                "use a url, or a producer of its own"
            )
        return data


class PoolSource(_Model):
    """One stream's source: exactly one of ``mock``, ``twitch`` and ``replay``, the one ``type`` names."""

    type: SourceType
    mock: MockSpec | None = None
    twitch: TwitchSpec | None = None
    replay: ReplaySpec | None = None

    @model_validator(mode="after")
    def _exactly_the_named_one(self) -> PoolSource:
        present = [name for name in ("mock", "twitch", "replay") if getattr(self, name) is not None]
        if self.type not in present:
            raise ValueError(f"type is {self.type!r} but {self.type} is not set")
        if len(present) > 1:
            raise ValueError(f"set exactly one of mock, twitch and replay, not {' and '.join(present)}")
        return self

    @property
    def spec(self) -> MockSpec | TwitchSpec | ReplaySpec:
        spec = getattr(self, self.type)
        assert isinstance(spec, MockSpec | TwitchSpec | ReplaySpec)
        return spec

    def describe(self) -> dict[str, Any]:
        """What the source is, for log lines: the record, but a replay URL without its query (a pre-signed
        URL carries its credentials there)."""
        described = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if self.replay is not None:
            parts = urlsplit(self.replay.url)
            if parts.query or parts.fragment:
                described["replay"]["url"] = urlunsplit(parts._replace(query="…", fragment=""))
        return described

    def to_json(self) -> bytes:
        """The record's value, as the operator writes it."""
        return orjson.dumps(self.model_dump(mode="json", by_alias=True, exclude_none=True))


def decode_source(value: bytes | str) -> PoolSource:
    """A sources record's value → :class:`PoolSource`; :class:`InvalidSource` names every problem."""
    try:
        return PoolSource.model_validate_json(value)
    except ValidationError as error:
        raise InvalidSource(_summary(error)) from None


def _summary(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


# -- mock traffic, live ------------------------------------------------------------------------------------
@dataclass
class LiveMockStats:
    """Counters of one :func:`run_live_mock`, readable while it runs."""

    ticks: int = 0  # simulated seconds sent
    events: int = 0
    lag: float = (
        0.0  # how late the last second went out, in seconds (it grows when the process cannot keep up)
    )


def phase_of(stream_id: str) -> float:
    """Where in each second a stream sends its events: a fraction in [0, 1) fixed by the stream id."""
    return (zlib.crc32(stream_id.encode()) % 1000) / 1000


async def run_live_mock(
    stream_id: str,
    spec: MockSpec,
    sink: EventSink,
    stop: asyncio.Event,
    *,
    stats: LiveMockStats | None = None,
    start: float | None = None,
) -> LiveMockStats:
    """Send ``stream_id``'s mock traffic to ``sink`` in real time until ``stop`` is set (seen within a second;
    cancelling the task is as clean: what was sent was sent whole).

    The caller owns the sink (started before, closed after). ``start`` (whole epoch seconds, default: the
    current second) is the event time of simulated second 0.
    """
    stats = LiveMockStats() if stats is None else stats
    start = float(int(time.time())) if start is None else start
    config = MockConfig(
        streams=[stream_id],
        rate=spec.rate,
        seed=spec.seed,
        start=start,
        scenarios=[scenario.scenario() for scenario in spec.scenarios],
    )
    simulator = StreamSimulator(stream_id, config)
    loop = asyncio.get_running_loop()
    origin = loop.time() - (time.time() - start)  # loop time at event time ``start``
    offset = phase_of(stream_id)
    second = 0
    while not stop.is_set():
        due = origin + second + offset
        delay = due - loop.time()
        # A plain sleep (a timer, where waiting on ``stop`` would cost a task per second per stream): ``stop``
        # is seen within a second; cancel the task to end it at once.
        await asyncio.sleep(max(0.0, delay))  # behind time (delay ≤ 0): catch up, letting the others run too
        if stop.is_set():
            break
        stats.lag = max(0.0, -delay)
        events = [event for _, event in simulator.tick(second, start)]
        await sink.send(events)
        stats.ticks, stats.events = stats.ticks + 1, stats.events + len(events)
        second += 1
    return stats
