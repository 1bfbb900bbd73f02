"""The built dashboard (frontend/dist) served at ``/`` next to the API, from one origin: the dashboard calls
``/api/v1/...`` and opens ``/ws/live/{id}`` on the host it was loaded from."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope


class SinglePageApp(StaticFiles):
    """Static files with a fallback to ``index.html``, so client-side routes survive a reload."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            return await super().get_response(path, scope)
        except HTTPException as error:
            if error.status_code != 404:
                raise
            return await super().get_response("index.html", scope)


def is_built(directory: Path | None) -> bool:
    return directory is not None and (directory / "index.html").is_file()


# The service's own paths, never the dashboard's: an unknown path under these is a JSON 404, a wrong method a
# 405 (and HEAD /health is not the dashboard's index.html).
API_PREFIXES = ("/api", "/ws", "/docs")
API_PATHS = frozenset({"/health", "/ready", "/metrics", "/openapi.json"})


def is_api_path(path: str) -> bool:
    return path in API_PATHS or any(path == p or path.startswith(f"{p}/") for p in API_PREFIXES)


class DashboardMount(Mount):
    """The dashboard at ``/`` for every path except the API's own, so an unknown ``/api/…`` or ``/ws/…`` path
    (or a wrong method on an API path) is answered by the router (JSON 404 or 405), not with the dashboard's
    ``index.html``."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        root = scope.get("root_path", "")
        path = scope.get("path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if is_api_path(path):
            return Match.NONE, {}
        return super().matches(scope)


def mount_dashboard(app: FastAPI, directory: Path | None) -> bool:
    """Mount the dashboard after the API's routes (which therefore win); False when it is not built."""
    if not is_built(directory):
        return False
    app.router.routes.append(
        DashboardMount("/", app=SinglePageApp(directory=directory, html=True), name="dashboard")
    )
    return True
