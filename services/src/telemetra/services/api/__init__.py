"""The HTTP API (REST + WebSocket)."""

from telemetra.services.api.app import create_app

__all__ = ["create_app"]
