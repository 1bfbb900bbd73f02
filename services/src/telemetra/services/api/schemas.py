"""Response and request bodies. Window and moment fields are the analytics contract's names
(``WindowMetrics`` and ``Moment``); the handlers encode those records directly, and tests check that what
they send validates against these models."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from telemetra.analytics.moments import KINDS
from telemetra.services.alerts.rules import AlertConfig

MomentKind = Literal["chat_spike", "viewer_surge", "viewer_drop", "sentiment_swing", "revenue_spike", "raid"]
assert set(get_args(MomentKind)) == set(KINDS), "MomentKind must list the analytics core's moment kinds"
Resolution = Literal["10s", "1m", "5m"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TopEmote(_Model):
    emote: str
    count: int = Field(ge=0)


class WindowOut(_Model):
    """One stream's metrics over one window ``[window_start, window_end)``."""

    stream_id: str
    window_start: AwareDatetime
    window_end: AwareDatetime
    messages: int = Field(ge=0, description="Chat messages in the window.")
    chat_rate: float = Field(ge=0, description="Messages per second.")
    unique_chatters: int = Field(ge=0)
    top_emotes: list[TopEmote]
    sentiment: float | None = Field(ge=-1, le=1, description="Mean chat sentiment; null without messages.")
    positive: int = Field(ge=0)
    neutral: int = Field(ge=0)
    negative: int = Field(ge=0)
    viewers: int | None = Field(ge=0, description="Last viewer count sampled in the window.")
    viewers_max: int | None = Field(ge=0)
    revenue_usd: float = Field(ge=0)
    transactions: dict[str, int] = Field(description="Transaction counts by kind.")
    late_events: int = Field(ge=0, description="Events dropped as late since the previous window closed.")
    bits: int = Field(ge=0)
    emote_total: int = Field(ge=0)
    final: bool = Field(description="False for the provisional view of a window that is still open.")


class MomentOut(_Model):
    """One anomaly episode; re-emitted (same id) while it grows."""

    moment_id: str
    stream_id: str
    kind: MomentKind
    start: AwareDatetime
    end: AwareDatetime
    metric: str
    value: float
    baseline: float
    score: float
    threshold: float
    description: str
    peak_at: AwareDatetime
    detected_at: AwareDatetime
    ongoing: bool
    rank: float | None = Field(
        default=None,
        description="How much the moment stands out, to show the best first (higher is better): how unusual "
        "(log2(1 + |score|)) × how large (|log2(value / baseline)|) × how many chatters joined in "
        "(log2(2 + distinct chatters)). Absent on moments stored before it existed.",
    )
    offset_seconds: int | None = Field(
        default=None,
        ge=0,
        description="Whole seconds from the stream's start (its stream_meta start event, else its first event) "
        "to the moment's start: where it is in the broadcast's recording. Absent on moments stored before it "
        "existed.",
    )
    vod_url: str | None = Field(
        default=None,
        description="A link to the moment's point of the Twitch VOD (https://www.twitch.tv/videos/<id>?t=1h2m3s), "
        "when the broadcast's VOD id is known (stream_meta vod_id).",
    )


class StreamSummary(_Model):
    stream_id: str
    title: str | None
    category: str | None
    live: bool = Field(description="The engine reported activity within the live threshold.")
    last_activity: AwareDatetime | None = Field(description="When the engine last reported the stream.")
    viewers: int | None = Field(description="Current viewers (open window, else the last closed one).")
    chat_rate: float | None = Field(description="Current messages per second.")
    latest_moment: MomentOut | None
    window_seconds: int = Field(gt=0, description="Length of the stream's windows.")
    slide_seconds: int = Field(gt=0, description="How often a new window starts (the finest resolution).")


class StreamDetail(StreamSummary):
    latest_window: WindowOut | None = Field(description="The newest closed window.")
    live_window: WindowOut | None = Field(description="The provisional view of the open window, while live.")
    recent_moments: list[MomentOut] = Field(description="Newest first.")
    dead_letters: int = Field(ge=0, description="Stored dead letters (inputs that broke the contract).")
    degraded: list[str] = Field(description="Backends that could not be read for this answer.")


