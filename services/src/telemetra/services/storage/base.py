"""The store interface: closed window metrics, moments and dead letters, upserted by their natural keys, what
each stream is (title, category, window geometry), and the history queries the API needs. Times cross this
interface as epoch seconds (UTC)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol, get_args

from telemetra.records import DeadLetter, Moment, StreamDescription, WindowMetrics

# A stream's window geometry until its engine describes it (streams stored before migration 2 included): the
# defaults of the engine's AnalyticsConfig.
DEFAULT_WINDOW_SECONDS: Final = 60
DEFAULT_SLIDE_SECONDS: Final = 10
META_FIELDS: Final = frozenset({"title", "category"})  # what an admin may set on a stream
# The orders of the stream listing: by id, or by a key, greatest first, the id breaking ties. The keys are the
# newest closed window's viewers and chat rate (a stream without one last) and the last report of the engine.
StreamSort = Literal["stream_id", "-viewers", "-chat_rate", "-last_activity"]
STREAM_SORTS: Final[tuple[StreamSort, ...]] = get_args(StreamSort)


class StoreUnavailable(RuntimeError):
    """The store could not be reached (connection refused, timed out, dropped). The API answers 503 and the
    sink buffers; programming errors (bad SQL) are not wrapped, so they surface as bugs."""


@dataclass(frozen=True, slots=True)
class StreamRecord:
    stream_id: str
    title: str | None
    category: str | None
    first_seen: float
    last_activity: float  # wall-clock time the engine last reported the stream
    latest_window: WindowMetrics | None
    latest_moment: Moment | None
    window_seconds: int = DEFAULT_WINDOW_SECONDS  # as last described by the engine, else the defaults
    slide_seconds: int = DEFAULT_SLIDE_SECONDS
    dead_letters: int = 0  # dead letters stored for the stream


@dataclass(frozen=True, slots=True)
class WindowsPage:
    items: bytes  # a JSON array of window records (the API's wire format)
    count: int  # windows in ``items``
    more: bool  # windows follow the last one
    last_start: float | None  # the last window's start (epoch seconds), the next page's position


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    """A dead letter as stored: the letter (``stream_id`` None when unknown) and when it was first stored.
    Its key is ``letter.letter_id``."""

    letter: DeadLetter
    stored_at: float  # epoch seconds; a replay of the same letter keeps the first time


@dataclass(frozen=True, slots=True)
class MomentPosition:
    """Keyset position in the newest-first moment listing."""

    start: float
    moment_id: str


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """Keyset position in a stream listing: the last listed stream's sort key (None when sorted by id; epoch
    seconds for ``-last_activity``) and its id."""

    key: float | None
    stream_id: str


@dataclass(frozen=True, slots=True)
class StreamQuery:
    """A page of the stream listing: the streams matching ``search`` (a case-insensitive substring of the id,
    title or category; "" matches all) and ``live`` (reported at or after ``live_since``, or not), in ``sort``
    order, strictly after ``after``; with ``count``, also how many match, and how many of those are live."""

    sort: StreamSort = "stream_id"
    search: str = ""
    live: bool | None = None
    live_since: float = 0.0
    after: StreamPosition | None = None
    limit: int = 100
    count: bool = False


@dataclass(frozen=True, slots=True)
class HypeInputs:
    """What the cross-channel view ranks a live stream by, as stored. "Now" is the end of the stream's newest
    closed window (its own event time, so replays rank as they did live): ``chat_rate`` is that window's,
    ``baseline_chat_rate`` the mean of its windows that started in the baseline period before the recent
    minutes (None without any), ``moments`` and ``best_rank`` those that were under way in the recent minutes."""

    stream_id: str
    title: str | None
    category: str | None
    viewers: int | None
    chat_rate: float | None
    baseline_chat_rate: float | None
    moments: int
    best_rank: float | None
    last_activity: float


@dataclass(frozen=True, slots=True)
class StreamsPage:
    streams: list[StreamRecord]
    next: StreamPosition | None  # where the next page starts; None on the last page
    total: int | None = None  # with ``StreamQuery.count``
    live_total: int | None = None


class Store(Protocol):
    """Implemented by :class:`~telemetra.services.storage.sqlite.SqliteStore` and
    :class:`~telemetra.services.storage.postgres.PostgresStore`. Every method may raise
    :class:`StoreUnavailable`; the stores reconnect on their own on a later call."""

    name: str  # "sqlite" or "postgres", for logs and /ready

    async def start(self) -> None:
        """Connect and apply pending migrations; raises StoreUnavailable if the store cannot be reached (a
        later call retries)."""

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def upsert_windows(self, windows: Sequence[WindowMetrics], seen_at: float) -> None: ...

    async def upsert_moments(self, moments: Sequence[Moment], seen_at: float) -> None: ...

    async def list_streams(self, query: StreamQuery) -> StreamsPage:
        """A page of streams (keyset pagination: no scan of the pages before it)."""

    async def register_streams(self, stream_ids: Sequence[str], seen_at: float) -> None:
        """Make streams known before their first window closes (their first provisional window is published),
        so the listing has them at once; a known stream is left as it is."""

    async def get_stream(self, stream_id: str) -> StreamRecord | None: ...

    async def windows(
        self, stream_id: str, *, start: float, end: float, align: int, limit: int
    ) -> list[WindowMetrics]:
        """Windows with ``start <= window_start < end`` whose start is a multiple of ``align`` seconds
        (``align`` 0: all), oldest first, at most ``limit``."""

    async def windows_page(
        self, stream_id: str, *, start: float, end: float, align: int, limit: int
    ) -> WindowsPage:
        """What :meth:`windows` selects, as the API sends it: at most ``limit`` windows already encoded as
        a JSON array, whether there are more, and the last one's start."""

    async def moments(
        self,
        stream_id: str,
        *,
        kinds: Sequence[str],
        start: float,
        end: float,
        before: MomentPosition | None,
        limit: int,
    ) -> list[Moment]:
        """Moments overlapping ``[start, end)`` (any kind when ``kinds`` is empty), newest first, strictly
        after ``before`` in that order."""

    async def recent_moments(self, stream_id: str, limit: int) -> list[Moment]: ...

    async def hype_inputs(
        self, live_since: float, recent_seconds: float, baseline_seconds: float
    ) -> list[HypeInputs]:
        """The streams reported at or after ``live_since``, with what the cross-channel view ranks them by over
        their last ``recent_seconds`` against the ``baseline_seconds`` before (:class:`HypeInputs`)."""
        ...

    async def set_stream_meta(
        self,
        stream_id: str,
        title: str | None,
        category: str | None,
        *,
        fields: Collection[str] = META_FIELDS,
    ) -> bool:
        """Set the title and category, or only those named in ``fields`` (the others keep their stored value;
        ``None`` clears one); False when the stream is unknown."""

    async def describe_stream(self, description: StreamDescription) -> bool:
        """Record what the engine knows of a stream: its window geometry always, its title and category only
        where the description has them (None keeps the stored value, so an engine that has seen no
        ``stream_meta`` event does not erase a title set by an admin). False when the stream is unknown:
        describing never creates a stream (window and moment upserts do)."""

    async def upsert_dead_letters(self, letters: Sequence[DeadLetter], seen_at: float) -> None:
        """Store dead letters by ``letter_id``: a replay rewrites the same row and keeps its first
        ``stored_at`` (``seen_at`` of the first write). Never creates or touches a stream."""

    async def dead_letters(self, stream_id: str | None, *, limit: int) -> list[StoredDeadLetter]:
        """Stored dead letters of ``stream_id`` (``None``: of every stream; ``""``: those of no known stream),
        newest first (``stored_at``, then ``letter_id``, descending), at most ``limit``."""

    async def count_dead_letters(self) -> dict[str, int]:
        """Stored dead letters per stream id (``""`` for those of no known stream); streams without any are
        absent."""

    async def delete_stream(self, stream_id: str) -> bool:
        """Forget a stream's history (windows, moments, dead letters); False when there was nothing to
        forget."""
