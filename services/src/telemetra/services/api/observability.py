"""Prometheus metrics (one registry per app, so tests can build many apps), the request id carried into every
log record of a request, and optional OpenTelemetry tracing (OTLP over HTTP, only when an endpoint is set)."""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

    from telemetra.services.output import ServiceOutput
    from telemetra.services.settings import Settings

log = logging.getLogger("telemetra.services.api")
request_id_var: ContextVar[str | None] = ContextVar("telemetra_request_id", default=None)

disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series double the exposition for no use here

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.request_seconds = Histogram(
            "telemetra_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ws_connections = Gauge("telemetra_ws_connections", "Open WebSocket connections.", registry=r)
        self.ws_messages = Counter(
            "telemetra_ws_messages_pushed", "Messages pushed to WebSocket clients.", ["type"], registry=r
        )
        self.ws_coalesced = Counter(
            "telemetra_ws_coalesced",
            "Live states replaced by a newer one before a slow client took them (bounded mailboxes).",
            registry=r,
        )
        self.ws_closed = Counter(
            "telemetra_ws_disconnects", "WebSocket connections closed, by reason.", ["reason"], registry=r
        )
        self.cache_requests = Counter(
            "telemetra_cache_requests",
            "Cache lookups by kind (snapshot: live state of a stream; query: a history answer) and result.",
            ["kind", "result"],
            registry=r,
        )
        self.dependency_up = Gauge(
            "telemetra_dependency_up",
            "1 if the dependency answered its last probe.",
            ["dependency"],
            registry=r,
        )

        self.gc_pause = Histogram(
            "telemetra_gc_pause_seconds",
            "Garbage-collector pauses by generation (a full collection stops every request and push).",
            ["generation"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=r,
        )

        self.shed = Counter(
            "telemetra_http_shed", "Requests answered 503 because max_in_flight were in progress.", registry=r
        )
        self.rate_limited = Counter(
            "telemetra_http_rate_limited",
            "Requests answered 429 because their client asked too often.",
            registry=r,
        )
        self.dead_letters = Gauge(
            "telemetra_dead_letters_stored",
            "Dead letters in the store by stream (stream_id empty: inputs that named no stream).",
            ["stream_id"],
            registry=r,
        )

    def count_dead_letters(self, counts: dict[str, int]) -> None:
        self.dead_letters.clear()
        for stream_id, count in counts.items():
            self.dead_letters.labels(stream_id).set(count)

    def cache_hit(self, hit: bool, kind: str = "snapshot") -> None:
        self.cache_requests.labels(kind, "hit" if hit else "miss").inc()

    def watch_output(self, output: ServiceOutput) -> None:
        """Export the engine output's counters (embedded mode: the engine writes in this process)."""
        self.registry.register(_OutputCollector(output))


class _OutputCollector(Collector):
    def __init__(self, output: ServiceOutput):
        self.output = output

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self.output.stats
        counters = {
            "windows_stored": "Closed windows written to the store.",
            "moments_stored": "Moment versions written to the store.",
            "dead_letters_stored": "Dead letters written to the store.",
            "live_published": "Provisional windows published to the cache.",
            "store_failures": "Store write attempts that failed (retried).",
            "cache_failures": "Cache writes that failed.",
            "cache_skipped": "Cache writes skipped while backing off after a failure.",
            "dropped": "Records given up because the store buffer was full.",
        }
        for name, text in counters.items():
            yield CounterMetricFamily(f"telemetra_output_{name}", text, value=getattr(stats, name))
        yield GaugeMetricFamily(
            "telemetra_output_buffered", "Records waiting for the store.", value=stats.buffered
        )


class _RequestIdFactory:
    """Adds ``request_id`` to every log record created while a request is being handled."""

    def __init__(self, previous: Any):
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.previous(*args, **kwargs)
        request_id = request_id_var.get()
        if request_id is not None:
            record.request_id = request_id
        return record


def install_request_id_logging() -> None:
    current = logging.getLogRecordFactory()
    if not isinstance(current, _RequestIdFactory):
        logging.setLogRecordFactory(_RequestIdFactory(current))


class GcWatch:
    """Times every garbage collection into ``Metrics.gc_pause`` and logs the long ones."""

    def __init__(self, metrics: Metrics, slow: float = 0.1):
        self.metrics, self.slow = metrics, slow
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        elapsed = time.perf_counter() - self._started
        self.metrics.gc_pause.labels(str(info["generation"])).observe(elapsed)
        if elapsed >= self.slow:
            log.warning(
                "slow garbage collection", extra={"generation": info["generation"], "ms": elapsed * 1000}
            )

    def install(self) -> None:
        gc.callbacks.append(self)

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self)


def setup_tracing(settings: Settings) -> tuple[Tracer, TracerProvider] | None:
    """A tracer exporting to ``settings.otel_endpoint`` (OTLP/HTTP), or None when tracing is off."""
    if not settings.otel_endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otel_endpoint)))
    return provider.get_tracer("telemetra.services.api"), provider
