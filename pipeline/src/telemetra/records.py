"""The records Telemetra writes and the names it writes them under: one definition of each, no I/O.

* the time format: RFC 3339 UTC with milliseconds, the only time format on the wire;
* topic naming: a stream's events topic and its dead-letter topic; a pool's events, control, sources and
  dead-letter topics;
* the output records: :class:`WindowMetrics` (one window of one stream), :class:`Moment` (one episode),
  :class:`DeadLetter` (an input that broke the contract, with why and where from) and
  :class:`StreamDescription` (what a stream is: title, category and window geometry);
* their codecs: ``to_dict``/``from_dict`` (JSON-ready data) and :func:`to_json`.

Every mode (the embedded engine, the Spark job, the API, the stores) reads and writes these, so the same input
gives the same record everywhere. Field names are part of the public contract.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

# ------------------------------------------------------------------------------------------- time format


def format_ts(epoch_seconds: float) -> str:
    """``1764259200.5`` → ``"2025-11-27T16:00:00.500Z"`` (millisecond precision)."""
    return (
        datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def format_bound(epoch_seconds: float) -> str:
    """A window bound, aligned to whole seconds: ``"2025-11-27T16:00:00Z"``."""
    return format_ts(epoch_seconds).replace(".000Z", "Z")


def parse_ts(text: str) -> float:
    """RFC 3339 with offset → epoch seconds. Naive timestamps are rejected."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return moment.timestamp()


# ------------------------------------------------------------------------------------------------ topics

EVENTS_TOPIC: Final = "telemetra.{stream_id}.events"
DEAD_LETTER_TOPIC: Final = "telemetra.{stream_id}.dead-letter"


def events_topic(stream_id: str) -> str:
    """Where a stream's events are produced (keyed by stream id)."""
    return EVENTS_TOPIC.format(stream_id=stream_id)


def dead_letter_topic(stream_id: str) -> str:
    """Where the Spark job sends a stream's dead letters (compacted by their source)."""
    return DEAD_LETTER_TOPIC.format(stream_id=stream_id)


POOL_NAME_PATTERN: Final = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"  # a DNS label, short enough for pod names


@dataclass(frozen=True, slots=True)
class PoolTopics:
    """A processing pool's topics. One job serves every stream of the pool, and one producer process
    (``telemetra ingest pool``) runs the sources of its streams:

    * ``events``: the events of all its streams, keyed by stream id (a stream stays on one partition);
    * ``control``: compacted, keyed by stream id: the stream's analytics config (JSON), or a tombstone when
      the stream leaves the pool (its state is then dropped); read by the Spark job;
    * ``sources``: compacted, keyed by stream id: the stream's source, the TelemetraStream's ``spec.source``
      as camelCase JSON (``{"type": "mock", "mock": {"rate": 50, …}}``), or a tombstone when the stream
      leaves the pool or is suspended; read by the pool's producer
      (:mod:`telemetra.producers.pool` decodes it);
    * ``dead_letter``: what the job could not process, compacted by source position."""

    events: str
    control: str
    dead_letter: str
    sources: str

    @classmethod
    def of(cls, pool: str) -> PoolTopics:
        prefix = f"telemetra.pool.{pool}"
        return cls(f"{prefix}.events", f"{prefix}.control", f"{prefix}.dead-letter", f"{prefix}.sources")


# ------------------------------------------------------------------------------------------ output records


@dataclass(frozen=True, slots=True)
class WindowMetrics:
    """One stream's metrics over one window."""

    stream_id: str
    window_start: str
    window_end: str
    messages: int
    chat_rate: float
    unique_chatters: int
    top_emotes: list[dict[str, Any]]
    sentiment: float | None
    positive: int
    neutral: int
    negative: int
    viewers: int | None
    viewers_max: int | None
    revenue_usd: float
    transactions: dict[str, int]
    late_events: int
    bits: int
    emote_total: int
    final: bool  # False for the provisional view of a window that is still open

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowMetrics:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Moment:
    """One episode, re-emitted with the same id while it grows."""

    moment_id: str
    stream_id: str
    kind: str
    start: str
    end: str
    metric: str
    value: float
    baseline: float
    score: float
    threshold: float
    description: str
    peak_at: str
    detected_at: str  # event time at which the episode was first reported
    ongoing: bool
    # How much it stands out, to show the best first (higher is better; analytics.moments.moment_rank):
    # unusual × large × how many chatters joined in. Optional: records from before it have none.
    rank: float | None = None
    # Where it is in the broadcast (analytics.vod): whole seconds from the stream's start (its stream_meta
    # start event, else its first event), and a link to that point of the Twitch VOD when its id is known.
    # Optional: records from before them have neither.
    offset_seconds: int | None = None
    vod_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Moment:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class StreamDescription:
    """What a stream is, as its engine knows it: the broadcast's title and category (from ``stream_meta``
    events) and the geometry of its windows, which roll-ups and the dashboard need."""

    stream_id: str
    title: str | None
    category: str | None
    window_seconds: int
    slide_seconds: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StreamDescription:
        return cls(**data)


RAW_LIMIT: Final = 128 * 1024  # bytes of an invalid input kept in its dead letter (twice the event limit)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An input that broke the contract, kept with its reason and position so nothing is lost silently.

    ``source`` is where it was read: ``topic:partition:offset`` from Kafka, ``bus:n`` from the embedded
    bus, ``file:line`` from a replayed file. ``raw`` is the input as UTF-8 text, or base64 when it is not text.
    """

    stream_id: str | None  # the stream it was sent to, when known
    reason: str
    source: str
    raw: str | None
    raw_encoding: str  # "utf-8" or "base64"
    raw_bytes: int
    raw_truncated: bool

    @classmethod
    def of(cls, reason: str, raw: bytes | str | None, source: str, stream_id: str | None) -> DeadLetter:
        if raw is None:
            return cls(stream_id, reason, source, None, "utf-8", 0, False)
        data = raw.encode(errors="surrogateescape") if isinstance(raw, str) else bytes(raw)
        kept = data[:RAW_LIMIT]
        try:
            text, encoding = kept.decode(), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(kept).decode(), "base64"
        return cls(stream_id, reason, source, text, encoding, len(data), len(data) > RAW_LIMIT)

    @property
    def letter_id(self) -> str:
        """Stable across replays of the same input at the same position: stores upsert by it."""
        key = f"{self.stream_id}|{self.source}|{self.raw}"
        return hashlib.sha256(key.encode(errors="surrogateescape")).hexdigest()[:24]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeadLetter:
        return cls(**data)


def to_json(record: WindowMetrics | Moment | StreamDescription | DeadLetter) -> str:
    """``to_dict`` as JSON; orjson encodes the dataclass itself, the same JSON 10× faster than through
    ``asdict`` (which deep-copies every field: ~25 µs a window; the Spark job encodes thousands a batch)."""
    return orjson.dumps(record).decode()
