"""The dispatcher's Prometheus metrics (its own registry, as the API has its own) and the little HTTP app that
serves them next to a liveness check (``telemetra alerts dispatch``)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from telemetra.records import parse_ts
from telemetra.services.alerts.outbox import Settlement, State

disable_created_metrics()  # type: ignore[no-untyped-call]  # as the API does: no *_created series

# From a moment's detection to its alert's arrival: seconds normally, minutes through an outage.
DELIVERY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


class AlertMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.deliveries = Counter(
            "telemetra_alert_deliveries",
            "Delivery attempts by destination type and outcome (delivered, retry, dead).",
            ["type", "outcome"],
            registry=r,
        )
        self.delivery_seconds = Histogram(
            "telemetra_alert_delivery_seconds",
            "From a moment's detection to its first alert's delivery (wall clock), per delivered alert.",
            buckets=DELIVERY_BUCKETS,
            registry=r,
        )
        self.outbox_rows = Gauge(
            "telemetra_alert_outbox_rows", "Rows of the alert outbox by state.", ["state"], registry=r
        )
        self.up = Gauge(
            "telemetra_alert_dispatcher_up",
            "1 while the dispatcher runs and its outbox answers, else 0.",
            registry=r,
        )

    def settled(self, settlement: Settlement) -> None:
        delivery = settlement.delivery
        self.deliveries.labels(delivery.destination.type, settlement.outcome).inc()
        if settlement.outcome == "delivered" and delivery.sent_revision == 0:  # a first alert, not an update
            waited = settlement.at - parse_ts(delivery.moment.detected_at)
            self.delivery_seconds.observe(max(waited, 0.0))

    def counts(self, counts: dict[State, int]) -> None:
        for state, n in counts.items():
            self.outbox_rows.labels(state).set(n)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def metrics_app(metrics: AlertMetrics) -> Starlette:
    """``GET /health`` (the process answers) and ``GET /metrics`` (Prometheus text)."""

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def exposition(_: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[Route("/health", health, methods=["GET"]), Route("/metrics", exposition, methods=["GET"])]
    )
