"""Service settings from the environment (prefix ``TELEMETRA_``); backends are chosen by URL, never by code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SCOPES = ("read", "write", "admin")
MIN_TOKEN_CHARS = 16
MIN_JWT_SECRET_BYTES = 32  # HS256: a key at least as long as the hash output


def default_store_url() -> str:
    """``./.telemetra/telemetra.db`` when the working directory already has one (a checkout running
    ``make demo``), otherwise a file in the user's data directory, so history survives restarts."""
    local = Path(".telemetra") / "telemetra.db"
    if local.exists():
        return f"sqlite:///{local.resolve()}"
    try:
        from platformdirs import user_data_dir

        base = Path(user_data_dir("telemetra", appauthor=False))
    except ImportError:  # platformdirs is optional: fall back to the checkout-local path
        base = local.parent.resolve()
    return f"sqlite:///{base / 'telemetra.db'}"


class StaticToken(BaseModel):
    """A bearer token (e.g. from a Kubernetes Secret) and the scopes it grants."""

    token: SecretStr
    scopes: frozenset[str]


def _split(value: object) -> object:
    """Comma-separated text from the environment, or a list already."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of the API service and its sink. Environment: ``TELEMETRA_<NAME>`` (case-insensitive)."""

    # Values are never echoed in errors: a bad setting must not print a token, a JWT key or a DSN's password.
    model_config = SettingsConfigDict(
        env_prefix="TELEMETRA_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    # -- backends --------------------------------------------------------------------------------------
    store_url: str = Field(default_factory=default_store_url, description="sqlite:///PATH or postgresql://…")
    cache_url: str = Field(default="memory://", description="memory:// (one process) or redis://HOST:PORT/DB")
    cache_namespace: str = Field(
        default="telemetra",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Prefix of Redis keys and channels.",
    )
    store_pool_size: int = Field(default=8, ge=1, le=100)
    dependency_timeout_s: float = Field(
        default=2.0, gt=0, le=60, description="Backend connect/command timeout."
    )

    # -- HTTP ------------------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Comma-separated.")
    max_body_bytes: int = Field(default=64 * 1024, ge=1, description="Larger request bodies get 413.")
    max_in_flight: int = Field(
        default=64, ge=1, description="HTTP requests answered at once; more get 503 with Retry-After."
    )
    max_connections: int = Field(
        default=4096, ge=1, description="Open connections (WebSockets included); more get 503."
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="Time to send a request's headers; slower connections are closed."
    )
    body_timeout_s: float = Field(default=10.0, gt=0, description="Time to send a request's body; else 408.")
    rate_limit_per_s: float = Field(
        default=50.0,
        ge=0,
        description="Requests a second one client may make, sustained (0: no limit); else 429.",
    )
    rate_limit_burst: int = Field(default=100, ge=1, description="Requests one client may make at once.")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1,::1",
        description="Proxies (addresses or CIDRs, comma-separated; * for any) whose X-Forwarded-For names the "
        "client: set it to the ingress controller's pod range, so limits apply per end user.",
    )
    access_log: bool = True
    log_level: str = "INFO"
    gc_freeze: bool = Field(default=True, description="Exempt start-up objects from garbage collection.")
    dashboard_dir: Path | None = Field(
        default=None, description="A built dashboard (frontend/dist) to serve at / next to the API."
    )
    dev_reload: bool = Field(default=False, description="Restart when the telemetra package changes (dev).")

    # -- auth ------------------------------------------------------------------------------------------
    public_reads: bool = Field(default=True, description="Read endpoints need no token (else scope 'read').")
    api_tokens: Annotated[list[StaticToken], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated TOKEN[:SCOPE[+SCOPE…]] (no ':': admin; an empty scope list: no scope).",
    )
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 key (≥ 32 bytes); JWTs carry scopes in 'scope'. Empty: JWTs off."
    )
    jwt_audience: str | None = Field(
        default=None, description="Required 'aud' of JWTs; without it, JWTs that carry an 'aud' are refused."
    )
    jwt_issuer: str | None = None

    # -- live ------------------------------------------------------------------------------------------
    live_after_s: float = Field(default=30.0, gt=0, description="Live = activity within this many seconds.")
    recent_moments: int = Field(default=20, ge=1, le=500, description="Moments kept per stream in the cache.")
    ws_heartbeat_s: float = Field(default=15.0, gt=0, description="Heartbeat period on an idle socket.")
    ws_send_timeout_s: float = Field(default=10.0, gt=0, description="Slower clients are disconnected.")
    fallback_poll_s: float = Field(
        default=3.0, gt=0, description="Store polling period while the cache is down."
    )
    health_interval_s: float = Field(
        default=2.0, gt=0, description="Period of the background dependency probe."
    )
    query_cache_mb: float = Field(default=32, ge=0, description="Memory for cached history answers (0: off).")
    query_cache_ttl_s: float = Field(default=30, gt=0, description="Longest life of a cached history answer.")

    # -- sink ------------------------------------------------------------------------------------------
    output_buffer_limit: int = Field(
        default=50_000, ge=1, description="Records held while the store is down."
    )
    output_retry_s: float = Field(
        default=1.0, gt=0, description="Pause between store retries after a failure."
    )

    # -- tracing ---------------------------------------------------------------------------------------
    otel_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP traces URL; tracing is off without."
    )
    otel_service_name: str = "telemetra-api"

    @field_validator("dashboard_dir", "jwt_secret", "jwt_audience", "jwt_issuer", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return value or None

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value().encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(f"the HS256 key must be at least {MIN_JWT_SECRET_BYTES} bytes (RFC 7518 §3.2)")
        return secret

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        return _split(value)

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _tokens(cls, value: object) -> object:
        # Comma-separated; empty entries (a trailing comma) are skipped but still counted, so "entry N" is the
        # N-th comma-separated field of the variable. Errors name the entry and the problem, never its text.
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            return items
        entries = [(n, item.strip() if isinstance(item, str) else item) for n, item in enumerate(items, 1)]
        return [_parse_token(item, n) if isinstance(item, str) else item for n, item in entries if item]

    @field_validator("api_tokens")
    @classmethod
    def _known_scopes(cls, tokens: list[StaticToken]) -> list[StaticToken]:
        for n, token in enumerate(tokens, 1):
            if token.scopes - set(SCOPES):
                raise ValueError(f"entry {n}: unknown scope; use {', '.join(SCOPES)}")
        return tokens


def _parse_token(text: str, n: int) -> dict[str, object]:
    """``TOKEN`` (scope admin), ``TOKEN:SCOPE+SCOPE…``, or ``TOKEN:`` (no scope: authenticates, grants
    nothing)."""
    token, colon, scopes = text.partition(":")
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(
            f"entry {n}: token shorter than {MIN_TOKEN_CHARS} characters (at least {MIN_TOKEN_CHARS} required)"
        )
    names = frozenset(name.strip() for name in scopes.split("+") if name.strip())
    if names - set(SCOPES):
        raise ValueError(f"entry {n}: unknown scope; use {', '.join(SCOPES)} joined by '+'")
    return {"token": token, "scopes": names if colon else frozenset({"admin"})}


def sqlite_path(url: str) -> Path:
    """Everything after ``sqlite://`` is the path: ``sqlite:///abs/x.db`` is absolute, ``sqlite://./x.db``
    relative to the working directory (SQLAlchemy's four-slash ``sqlite:////abs/x.db`` also works)."""
    path = url.removeprefix("sqlite://")
    if path.startswith("//"):
        path = path[1:]
    return Path(path).expanduser()
