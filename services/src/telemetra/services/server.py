"""Running the API with uvicorn: ``python -m telemetra.services`` (settings from ``TELEMETRA_*``; the API image's
command), or :func:`serve` from another asyncio program (``telemetra demo`` and ``make stack`` run it next to
their engines)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from telemetra.logs import configure_logging
from telemetra.services.api import create_app
from telemetra.services.settings import Settings

log = logging.getLogger("telemetra.services.server")


def http_protocol() -> type[asyncio.Protocol]:
    """uvicorn's own choice: httptools when installed, else h11."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


def with_header_timeout(base: type[Any], seconds: float) -> type[asyncio.Protocol]:
    """``base`` (a uvicorn HTTP protocol) closing connections that do not complete a request's headers within
    ``seconds``: of connecting, or of the first byte after the previous answer. uvicorn has no such timeout,
    so a client trickling headers (or sending nothing) would hold a connection slot for ever.

    A request's headers are complete when the protocol starts its request cycle, which it does while it
    parses the data received; a new cycle disarms the timer."""

    class HeaderTimeout(base):  # type: ignore[misc]
        _head_timer: asyncio.TimerHandle | None = None
        _head_cycle: object = None  # the cycle current when the timer was armed

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._head_timer is None and (self.cycle is None or self.cycle.response_complete):
                self._arm()  # the first bytes of a new head
            super().data_received(data)
            if self.cycle is not self._head_cycle or self.transport.get_protocol() is not self:
                self._disarm()  # the head is complete (a request cycle began, or a WebSocket took over)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._head_cycle = self.cycle
            self._head_timer = self.loop.call_later(seconds, self._expired)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _expired(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                log.debug("closed a connection that sent no complete request head in time",
                         extra={"seconds": seconds})  # fmt: skip
                self.transport.close()

    return HeaderTimeout


def uvicorn_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http=with_header_timeout(http_protocol(), settings.header_timeout_s),
        forwarded_allow_ips=settings.forwarded_allow_ips,
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep the JSON logging configured by telemetra.logs
        access_log=False,  # the request-context middleware logs each request, with its request id
        lifespan="on",
        ws_ping_interval=settings.ws_heartbeat_s,  # protocol pings find dead peers the OS has not noticed
        ws_ping_timeout=settings.ws_heartbeat_s,
        ws_max_size=64 * 1024,  # clients only send small control frames
        timeout_graceful_shutdown=5,
        limit_concurrency=settings.max_connections,  # uvicorn answers 503 beyond it
    )


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the program it runs in: that program decides the order in which
    its parts stop (the demo drains its engine into the store before the API closes the store)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(app: FastAPI, settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set (or the server exits); signal handling is left to the caller."""
    server = _EmbeddedServer(uvicorn_config(app, settings))
    task = asyncio.create_task(server.serve(), name="telemetra-api")
    if stop is None:
        await task
        return
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    await task


async def until_serving(host: str, port: int, server: asyncio.Task[None], within: float = 15.0) -> None:
    """Return once the API started by ``serve`` accepts connections; raise why it could not start."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.done():
            server.result()  # raises why it could not start (e.g. the port is taken)
            raise RuntimeError("the API stopped during start-up")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection(host, port)
            writer.close()
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the API did not listen on {host}:{port} within {within:g} s")


def app_from_environment() -> FastAPI:
    """The application configured by ``TELEMETRA_*`` (the factory the development reloader imports)."""
    return create_app(Settings())


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    if settings.dev_reload:  # skaffold's dev profile syncs changed files into the installed package
        package = Path(__file__).resolve().parents[1]  # …/telemetra
        uvicorn.run(
            "telemetra.services.server:app_from_environment",
            factory=True,
            host=settings.host,
            port=settings.port,
            log_config=None,
            reload=True,
            reload_dirs=[str(package)],
        )
        return
    uvicorn.Server(uvicorn_config(create_app(settings), settings)).run()


if __name__ == "__main__":
    main()
