"""``telemetra alerts dispatch``: a standalone alert dispatcher (the ``telemetra-alerts`` Deployment's command;
any number of replicas share the outbox), with ``GET /health`` and ``GET /metrics`` on
``AlertSettings.metrics_host:metrics_port``. Settings come from ``TELEMETRA_ALERTS_*``
(:class:`~telemetra.services.alerts.AlertSettings`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn

from telemetra.services.alerts.dispatcher import run_dispatcher
from telemetra.services.alerts.metrics import AlertMetrics, metrics_app
from telemetra.services.alerts.outbox import open_outbox
from telemetra.services.alerts.secrets import InCluster
from telemetra.services.alerts.settings import AlertSettings

log = logging.getLogger("telemetra.alerts")


class _Server(uvicorn.Server):
    """uvicorn leaving signals to the command (which stops the dispatcher first)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def check(settings: AlertSettings) -> None:
    """A ValueError for settings that cannot work, before anything starts: an unsupported outbox URL, the
    kubernetes secrets source without a pod's credentials."""
    open_outbox(settings.outbox_url)  # constructs only: it connects on start
    if settings.secrets_source == "kubernetes":
        InCluster.from_environment()


def bind(settings: AlertSettings) -> socket.socket:
    """The metrics socket, bound now so that a port in use is a start-up error (OSError)."""
    family = socket.AF_INET6 if ":" in settings.metrics_host else socket.AF_INET
    return socket.create_server(
        (settings.metrics_host, settings.metrics_port), family=family, reuse_port=False
    )


async def dispatch(settings: AlertSettings, stop: asyncio.Event, sock: socket.socket) -> None:
    """Dispatch until ``stop``, serving the metrics on ``sock`` meanwhile; sends in flight finish first."""
    metrics = AlertMetrics()
    config = uvicorn.Config(
        metrics_app(metrics), log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=2
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="alert-metrics")
    host, port = sock.getsockname()[:2]
    log.info("alert metrics serving", extra={"host": host, "port": port})
    try:
        await run_dispatcher(settings, stop, metrics=metrics)
    finally:
        server.should_exit = True
        await serving
