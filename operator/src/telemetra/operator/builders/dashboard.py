"""A per-stream Grafana dashboard in a ConfigMap the Grafana sidecar provisions (label ``grafana_dashboard``).

The queries read metrics exported by the stream's Spark job (label ``stream_id``; ``telemetra.spark.metrics``)
and by the API service. :data:`JOB_METRICS` are the job's own; :data:`STREAM_METRICS` are the stream's chat rate,
viewers, sentiment, revenue and moments from its closed windows, which the job exports next to them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from telemetra.operator.owner import Owner
from telemetra.operator.pool import Pool
from telemetra.operator.stream import Stream

SIDECAR_LABEL = "grafana_dashboard"
JOB_METRICS = (
    "telemetra_spark_input_rows_per_second",
    "telemetra_spark_processed_rows_per_second",
    "telemetra_spark_batch_duration_seconds_bucket",
    "telemetra_spark_watermark_lag_seconds",
    "telemetra_spark_dead_letters_total",
)
STREAM_METRICS = (
    "telemetra_stream_chat_messages_per_second",
    "telemetra_stream_viewers",
    "telemetra_stream_sentiment",
    "telemetra_stream_window_revenue_usd",
    "telemetra_stream_moments_total",
)
API_METRICS = ("telemetra_http_request_duration_seconds_bucket", "telemetra_ws_connections")


def dashboard_uid(stream: Stream) -> str:
    """Grafana uids have at most 40 characters; this one is stable per namespace and stream."""
    return "telemetra-" + hashlib.sha256(f"{stream.namespace}/{stream.id}".encode()).hexdigest()[:16]


def _panel(
    panel_id: int,
    title: str,
    targets: list[tuple[str, str]],
    unit: str,
    grid: tuple[int, int, int, int],
    ds: str,
) -> dict[str, Any]:
    x, y, w, h = grid
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": ds},
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def panels(stream_id: str, pool: str, ds: str) -> list[dict[str, Any]]:
    """The panels of one stream (``stream_id`` may be a Grafana variable, ``$stream``) processed by the job
    whose metrics carry ``pool`` (a dedicated job's: its stream id)."""
    sel = f'{{stream_id="{stream_id}"}}'
    job = f'{{pool="{pool}"}}'
    api_route = 'route=~"/api/v1/streams/.+"'
    specs: list[tuple[str, list[tuple[str, str]], str]] = [
        ("Chat rate", [(f"telemetra_stream_chat_messages_per_second{sel}", "messages/s")], "short"),
        ("Viewers", [(f"telemetra_stream_viewers{sel}", "viewers")], "short"),
        ("Sentiment", [(f"telemetra_stream_sentiment{sel}", "mean sentiment")], "none"),
        (
            "Revenue",
            [(f"telemetra_stream_window_revenue_usd{sel}", "USD per window")],
            "currencyUSD",
        ),
        (
            "Moments",
            [(f"sum by (kind) (increase(telemetra_stream_moments_total{sel}[15m]))", "{{kind}}")],
            "short",
        ),
        (
            "Spark input vs processing rate",
            [
                (f"telemetra_spark_input_rows_per_second{job}", "input rows/s"),
                (f"telemetra_spark_processed_rows_per_second{job}", "processed rows/s"),
            ],
            "short",
        ),
        (
            "Batch duration",
            [
                (
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(telemetra_spark_batch_duration_seconds_bucket{job}[5m])))",
                    "p95",
                ),
                (
                    f"rate(telemetra_spark_batch_duration_seconds_sum{job}[5m]) "
                    f"/ rate(telemetra_spark_batch_duration_seconds_count{job}[5m])",
                    "mean",
                ),
            ],
            "s",
        ),
        ("Watermark lag", [(f"telemetra_spark_watermark_lag_seconds{job}", "lag")], "s"),
        (
            "Dead letters",
            [(f"sum(rate(telemetra_spark_dead_letters_total{job}[5m]))", "dead letters/s")],
            "short",
        ),
        (
            "API latency (p95, stream routes) and live clients",
            [
                (
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(telemetra_http_request_duration_seconds_bucket{{{api_route}}}[5m])))",
                    "p95 latency (s)",
                ),
                ("sum(telemetra_ws_connections)", "WebSocket clients"),
            ],
            "short",
        ),
    ]
    return [
        _panel(i + 1, title, targets, unit, ((i % 2) * 12, (i // 2) * 8, 12, 8), ds)
        for i, (title, targets, unit) in enumerate(specs)
    ]


def _dashboard(
    uid: str, title: str, description: str, tag: str, panel_list: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["telemetra", tag],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "panels": panel_list,
    }


def _config_map(owner: Owner, name: str, folder: str, dashboard: dict[str, Any]) -> dict[str, Any]:
    """The ConfigMap ``name`` the Grafana sidecar provisions ``dashboard`` from, into ``folder``."""
    meta = owner.metadata(name, "dashboard")
    meta["labels"][SIDECAR_LABEL] = "1"
    meta["annotations"][owner.settings.grafana_folder_annotation] = folder
    body = json.dumps(dashboard, indent=1, sort_keys=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {f"{name.removesuffix('-dashboard')}.json": body},
    }


def build_dashboard_json(stream: Stream) -> dict[str, Any]:
    ds = stream.settings.prometheus_datasource_uid
    return _dashboard(
        dashboard_uid(stream),
        f"Telemetra · {stream.id}",
        f"Stream {stream.id} ({stream.owner}), provisioned by the Telemetra operator.",
        f"stream:{stream.id}",
        panels(stream.id, stream.pool or stream.id, ds),
    )


def build_dashboard(stream: Stream) -> dict[str, Any]:
    return _config_map(
        stream, stream.dashboard_name, stream.spec.dashboard.folder, build_dashboard_json(stream)
    )


def build_pool_dashboard_json(pool: Pool) -> dict[str, Any]:
    """The dashboard of a pool's streams: the same panels, for the stream picked in its ``stream`` variable."""
    ds = pool.settings.prometheus_datasource_uid
    variable = {
        "name": "stream",
        "label": "Stream",
        "type": "query",
        "datasource": {"type": "prometheus", "uid": ds},
        "query": {"query": "label_values(telemetra_stream_viewers, stream_id)", "refId": "streams"},
        "refresh": 2,
        "sort": 1,
    }
    uid = "telemetra-pool-" + hashlib.sha256(f"{pool.namespace}/{pool.name}".encode()).hexdigest()[:16]
    description = f"The streams of pool {pool.owner}, one at a time, provisioned by the Telemetra operator."
    board = _dashboard(uid, f"Telemetra · pool {pool.name}", description, f"pool:{pool.name}",
                       panels("$stream", pool.name, ds))  # fmt: skip
    return {**board, "templating": {"list": [variable]}}


def build_pool_dashboard(pool: Pool) -> dict[str, Any]:
    return _config_map(pool, pool.dashboard_name, "Telemetra", build_pool_dashboard_json(pool))
