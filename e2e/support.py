"""Shared by the end-to-end tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def wait_for(check: Callable[[], Any], within: float, what: str, log: Path | None = None) -> Any:
    """Poll ``check`` every 0.5 s until it returns something truthy (HTTP errors count as not yet), and
    return that; fail after ``within`` seconds, with the end of ``log`` when given."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    context = f"; log:\n{log.read_text()[-4000:]}" if log is not None else ""
    raise AssertionError(f"{what} did not happen within {within:g} s{context}")
