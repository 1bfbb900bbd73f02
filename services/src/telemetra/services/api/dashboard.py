"""The built dashboard (frontend/dist) served at ``/`` next to the API, from one origin: the dashboard calls
``/api/v1/...`` and opens ``/ws/live/{id}`` on the host it was loaded from."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import Response
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


def mount_dashboard(app: FastAPI, directory: Path | None) -> bool:
    """Mount the dashboard after the API's routes (which therefore win); False when it is not built."""
    if not is_built(directory):
        return False
    app.mount("/", SinglePageApp(directory=directory, html=True), name="dashboard")
    return True
