"""``WS /ws/live/{stream_id}``: a snapshot on connect, then a push whenever the stream's state changes.

Messages (JSON text): ``snapshot`` (``data``: the stream detail of ``GET /api/v1/streams/{id}``), then
``window`` (newest closed window), ``live`` (provisional open window), ``moments`` (the recent list, newest
first; ``changed`` names the ids this update touched), ``status`` (live updates stopped or resumed), and
``heartbeat`` when nothing else was sent for ``ws_heartbeat_s`` seconds. Updates carry ``published_at``.

Pushes are driven by the cache's fan-out, not by polling. Each connection has a mailbox holding at most the
latest message of each type, so a slow client skips intermediate states and costs a bounded amount of
memory; a client that does not accept a message within ``ws_send_timeout_s`` is disconnected. While the
cache is down, the session reads the store every ``fallback_poll_s`` seconds instead (closed windows and
moments only), and goes back to pushes when the cache returns. Timing (heartbeats, polls, send deadlines)
comes from the process's one ticker (:mod:`telemetra.services.api.hub`).

Close codes: 4401/4403 authentication, 4404 unknown stream, 4422 invalid stream id, 1013 backends down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, WebSocket
from starlette.websockets import WebSocketDisconnect

from telemetra.contract import STREAM_ID_PATTERN
from telemetra.services.api.deps import authorize, get_reader, get_state
from telemetra.services.api.errors import NotFound, Unavailable
from telemetra.services.api.hub import HEARTBEAT_TICK, POLL_TICK, Session
from telemetra.services.api.reads import Reader
from telemetra.services.api.state import AppState
from telemetra.services.cache import LiveMessage
from telemetra.services.cache.base import MOMENTS, WINDOW, encode_message
from telemetra.services.storage import StoreUnavailable

router = APIRouter(tags=["live"])
log = logging.getLogger("telemetra.services.live")
_STREAM_ID = re.compile(STREAM_ID_PATTERN)
_KINDS = ("snapshot", "window", "live", "moments", "status", "heartbeat")


class _Closed(Exception):
    """The client went away (or could not keep up); ends the session."""

    def __init__(self, reason: str):
        self.reason = reason


@dataclass(slots=True)
class _Seen:
    """What the client has, so the store fallback only pushes changes."""

    window_start: str | None = None
    moments: tuple[tuple[str, str, bool], ...] = field(default_factory=tuple)

    def window_changed(self, window: dict[str, Any] | None) -> bool:
        if window is None or window["window_start"] == self.window_start:
            return False
        self.window_start = window["window_start"]
        return True

    def moments_changed(self, moments: list[dict[str, Any]]) -> bool:
        signature = tuple((m["moment_id"], m["end"], m["ongoing"]) for m in moments)
        if signature == self.moments:
            return False
        self.moments = signature
        return True


@router.websocket("/ws/live/{stream_id}")
async def live(websocket: WebSocket, stream_id: str) -> None:
    state, reader = await get_state(websocket), await get_reader(websocket)
    await websocket.accept()
    refusal = _refusal(websocket, stream_id, state)
    if refusal is not None:
        await websocket.close(*refusal)
        return
    metrics = state.metrics
    metrics.ws_connections.inc()
    reason = "client"
    try:
        # Subscribe before reading the snapshot, so no update can fall between the two.
        with (
            state.cache.fanout.subscribe(stream_id) as mailbox,
            state.hub.register(Session(stream_id, mailbox)) as session,
        ):
            reason = await _session(websocket, session, state, reader)
    finally:
        metrics.ws_connections.dec()
        metrics.ws_closed.labels(reason).inc()


def _refusal(websocket: WebSocket, stream_id: str, state: AppState) -> tuple[int, str] | None:
    if not _STREAM_ID.fullmatch(stream_id):  # not .match: "$" would accept a trailing newline
        return 4422, "stream_id: invalid stream id"
    if state.settings.public_reads:
        return None
    header = websocket.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else websocket.query_params.get("access_token")
    try:
        authorize(token, "read", state.settings)
    except HTTPException as error:
        return (4401 if error.status_code == 401 else 4403), str(error.detail)
    return None


async def _session(websocket: WebSocket, session: Session, state: AppState, reader: Reader) -> str:
    stream_id = session.stream_id
    try:
        detail = await reader.stream(stream_id)
    except NotFound:
        await websocket.close(4404, "unknown stream")
        return "unknown"
    except Unavailable as error:
        await websocket.close(1013, error.reason)
        return "unavailable"
    seen = _Seen()
    seen.window_changed(detail["latest_window"])
    seen.moments_changed(detail["recent_moments"])
    snapshot = {"type": "snapshot", "stream_id": stream_id, "data": detail, "published_at": time.time()}
    pusher = _Pusher(websocket, session, state, reader, seen)
    receiver = asyncio.create_task(_until_disconnect(websocket), name=f"ws-receive-{stream_id}")
    pushing = asyncio.create_task(pusher.run(orjson.dumps(snapshot).decode()), name=f"ws-push-{stream_id}")
    session.task = pushing
    try:
        done, _ = await asyncio.wait({receiver, pushing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (receiver, pushing):
            task.cancel()
        for task in (receiver, pushing):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    finished = done.pop()
    if finished.cancelled() or finished.exception() is not None:
        return "error"
    return str(finished.result())


async def _until_disconnect(websocket: WebSocket) -> str:
    """Read (and ignore) client frames; returns as soon as the client disconnects."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return "client"


