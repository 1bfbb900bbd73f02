"""Entry point of the API image: the API of ``python -m telemetra.services`` and, when
``TELEMETRA_DASHBOARD_DIR`` names a built dashboard (frontend/dist), that dashboard at ``/``.

Serving both from one origin is what the dashboard expects: it calls ``/api/v1/...`` and opens
``/ws/live/{id}`` on the host it was loaded from. The API routes are registered first, so they win; any
other path falls back to ``index.html`` so client-side routes survive a reload.

``TELEMETRA_DEV_RELOAD=1`` (skaffold's dev profile, which syncs changed Python files into the container)
restarts the server when a file of the installed ``telemetra`` package changes.
"""

from __future__ import annotations

import os
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from telemetra.logs import configure_logging
from telemetra.services.api import create_app
from telemetra.services.server import uvicorn_config
from telemetra.services.settings import Settings


class SinglePageApp(StaticFiles):
    """Static files with a fallback to ``index.html`` for unknown paths."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            return await super().get_response(path, scope)
        except HTTPException as error:
            if error.status_code != 404:
                raise
            return await super().get_response("index.html", scope)


def build_app(settings: Settings, dashboard_dir: str | None) -> FastAPI:
    """The API, with the dashboard mounted at ``/`` when ``dashboard_dir`` holds an ``index.html``."""
    app = create_app(settings)
    if dashboard_dir and (Path(dashboard_dir) / "index.html").is_file():
        app.mount("/", SinglePageApp(directory=dashboard_dir, html=True), name="dashboard")
    return app


def app_from_environment() -> FastAPI:
    """The application as configured by the environment (also the factory the reloader imports)."""
    return build_app(Settings(), os.environ.get("TELEMETRA_DASHBOARD_DIR"))


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    if os.environ.get("TELEMETRA_DEV_RELOAD") == "1":
        import telemetra.services

        package = Path(telemetra.services.__file__).resolve().parents[1]  # site-packages/telemetra
        uvicorn.run(
            f"{Path(__file__).stem}:app_from_environment",
            factory=True,
            app_dir=str(Path(__file__).parent),
            host=settings.host,
            port=settings.port,
            log_config=None,
            reload=True,
            reload_dirs=[str(package)],
        )
        return
    app = build_app(settings, os.environ.get("TELEMETRA_DASHBOARD_DIR"))
    uvicorn.Server(uvicorn_config(app, settings)).run()


if __name__ == "__main__":
    main()
