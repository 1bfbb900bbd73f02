"""In-process live cache: dicts and a local fan-out. For the embedded mode, where the engine and the API
share one process (``memory://`` in another process is a different, empty cache)."""

from __future__ import annotations

from collections.abc import Sequence

from telemetra.records import Moment, WindowMetrics
from telemetra.services.cache.base import (
    LIVE,
    MOMENTS,
    WINDOW,
    FanOut,
    Snapshot,
    encode_message,
    merge_moments,
)
from telemetra.services.storage.codec import newest_per_stream, record


class MemoryCache:
    name = "memory"

    def __init__(self, *, recent_moments: int = 20):
        self.fanout = FanOut()
        self._keep = recent_moments
        self._streams: dict[str, Snapshot] = {}

    @property
    def healthy(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    def _state(self, stream_id: str, at: float) -> Snapshot:
        state = self._streams.get(stream_id)
        if state is None:
            state = self._streams[stream_id] = Snapshot(stream_id)
        state.last_activity = max(state.last_activity or at, at)
        return state

    async def put_windows(self, windows: Sequence[WindowMetrics], at: float) -> None:
        for stream_id, window in newest_per_stream(windows).items():
            state = self._state(stream_id, at)
            if state.window is not None and state.window["window_start"] > window.window_start:
                continue  # an older window re-emitted (replay): the snapshot keeps the newest
            state.window = data = record(window)
            self.fanout.publish(encode_message(WINDOW, stream_id, data, at))

    async def put_live(self, windows: Sequence[WindowMetrics], at: float) -> None:
        for stream_id, window in newest_per_stream(windows).items():
            state = self._state(stream_id, at)
            state.live = data = record(window)
            self.fanout.publish(encode_message(LIVE, stream_id, data, at))

    async def put_moments(self, moments: Sequence[Moment], at: float) -> None:
        by_stream: dict[str, list[Moment]] = {}
        for moment in moments:
            by_stream.setdefault(moment.stream_id, []).append(moment)
        for stream_id, new in by_stream.items():
            state = self._state(stream_id, at)
            state.moments = merge_moments(state.moments, new, self._keep)
            changed = sorted({m.moment_id for m in new})
            self.fanout.publish(encode_message(MOMENTS, stream_id, state.moments, at, changed=changed))

    async def snapshot(self, stream_id: str, *, moments: bool = True) -> Snapshot | None:
        state = self._streams.get(stream_id)
        if state is None:
            return None
        recent = list(state.moments) if moments else []
        return Snapshot(stream_id, state.window, state.live, recent, state.last_activity)

    async def snapshots(
        self, stream_ids: Sequence[str] | None = None, *, moments: bool = True
    ) -> list[Snapshot]:
        wanted = self._streams if stream_ids is None else stream_ids
        return [s for stream_id in sorted(wanted) if (s := await self.snapshot(stream_id, moments=moments))]

    async def forget(self, stream_id: str) -> None:
        self._streams.pop(stream_id, None)