class _Pusher:
    def __init__(self, websocket: WebSocket, session: Session, state: AppState, reader: Reader, seen: _Seen):
        self.websocket, self.session, self.state, self.reader, self.seen = (
            websocket,
            session,
            state,
            reader,
            seen,
        )
        self.stream_id = session.stream_id
        self.counters = {kind: state.metrics.ws_messages.labels(kind) for kind in _KINDS}

    async def run(self, snapshot: str) -> str:
        try:
            await self._send("snapshot", snapshot)
            while True:
                await self._handle(await self.session.mailbox.get())
        except _Closed as closed:
            return closed.reason

    async def _handle(self, message: LiveMessage) -> None:
        if message.type == HEARTBEAT_TICK:
            if time.monotonic() - self.session.last_sent >= self.state.hub.heartbeat:
                body = {"type": "heartbeat", "stream_id": self.stream_id, "ts": time.time()}
                await self._send("heartbeat", orjson.dumps(body).decode())
        elif message.type == POLL_TICK:
            if not self.state.cache.healthy:
                await self._poll_store()
        else:
            self._note(message.type, message.data)
            await self._send(message.type, message.text)

    def _note(self, kind: str, data: Any) -> None:
        """Remember what live pushes delivered, so a later store fallback does not repeat it."""
        if kind == WINDOW and isinstance(data, dict):
            self.seen.window_changed(data)
        elif kind == MOMENTS and isinstance(data, list):
            self.seen.moments_changed(data)

    async def _poll_store(self) -> None:
        try:
            window, moments = await self.reader.stored_state(self.stream_id)
        except StoreUnavailable:
            return  # both backends down: keep the socket, heartbeats say we are alive
        now = time.time()
        if self.seen.window_changed(window):
            await self._send(WINDOW, encode_message(WINDOW, self.stream_id, window, now, source="store").text)
        if self.seen.moments_changed(moments):
            message = encode_message(MOMENTS, self.stream_id, moments, now, source="store", changed=[])
            await self._send(MOMENTS, message.text)

    async def _send(self, kind: str, text: str) -> None:
        session = self.session
        session.sending_since = time.monotonic()  # the ticker cancels a send stuck past the deadline
        try:
            await self.websocket.send_text(text)
        except asyncio.CancelledError:
            if not session.too_slow:
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            await self._close_slow()
        except (WebSocketDisconnect, RuntimeError, OSError):
            raise _Closed("client") from None
        finally:
            session.sending_since = None
        session.last_sent = time.monotonic()
        self.counters[kind].inc()

    async def _close_slow(self) -> None:
        log.info("slow WebSocket client disconnected", extra={"stream_id": self.stream_id})
        # The close frame would queue behind the stuck data: try briefly, then just let go of the client.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await self.websocket.close(1008, "too slow")
        raise _Closed("slow")
