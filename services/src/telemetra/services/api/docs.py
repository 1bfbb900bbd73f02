"""``/docs``: Swagger UI served by the service itself, never from a CDN.

The assets are those of the pinned ``fastapi-offline`` distribution (a dependency in pyproject.toml: Swagger
UI 5's ``swagger-ui-bundle.js`` and ``swagger-ui.css``), served from ``/docs/assets/``. The page has no inline
script (its start-up code is ``/docs/assets/init.js``), so it runs under a ``script-src 'self'`` policy (see
:mod:`telemetra.services.api.middleware`)."""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

DOCS_PATH = "/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}
_VENDORED = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")
_CACHE = {"Cache-Control": "public, max-age=3600"}

# Swagger UI's start-up, what FastAPI's page inlines: the document's URL comes from the page (root path aware).
INIT_JS = """"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – Swagger UI</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/init.js"></script>
</body>
</html>
"""


def vendored_dir() -> Path:
    """Where the installed ``fastapi-offline`` keeps Swagger UI's files."""
    return Path(str(resources.files("fastapi_offline") / "static"))


def install(app: FastAPI, openapi_url: str) -> None:
    """``GET /docs`` and its assets; call before mounting the dashboard at ``/`` (routes added first win)."""
    directory = vendored_dir()
    files = {name: directory / name for name in _VENDORED}
    missing = [name for name, path in files.items() if not path.is_file()]
    if missing:  # a broken install: fail at start-up, not on the first visit
        raise RuntimeError(f"Swagger UI assets missing from fastapi-offline: {', '.join(missing)}")

    async def page(request: Request) -> Response:
        root = html.escape(request.scope.get("root_path", "").rstrip("/"), quote=True)
        body = PAGE.format(
            title=html.escape(app.title), assets=f"{root}{ASSETS_PATH}", openapi=f"{root}{openapi_url}"
        )
        return HTMLResponse(body)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "init.js":
            return Response(INIT_JS, media_type=_TYPES[".js"], headers=_CACHE)
        path = files.get(name)
        if path is None:
            raise HTTPException(404, "Not Found")
        return FileResponse(path, media_type=_TYPES[path.suffix], headers=_CACHE)

    app.add_route(DOCS_PATH, page, methods=["GET"], include_in_schema=False)
    app.add_route(f"{ASSETS_PATH}/{{name}}", asset, methods=["GET"], include_in_schema=False)
