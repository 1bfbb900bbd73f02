"""Where a moment is in the broadcast's recording: its offset from the stream's start, and a Twitch VOD link.

The stream's start is its ``stream_meta`` start event when one was seen, else its first event. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import replace

from telemetra.records import Moment, parse_ts

TWITCH_VIDEO_URL = "https://www.twitch.tv/videos/{vod_id}?t={t}"


def twitch_time(seconds: int) -> str:
    """Twitch's ``t`` parameter: ``3723`` → ``"1h2m3s"``, ``63`` → ``"1m3s"``, ``0`` → ``"0s"``."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if hours or minutes else "", f"{secs}s"]
    return "".join(parts)


def vod_url(vod_id: str, offset_seconds: int) -> str:
    """A link to ``offset_seconds`` into Twitch video ``vod_id``."""
    return TWITCH_VIDEO_URL.format(vod_id=vod_id, t=twitch_time(offset_seconds))


def place(moment: Moment, origin: float | None, vod_id: str | None) -> Moment:
    """``moment`` with its offset from ``origin`` (epoch seconds; whole seconds, never negative) and, when
    ``vod_id`` is known, its VOD link. Unchanged without an origin."""
    if origin is None:
        return moment
    offset = max(0, int(parse_ts(moment.start) - origin))
    link = vod_url(vod_id, offset) if vod_id else None
    if moment.offset_seconds == offset and moment.vod_url == link:
        return moment
    return replace(moment, offset_seconds=offset, vod_url=link)
