"""Event-time helpers: epoch seconds ⇄ RFC 3339 UTC strings, the only time format on the wire."""

from __future__ import annotations

from datetime import UTC, datetime


def format_ts(epoch_seconds: float) -> str:
    """``1764259200.5`` → ``"2025-11-27T16:00:00.500Z"`` (millisecond precision)."""
    return (
        datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def parse_ts(text: str) -> float:
    """RFC 3339 with offset → epoch seconds. Naive timestamps are rejected."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return moment.timestamp()
