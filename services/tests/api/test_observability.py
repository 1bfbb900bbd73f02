"""Request ids in JSON logs, generic 500s that leak nothing, and OpenTelemetry traces over OTLP/HTTP."""

from __future__ import annotations

import http.server
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from telemetra.logs import JsonFormatter


def test_access_log_lines_carry_the_request_id(make_api: Any, caplog: pytest.LogCaptureFixture) -> None:
    api = make_api(access_log=True)
    caplog.set_level(logging.INFO, logger="telemetra.services.access")
    with api.client() as client:
        client.get("/api/v1/streams", headers={"X-Request-ID": "trace-me-42"})
    records: list[logging.LogRecord] = []
    deadline = time.monotonic() + 5
    while not records and time.monotonic() < deadline:  # the line is written just after the answer is sent
        records = [r for r in caplog.records if getattr(r, "request_id", None) == "trace-me-42"]
        time.sleep(0.01)
    assert records, "no log record carried the request id"
    line = orjson.loads(JsonFormatter().format(records[-1]))
    assert line["request_id"] == "trace-me-42"
    assert line["route"] == "/api/v1/streams" and line["status"] == 200 and line["duration_ms"] >= 0


def test_unexpected_errors_are_a_generic_500(make_api: Any, caplog: pytest.LogCaptureFixture) -> None:
    api = make_api()

    async def broken(query: Any) -> Any:
        raise RuntimeError("SELECT password FROM users -- internal detail")

    api.server.state.store.list_streams = broken
    with caplog.at_level(logging.ERROR), api.client() as client:
        answer = client.get("/api/v1/streams", headers={"X-Request-ID": "boom-1"})
    assert answer.status_code == 500
    assert answer.json() == {"detail": "internal error", "request_id": "boom-1"}
    assert answer.headers["x-request-id"] == "boom-1"
    assert "SELECT" not in answer.text
    assert any(
        "SELECT password" in (r.exc_text or "") or r.exc_info for r in caplog.records
    )  # logged, not shown


class _Collector(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    received: ClassVar[list[tuple[str, bytes]]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", received
    finally:
        server.shutdown()
        server.server_close()


def test_traces_are_exported_over_otlp_when_configured(make_api: Any, collector: Any) -> None:
    endpoint, received = collector
    api = make_api(otel_endpoint=endpoint, otel_service_name="telemetra-test")
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with api.client() as client:
        client.get("/api/v1/streams/alpha/metrics", headers={"traceparent": traceparent})
    api.server.stop()  # shutting down flushes the batched spans
    assert received and received[0][0] == "/v1/traces"
    spans = []
    for _, body in received:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}[
                "service.name"
            ]
            for scope_spans in resource_spans.scope_spans:
                spans += [(service, span) for span in scope_spans.spans]
    service, span = next((s, sp) for s, sp in spans if sp.name.startswith("GET /api/v1/streams/{stream_id}"))
    assert service == "telemetra-test"
    assert span.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"  # continues the caller's trace
    attributes = {a.key: a.value for a in span.attributes}
    assert attributes["http.route"].string_value == "/api/v1/streams/{stream_id}/metrics"
    assert attributes["http.response.status_code"].int_value == 404
