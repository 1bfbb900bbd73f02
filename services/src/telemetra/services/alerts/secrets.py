"""Resolving :class:`~telemetra.services.alerts.rules.SecretRef` into values, at send time only.

In a cluster the dispatcher's pod mounts the Secrets its streams name (a volume per Secret under
``secrets_dir``: ``<secrets_dir>/<name>/<key>``), so a rotated Secret is read on the next delivery without a
restart; an ``env`` reference reads the dispatcher's environment. Values are never logged: an error names the
reference only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from telemetra.services.alerts.rules import SecretRef
from telemetra.services.alerts.settings import AlertSettings


class SecretMissing(LookupError):
    """A reference that resolves to nothing (no such variable, Secret or key). Its message names the
    reference, never a value."""


class SecretResolver:
    def __init__(self, secrets_dir: Path | None = None, environ: Mapping[str, str] | None = None):
        self.secrets_dir = secrets_dir
        self._environ = environ if environ is not None else os.environ

    @classmethod
    def from_settings(cls, settings: AlertSettings) -> SecretResolver:
        return cls(settings.secrets_dir)

    def resolve(self, ref: SecretRef) -> str:
        if ref.env is not None:
            value = self._environ.get(ref.env)
            if not value:
                raise SecretMissing(f"{ref.describe()}: not set")
            return value
        assert ref.name is not None and ref.key is not None  # SecretRef's validator
        if self.secrets_dir is None:
            raise SecretMissing(f"{ref.describe()}: no secrets directory is configured")
        path = self.secrets_dir / ref.name / ref.key
        try:
            value = path.read_text("utf-8").strip()
        except OSError:
            raise SecretMissing(f"{ref.describe()}: not mounted") from None
        if not value:
            raise SecretMissing(f"{ref.describe()}: empty")
        return value
