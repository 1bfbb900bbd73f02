"""The dispatcher's settings from the environment (prefix ``TELEMETRA_ALERTS_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from telemetra.services.settings import default_store_url

SERVICE_ACCOUNT_DIR: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def own_namespace(directory: Path = SERVICE_ACCOUNT_DIR) -> str | None:
    """The pod's namespace (its service account's ``namespace`` file), or None outside Kubernetes."""
    try:
        return (directory / "namespace").read_text("utf-8").strip() or None
    except OSError:
        return None


class AlertSettings(BaseSettings):
    """Environment: ``TELEMETRA_ALERTS_<NAME>`` (case-insensitive). Values are never echoed in errors."""

    model_config = SettingsConfigDict(
        env_prefix="TELEMETRA_ALERTS_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    enabled: bool = Field(
        default=True,
        description="Offer moments to alerting where a process writes them (the Spark job's output); streams "
        "without an alert config cost nothing but a read of the configs every rules_refresh_s.",
    )
    outbox_url: str = Field(
        default_factory=default_store_url,
        description="sqlite:///PATH or postgresql://…; by default the store's database (own tables): in a "
        "process with a store, its URL (see outbox_for).",
    )
    rules_refresh_s: float = Field(
        default=5.0, gt=0, le=3600, description="How often offering processes read the stream configs again."
    )
    secrets_source: Literal["dir", "kubernetes"] = Field(
        default="dir",
        description="Where Secret references are read: dir (mounted files under secrets_dir) or kubernetes "
        "(the API server, with the pod's service account).",
    )
    secrets_dir: Path | None = Field(
        default=None,
        description="Mounted Secrets, as <dir>/<secret name>/<key> (<dir>/<namespace>/<name>/<key> for a "
        "reference with a namespace).",
    )
    secrets_cache_s: float = Field(
        default=30.0, ge=0, le=3600, description="How long a Secret read from the API server is used."
    )
    namespace: str | None = Field(
        default_factory=own_namespace,
        pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        description="Namespace of Secret references that name none; default: the pod's own.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address of `telemetra alerts dispatch`'s /health and /metrics."
    )
    metrics_port: int = Field(default=9465, ge=0, le=65535, description="Its port (0: any free port).")
    batch: int = Field(default=100, ge=1, le=10_000, description="Rows claimed at once, at most.")
    concurrency: int = Field(default=64, ge=1, le=10_000, description="Sends in flight per dispatcher.")
    lease_s: float = Field(
        default=60.0, gt=0, description="How long a claim holds its rows; longer than request_timeout_s."
    )
    poll_s: float = Field(default=0.2, gt=0, le=60, description="Pause when nothing is due.")
    request_timeout_s: float = Field(default=10.0, gt=0, le=120, description="One HTTP attempt, all in.")
    max_attempts: int = Field(default=15, ge=1, le=100, description="Attempts before a delivery is dead.")
    backoff_base_s: float = Field(
        default=1.0, gt=0, description="Delay after the first failure (≈, jittered)."
    )
    backoff_cap_s: float = Field(default=30.0, gt=0, description="Longest delay between attempts.")
    retry_after_cap_s: float = Field(
        default=600.0, gt=0, description="Longest Retry-After (429/503) honoured."
    )
    max_age_s: float | None = Field(
        default=900.0,
        gt=0,
        description="Moments first detected longer ago than this (event time) do not alert: a replay after "
        "a restart or a newly configured rule does not send old news. Empty: no limit.",
    )

    def outbox_for(self, store_url: str) -> str:
        """The outbox of a process whose store is ``store_url``: ``outbox_url`` when set, else that store's
        database."""
        return self.outbox_url if "outbox_url" in self.model_fields_set else store_url

    @field_validator("secrets_dir", "max_age_s", "namespace", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return value or None

    @model_validator(mode="after")
    def _lease_outlives_requests(self) -> Self:
        # A lease shorter than a send would let another replica take the row over while it is being sent.
        if self.lease_s <= self.request_timeout_s:
            raise ValueError("lease_s must be longer than request_timeout_s")
        return self
