"""Live sessions of this process and the one ticker that serves them all.

Every WebSocket session waits on its mailbox and nothing else. Time-based work is done by a single task that
wakes a few times a second and, for each session, puts a tick in its mailbox when a heartbeat is due or (while
the cache is down) a store poll is due, and cancels a send that has been stuck past its deadline. Per-message
timers would cost two timer-heap operations per message per client, which dominated the fan-out to many
clients; the ticker costs one pass over the sessions per tick, whatever the message rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from telemetra.services.cache import LiveMessage, Mailbox

HEARTBEAT_TICK, POLL_TICK = "_heartbeat", "_poll"  # internal message types: never sent to clients


@dataclass(eq=False, slots=True)
class Session:
    stream_id: str
    mailbox: Mailbox
    task: asyncio.Task[object] | None = None
    last_sent: float = field(default_factory=time.monotonic)
    last_poll: float = field(default_factory=time.monotonic)
    sending_since: float | None = None
    too_slow: bool = False


class LiveHub:
    def __init__(
        self,
        *,
        heartbeat: float,
        poll_every: float,
        send_timeout: float,
        degraded: Callable[[], bool],
    ):
        self.heartbeat, self.poll_every, self.send_timeout = heartbeat, poll_every, send_timeout
        self._degraded = degraded
        self.sessions: set[Session] = set()
        self.tick = max(0.05, min(0.5, heartbeat / 4, poll_every / 4, send_timeout / 4))
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="telemetra-live-ticker")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.contextmanager
    def register(self, session: Session) -> Iterator[Session]:
        self.sessions.add(session)
        try:
            yield session
        finally:
            self.sessions.discard(session)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            self.visit(time.monotonic())

    def visit(self, now: float) -> None:
        degraded = self._degraded()
        for session in list(self.sessions):
            self._visit(session, now, degraded)

    def _visit(self, session: Session, now: float, degraded: bool) -> None:
        if session.sending_since is not None and now - session.sending_since > self.send_timeout:
            if not session.too_slow and session.task is not None:
                session.too_slow = True
                session.task.cancel()  # the session turns this into a "too slow" close
            return
        if now - session.last_sent >= self.heartbeat:
            session.mailbox.put(LiveMessage(HEARTBEAT_TICK, session.stream_id, ""))
        if degraded and now - session.last_poll >= self.poll_every:
            session.last_poll = now
            session.mailbox.put(LiveMessage(POLL_TICK, session.stream_id, ""))