class StreamList(_Model):
    items: list[StreamSummary] = Field(
        description="In the order of `sort`. With `live`, a page may hold fewer than `limit` (see `live`)."
    )
    degraded: list[str] = Field(description="Backends that could not be read for this answer.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same `sort`, `q`, `live` and `limit`) for the next page; null on "
        "the last."
    )
    total: int | None = Field(
        ge=0,
        description="Streams matching `q` and `live`, counted for the first page (no `cursor`), else null.",
    )
    live_total: int | None = Field(ge=0, description="Of those, how many are live; as `total`.")


class HotStream(_Model):
    """A live stream in the cross-channel view: what its hype is made of."""

    stream_id: str
    title: str | None
    category: str | None
    viewers: int | None = Field(ge=0, description="Of its newest closed window.")
    chat_rate: float | None = Field(ge=0, description="Messages per second in its newest closed window.")
    baseline_chat_rate: float | None = Field(
        ge=0,
        description="Its own normal: the mean chat rate of its windows in the hour before the recent minutes; null "
        "without any.",
    )
    chat_ratio: float | None = Field(
        ge=0, description="`chat_rate` over `baseline_chat_rate` (at least 0.1 msg/s): 1 is normal."
    )
    moments: int = Field(ge=0, description="Moments under way in the last `minutes`.")
    best_rank: float | None = Field(description="The highest `rank` among those; null without any.")
    hype: float = Field(
        ge=0,
        description="`chat_ratio` (0 without one) + `moments` + log2(1 + `best_rank`): what the list is sorted by.",
    )
    last_activity: AwareDatetime


class HotList(_Model):
    minutes: int = Field(description="The recent minutes counted, as asked.")
    categories: list[str] = Field(
        description="Categories of all live streams (ignoring `category`), for a filter."
    )
    items: list[HotStream] = Field(description="Live streams, greatest `hype` first, the id breaking ties.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same `minutes`, `category` and `limit`) for the next page; null on "
        "the last."
    )


class MetricsPage(_Model):
    stream_id: str
    resolution: Resolution
    items: list[WindowOut] = Field(description="Oldest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` (with the same filters) for the next page.")


class MomentsPage(_Model):
    stream_id: str
    items: list[MomentOut] = Field(description="Newest first.")
    next_cursor: str | None


class DeadLetterOut(_Model):
    """An input that broke the contract: why, where it was read, and the input itself."""

    letter_id: str
    stream_id: str | None = Field(description="The stream it was sent to, when known.")
    reason: str
    source: str = Field(description="Where it was read: `topic:partition:offset`, `bus:n` or `file:line`.")
    raw: str | None = Field(description="The input, as UTF-8 text or base64 (`raw_encoding`).")
    raw_encoding: Literal["utf-8", "base64"]
    raw_bytes: int = Field(ge=0)
    raw_truncated: bool
    stored_at: AwareDatetime


class DeadLettersPage(_Model):
    items: list[DeadLetterOut] = Field(description="Newest first.")


# C0 and C1 control characters except tab, line feed and carriage return, and lone surrogates (not text:
# PostgreSQL refuses NUL, UTF-8 cannot encode a surrogate, terminals interpret escapes).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"  # for the document (ECMA-262 syntax)


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (other than tab and line breaks)")
    return value


Title = Annotated[
    str, Field(max_length=300, json_schema_extra={"pattern": _NO_CONTROL}), AfterValidator(_no_control)
]
Category = Annotated[
    str, Field(max_length=120, json_schema_extra={"pattern": _NO_CONTROL}), AfterValidator(_no_control)
]
SearchText = Annotated[
    str, Field(max_length=100, json_schema_extra={"pattern": _NO_CONTROL}), AfterValidator(_no_control)
]


class StreamMetaIn(_Model):
    """Only the fields sent change; `null` clears one."""

    title: Title | None = None
    category: Category | None = None


class StreamAlerts(_Model):
    """A stream's alerting as stored, read by every process that offers moments within a few seconds."""

    stream_id: str
    origin: str = Field(
        description="Who set it: `api`, `file` (`telemetra demo --alerts`) or `resource:<namespace>/<name>` "
        "(a TelemetraStream's `spec.alerts`, managed by the operator)."
    )
    updated_at: AwareDatetime
    config: AlertConfig = Field(
        description="Destinations and rules, as in a TelemetraStream's `spec.alerts`."
    )


