"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from telemetra.services.api.deps import State, json_response
from telemetra.services.api.schemas import Health, Readiness
from telemetra.services.api.state import DependencyStatus
from telemetra.services.storage import StoreUnavailable

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
async def health() -> Response:
    return json_response({"status": "ok"})


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness: the store and the cache are reachable",
    responses={503: {"model": Readiness, "description": "A dependency is unavailable; `reason` says which."}},
)
async def ready(state: State) -> Response:
    await state.probe()  # a fresh answer, each check bounded by the dependency timeout
    checks = {"store": _check(state.store_status), "cache": _check(state.cache_status)}
    down = [f"{name} unavailable" for name, check in checks.items() if check["status"] == "down"]
    body = {"status": "unavailable" if down else "ready", "reason": "; ".join(down) or None, "checks": checks}
    return json_response(body, 503 if down else 200)


def _check(status: DependencyStatus) -> dict[str, object]:
    return {
        "status": "up" if status.up else "down",
        "backend": status.backend,
        "reason": status.reason,
        "latency_ms": status.latency_ms,
    }


@router.get("/metrics", include_in_schema=False)
async def metrics(state: State) -> Response:
    with contextlib.suppress(StoreUnavailable):  # the last counts stay; /ready says the store is down
        state.metrics.count_dead_letters(await state.store.count_dead_letters())
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
