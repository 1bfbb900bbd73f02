"""A fast path for the contract's two common shapes: chat messages and viewer samples, as producers write them.

Validating an event with the pydantic models costs ~4–5 µs, most of the per-event work of a pool's job
(``bench/results/pool.md``). Nearly every event on a busy topic is a chat message or a viewers sample with the
same few fields, a UTC timestamp in milliseconds and plain values. :func:`parse_common` parses the JSON with
orjson and accepts such an event only when simple checks on the parsed values *prove* that the models would
accept it (every constraint of the model checked: keys, exact types, lengths, pattern, bounds); anything else,
valid or not, returns None and goes through :func:`~telemetra.contract.validation.parse_event`. So what is
accepted, what is rejected (and why) and what an accepted event holds are exactly the models': the tests
compare the two over the mock traffic and mutations of it.

A chat message comes back as its fields (:data:`ChatFields`; building the model would cost what the fast path
saves), a viewers sample as the :class:`~telemetra.contract.models.ViewersEvent` the model would build.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from telemetra.contract.models import MAX_CHAT_TEXT, MAX_EVENT_BYTES, ViewersEvent

# A subset of the contract's RFC 3339 pattern: ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, milliseconds) in ASCII digits
# (the model's ``\d`` would also take other scripts' digits: those go the slow way).
_SECOND = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")
_MICROS = {f"{ms:03d}": ms * 1000 for ms in range(1000)}  # ".mmm" → microseconds
# The contract's stream id pattern, whole string: the model's regex engine has no "$ before a final newline".
_STREAM_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_CACHE_LIMIT = 100_000  # entries per cache below; cleared when full (a pool has thousands of streams)

_CHAT_KEYS = frozenset(
    {"event_id", "stream_id", "type", "ts", "user_id", "username", "text", "emotes", "badges", "bits"}
)
_VIEWERS_REQUIRED = frozenset({"event_id", "stream_id", "type", "ts", "viewers"})
_VIEWERS_KEYS = _VIEWERS_REQUIRED | {"chatters", "followers"}

_seconds: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM:SS" → epoch seconds (valid times only)
_stream_ids: set[str] = set()  # stream ids that match the pattern

# A valid chat message's fields as far as the analytics read them: stream id, time (epoch seconds, exactly
# ``ChatEvent.ts.timestamp()``), event id, user id, text, emotes (None: absent). A plain tuple: cheaper to
# build than a named one, and this is built for most events.
ChatFields = tuple[str, float, str, str, str, list[str] | None]


def parse_common(raw: bytes) -> ChatFields | ViewersEvent | None:
    """The event, if ``raw`` is a chat message or viewers sample that the fast path can prove valid; None
    otherwise (then only :func:`~telemetra.contract.validation.parse_event` can tell)."""
    if len(raw) > MAX_EVENT_BYTES:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict:
        return None
    kind = data.get("type")
    if kind == "chat":
        return _chat(data)
    if kind == "viewers":
        return _viewers(data)
    return None


def _chat(data: dict[str, Any]) -> ChatFields | None:
    """The chat model's constraints, field by field, inlined: this runs for most events."""
    if not _CHAT_KEYS.issuperset(data):
        return None
    try:
        event_id, stream_id, ts = data["event_id"], data["stream_id"], data["ts"]
        user_id, username, text = data["user_id"], data["username"], data["text"]
    except KeyError:  # a required field is missing
        return None
    if type(event_id) is not str or type(user_id) is not str or type(username) is not str:
        return None
    if type(stream_id) is not str or (stream_id not in _stream_ids and not _new_stream_id(stream_id)):
        return None
    if type(text) is not str or not (0 < len(text) <= MAX_CHAT_TEXT and 0 < len(event_id) <= 128):
        return None
    if not (0 < len(user_id) <= 64 and 0 < len(username) <= 64):
        return None
    emotes = data.get("emotes")
    if emotes is not None:
        if type(emotes) is not list or len(emotes) > MAX_CHAT_TEXT:
            return None
        for emote in emotes:
            if type(emote) is not str or not 0 < len(emote) <= 64:
                return None
    if ("badges" in data and not _badges(data["badges"])) or ("bits" in data and not _count(data["bits"])):
        return None
    seconds = _timestamp(ts)
    if seconds is None:
        return None
    return stream_id, seconds, event_id, user_id, text, emotes


def _viewers(data: dict[str, Any]) -> ViewersEvent | None:
    if not _VIEWERS_KEYS.issuperset(data) or not _VIEWERS_REQUIRED.issubset(data):
        return None
    if not (
        _text(data["event_id"], 1, 128) and _new_stream_id(data["stream_id"]) and _count(data["viewers"])
    ):
        return None
    if not all(data.get(name) is None or _count(data[name]) for name in ("chatters", "followers")):
        return None
    if _timestamp(data["ts"]) is None:
        return None
    # The model's own steps for the time (datetime.fromisoformat, then to UTC); its fields set are the keys.
    ts = datetime.fromisoformat(data["ts"]).astimezone(UTC)
    return ViewersEvent.model_construct(set(data), **{**data, "ts": ts})


def _text(value: Any, shortest: int, longest: int) -> bool:
    return type(value) is str and shortest <= len(value) <= longest


def _badges(value: Any) -> bool:
    """At most 32 strings of at most 64 characters (a chat message's badges)."""
    return type(value) is list and len(value) <= 32 and all(_text(item, 0, 64) for item in value)


def _count(value: Any) -> bool:
    """A non-negative JSON integer (a bool is not one, nor is 1.0, for the strict models)."""
    return type(value) is int and value >= 0


def _new_stream_id(value: Any) -> bool:
    """Whether ``value`` is a valid stream id; remembered when it is."""
    if type(value) is not str or not _STREAM_ID.fullmatch(value):
        return False
    if len(_stream_ids) >= _CACHE_LIMIT:
        _stream_ids.clear()
    _stream_ids.add(value)
    return True


def _timestamp(value: Any) -> float | None:
    """Epoch seconds of a ``YYYY-MM-DDTHH:MM:SS.mmmZ`` time, exactly as ``datetime.timestamp()`` computes them
    (whole microseconds over 10⁶, correctly rounded); None for any other form or an impossible date. The
    seconds are looked up (a prefix enters the cache checked by the pattern and the calendar), the
    milliseconds too (three ASCII digits)."""
    if type(value) is not str or len(value) != 24 or value[19] != "." or value[23] != "Z":
        return None
    micros = _MICROS.get(value[20:23])
    seconds = _seconds.get(value[:19])
    if seconds is None:
        seconds = _epoch_seconds(value[:19])
    if micros is None or seconds is None:
        return None
    return (seconds * 1_000_000 + micros) / 1_000_000


def _epoch_seconds(prefix: str) -> int | None:
    """The epoch seconds of ``YYYY-MM-DDTHH:MM:SS`` (UTC), cached; None if it is not a valid time."""
    seconds = None
    if _SECOND.fullmatch(prefix):
        with contextlib.suppress(ValueError):
            seconds = int(datetime.fromisoformat(prefix).replace(tzinfo=UTC).timestamp())
    if seconds is not None:
        if len(_seconds) >= _CACHE_LIMIT:
            _seconds.clear()
        _seconds[prefix] = seconds
    return seconds