AlertState = Literal["pending", "delivered", "dead", "suppressed"]


class DeliveryOut(_Model):
    """One alert: a moment for one destination, and where its delivery stands."""

    moment_id: str
    destination: str
    stream_id: str
    kind: str
    state: AlertState
    reason: str | None = Field(description="Why suppressed or dead; the last error while retrying.")
    revision: int = Field(ge=1, description="Versions of the moment seen (it grows).")
    sent_revision: int = Field(ge=0, description="The version last delivered (0: none yet).")
    remote_id: str | None = Field(description="The destination's message id (Discord), to edit it.")
    attempts: int = Field(ge=0, description="Failed attempts of the current version.")
    next_attempt_at: AwareDatetime
    created_at: AwareDatetime
    updated_at: AwareDatetime
    delivered_at: AwareDatetime | None


class DeliveriesPage(_Model):
    items: list[DeliveryOut] = Field(description="Most recently updated first.")
    next_cursor: str | None = Field(description="Pass as `cursor` (with the same filters) for the next page.")


class AttemptOut(_Model):
    revision: int = Field(ge=1)
    attempt: int = Field(ge=1, description="1 for a version's first try.")
    at: AwareDatetime
    outcome: Literal["delivered", "retry", "dead"]
    status: int | None = Field(description="The destination's HTTP status, if it answered.")
    error: str | None = Field(description="What went wrong (never a URL or a secret).")
    duration_ms: float = Field(ge=0)


class DeliveryAttempts(_Model):
    delivery: DeliveryOut
    attempts: list[AttemptOut] = Field(description="Oldest first.")


class Check(_Model):
    status: Literal["up", "down"]
    backend: str
    reason: str | None = None
    latency_ms: float | None = None


class Readiness(_Model):
    status: Literal["ready", "unavailable"]
    reason: str | None = Field(None, description="Which dependency is unavailable.")
    checks: dict[str, Check]


class Health(_Model):
    status: Literal["ok"]


class ErrorBody(_Model):
    detail: str
    request_id: str


class FieldError(_Model):
    loc: list[str | int] = Field(description='Where: e.g. ["query", "limit"] or ["path", "stream_id"].')
    msg: str
    type: str


class ValidationErrorBody(_Model):
    detail: list[FieldError]
    request_id: str


def error_responses(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route can give; ``descriptions`` (``not_found="…"``,
    ``conflict="…"``) replace the default texts."""
    described = {
        401: "Missing or invalid bearer token.",
        403: "The token lacks the required scope.",
        404: descriptions.get("not_found", "Unknown stream."),
        409: descriptions.get("conflict", "Conflicts with the resource's state; `detail` says why."),
        413: "Request body too large.",
        422: "Invalid parameter; `loc` names the field.",
        503: "A backend is unavailable; `detail` says which.",
    }
    return {
        code: {
            "model": ValidationErrorBody if code == 422 else ErrorBody,
            "description": described[code],
        }
        for code in codes
    }


def links(status: int = 200, /, **named: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``links`` of the answer ``status``: where a client can go next with values from this request or
    answer (clients and stateful API testers follow them)."""
    return {status: {"links": named}}


def next_page(
    operation: str, *same: str, of_stream: bool = True, **others: dict[str, Any]
) -> dict[int | str, dict[str, Any]]:
    """A paged answer's link to its next page: the same request (its limit and ``same`` query parameters; with
    ``of_stream``, its stream and range too) with the cursor it returned; and the answer's ``others`` links."""
    shared = ("from", "to", "limit") if of_stream else ("limit",)
    request = {f"query_{name}": f"$request.query.{name}" for name in (*shared, *same)}
    path = {"path_stream_id": "$request.path.stream_id"} if of_stream else {}
    return links(
        next_page=link(operation, **path, query_cursor="$response.body#/next_cursor", **request), **others
    )


def link(operation: str, **parameters: str) -> dict[str, Any]:
    """A link to ``operation`` (its operationId, the route's function name); parameter names are qualified,
    ``path_x`` / ``query_x`` for ``path.x`` / ``query.x``."""
    return {
        "operationId": operation,
        "parameters": {name.replace("_", ".", 1): value for name, value in parameters.items()},
    }
