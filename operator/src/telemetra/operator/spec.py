"""The TelemetraStream spec as typed models: the single source of the CRD schema and of what handlers read.

Attribute docstrings become the CRD's field descriptions; ``Field`` bounds become ``minimum``/``maximum``/
``pattern``; :func:`cel` rules become ``x-kubernetes-validations``; defaults become structural defaults
(nested objects default to ``{}`` so the API server fills their fields in). The API server applies all of
this before the operator sees an object, so :meth:`TelemetraStreamSpec.model_validate` of a stored object
never disagrees with the CRD. Moment-threshold defaults come from the analytics core itself.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from telemetra.analytics.config import AnalyticsConfig, MomentThresholds, Sensitivity
from telemetra.operator import policy
from telemetra.producers.scenarios import ScenarioKind
from telemetra.records import POOL_NAME_PATTERN

GROUP = "telemetra.io"
VERSION = "v1alpha1"
PLURAL = "telemetrastreams"
KIND = "TelemetraStream"
API_VERSION = f"{GROUP}/{VERSION}"

# A DNS label of at most 40 characters (a subset of the event contract's stream id): it names Kubernetes
# objects (``telemetra-<id>-producer``, the Spark driver ``telemetra-<id>-driver``) and Kafka topics.
STREAM_ID_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
DNS_LABEL = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$"
SPARK_MEMORY = r"^[1-9][0-9]{0,5}[kmgt]$"
CPU_QUANTITY = r"^([1-9][0-9]{0,3}|[1-9][0-9]{0,6}m)$"

_DEFAULT_THRESHOLDS = MomentThresholds()
_DEFAULT_ANALYTICS = AnalyticsConfig()


def cel(rule: str, message: str, field_path: str | None = None, reason: str | None = None) -> dict[str, str]:
    """One ``x-kubernetes-validations`` rule; ``field_path`` points the error at the offending field."""
    validation = {"rule": rule, "message": message}
    if field_path:
        validation["fieldPath"] = field_path
    if reason:
        validation["reason"] = reason
    return validation


def rules(*validations: dict[str, str]) -> dict[str, Any]:
    return {"x-kubernetes-validations": list(validations)}


def default_of(model: type[BaseModel]) -> dict[str, Any]:
    """A nested object's structural default: the model's own defaults, in full. (``{}`` would be enough for
    defaulting, but the API server checks a default against its CEL rules without defaulting it first.)"""
    return {"default": model().model_dump(mode="json", by_alias=True, exclude_none=True)}


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",  # the API server prunes unknown fields; a newer CRD may add some
        frozen=True,
        use_attribute_docstrings=True,
    )


# -- source ------------------------------------------------------------------------------------------------
class Scenario(Model):
    """A labelled episode injected into mock traffic (``telemetra produce --scenario``)."""

    kind: ScenarioKind
    """What happens: hype, raid, surge, gift_bomb, sentiment_swing, viewer_drop or ramp."""

    at_seconds: int = Field(ge=0, le=31_536_000)
    """Seconds after the producer starts."""

    duration_seconds: int | None = Field(default=None, ge=1, le=86_400)
    """How long it lasts; default: the kind's own."""

    factor: float | None = Field(default=None, ge=-1000, le=1000)
    """Strength (a multiplier; the sentiment shift for sentiment_swing); default: the kind's own."""


class MockSource(Model):
    """Synthetic traffic from ``telemetra produce``."""

    rate: int = Field(default=50, ge=1, le=100_000)
    """Mean events per second."""

    seed: int = Field(default=7, ge=0, le=2_147_483_647)
    """Random seed: the same seed gives the same traffic."""

    scenarios: list[Scenario] = Field(default_factory=list, max_length=50)
    """Episodes to inject."""


class SecretRef(Model):
    """Twitch Helix application credentials in a Secret of the stream's namespace."""

    name: str = Field(pattern=DNS_SUBDOMAIN, max_length=253)
    """Name of the Secret."""

    client_id_key: str = Field(default="client-id", pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)
    """Key holding the Helix client id."""

    client_secret_key: str = Field(default="client-secret", pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)
    """Key holding the Helix client secret."""


class TwitchSource(Model):
    """A live Twitch channel's chat (anonymous and read-only; viewer counts need Helix credentials)."""

    channel: str = Field(pattern=r"^[A-Za-z0-9_]{1,25}$", max_length=25)
    """Channel login, e.g. ``shroud``."""

    credentials_secret: SecretRef | None = None
    """Optional Helix credentials (viewer counts); chat needs none."""


class ConfigMapKey(Model):
    """A key of a ConfigMap in the stream's namespace."""

    name: str = Field(pattern=DNS_SUBDOMAIN, max_length=253)
    """Name of the ConfigMap."""

    key: str = Field(default="events.jsonl", pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)
    """Key holding the JSON Lines log."""


class ReplaySource(Model):
    """A recorded JSON Lines event log replayed at its original pace (or faster)."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            cel("has(self.configMap) != has(self.url)", "set exactly one of replay.configMap and replay.url")
        )
    )

    config_map: ConfigMapKey | None = None
    """The log, stored in a ConfigMap (up to 1 MiB)."""

    url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=2048)
    """The log, downloaded from this URL when the producer starts."""

    speed: float = Field(default=1.0, ge=0, le=1000)
    """1 = original pace, N = N× faster, 0 = as fast as possible."""


class Source(Model):
    """Where events come from: exactly one of mock, twitch and replay, named by type."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            cel(
                "(has(self.mock) ? 1 : 0) + (has(self.twitch) ? 1 : 0) + (has(self.replay) ? 1 : 0) == 1",
                "set exactly one of source.mock, source.twitch and source.replay",
            ),
            cel(
                "self.type == 'mock' ? has(self.mock) : self.type == 'twitch' ? has(self.twitch) "
                ": has(self.replay)",
                "source.type must name the source that is set (source.mock, source.twitch or source.replay)",
                field_path=".type",
            ),
        )
    )

    type: Literal["mock", "twitch", "replay"]
    """The kind of source; the object of the same name configures it."""

    mock: MockSource | None = None
    twitch: TwitchSource | None = None
    replay: ReplaySource | None = None


# -- Kafka -------------------------------------------------------------------------------------------------
class Kafka(Model):
    """The stream's topics (``telemetra.<streamId>.events`` and ``.dead-letter``) on a Strimzi cluster."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            cel(
                "has(self.cluster) == has(oldSelf.cluster) && (!has(self.cluster) || self.cluster == oldSelf.cluster)",
                "kafka.cluster is immutable (the topics would be left behind)",
                field_path=".cluster",
            ),
            cel(  # `namespace` is a CEL reserved word: escaped as __namespace__
                "has(self.__namespace__) == has(oldSelf.__namespace__) && "
                "(!has(self.__namespace__) || self.__namespace__ == oldSelf.__namespace__)",
                "kafka.namespace is immutable (the topics would be left behind)",
                field_path=".namespace",
            ),
        )
    )

    cluster: str | None = Field(default=None, pattern=DNS_LABEL, max_length=63)
    """Name of the Strimzi ``Kafka``; default: the operator's cluster."""

    namespace: str | None = Field(default=None, pattern=DNS_LABEL, max_length=63)
    """Namespace of that cluster (where its Topic Operator watches); default: the operator's."""

    partitions: int = Field(
        default=3,
        ge=1,
        le=1000,
        json_schema_extra=rules(
            cel("self >= oldSelf", "kafka.partitions may only grow (Kafka cannot remove partitions)")
        ),
    )
    """Partitions of the events topic (the dead-letter topic has one)."""

    replicas: int = Field(
        default=1,
        ge=1,
        le=10,
        json_schema_extra=rules(
            cel("self == oldSelf", "kafka.replicas is immutable (Strimzi needs Cruise Control to change it)")
        ),
    )
    """Replication factor of both topics; at most the number of brokers."""

    retention_hours: int = Field(default=24, ge=1, le=87_600)
    """How long events are kept."""

    dead_letter_retention_hours: int = Field(default=168, ge=1, le=87_600)
    """How long dead letters are kept."""


# -- processing --------------------------------------------------------------------------------------------
class ChatSpike(Model):
    """Chat far above its usual level, in messages over 20, 30 or 60 s (the pane checked and those before it)
    while the pane itself is still at least twice its usual count; or in one 10-s pane alone, 3× and 8
    spreads above (the analytics core's ``ChatSpike``)."""

    ratio: float = Field(default=_DEFAULT_THRESHOLDS.chat_spike.ratio, ge=1, le=1000)
    """Messages at least this many times the window's usual count …"""

    z: float = Field(default=_DEFAULT_THRESHOLDS.chat_spike.z, ge=0, le=100)
    """… and at least this many spreads above its mean (the channel's own spread of such windows, never below
    Poisson noise) …"""

    min_messages: int = Field(default=_DEFAULT_THRESHOLDS.chat_spike.min_messages, ge=0, le=1_000_000)
    """… with at least this many messages in the window."""


class ViewerSurge(Model):
    """Viewers well above their baseline."""

    ratio: float = Field(default=_DEFAULT_THRESHOLDS.viewer_surge.ratio, gt=1, le=1000)
    """Viewers at least this many times the baseline (above 1) …"""

    z: float = Field(default=_DEFAULT_THRESHOLDS.viewer_surge.z, ge=0, le=100)
    """… and at least this many robust standard deviations above it."""


class ViewerDrop(Model):
    """Viewers well below their baseline."""

    ratio: float = Field(default=_DEFAULT_THRESHOLDS.viewer_drop.ratio, gt=0, lt=1)
    """Viewers at most this fraction of the baseline (below 1) …"""

    z: float = Field(default=_DEFAULT_THRESHOLDS.viewer_drop.z, ge=0, le=100)
    """… and at least this many robust standard deviations below it."""


class RevenueSpike(Model):
    """Revenue far above its baseline, or a big gift bomb."""

    ratio: float = Field(default=_DEFAULT_THRESHOLDS.revenue_spike.ratio, ge=1, le=10_000)
    """Pane revenue at least this many times the baseline's mean …"""

    min_usd: float = Field(default=_DEFAULT_THRESHOLDS.revenue_spike.min_usd, ge=0, le=10_000_000)
    """… and at least this many US dollars."""

    gift_bomb: int = Field(default=_DEFAULT_THRESHOLDS.revenue_spike.gift_bomb, ge=1, le=100_000)
    """Subs gifted at once by one viewer that make a moment whatever the baseline."""


class SentimentSwing(Model):
    """Chat mood far from its baseline."""

    delta: float = Field(default=_DEFAULT_THRESHOLDS.sentiment_swing.delta, gt=0, le=2)
    """Trailing sentiment at least this far from the baseline median (sentiment is in [-1, 1]) …"""

    z: float = Field(default=_DEFAULT_THRESHOLDS.sentiment_swing.z, ge=0, le=100)
    """… and at least this many robust standard deviations away …"""

    min_messages: int = Field(default=_DEFAULT_THRESHOLDS.sentiment_swing.min_messages, ge=0, le=1_000_000)
    """… over at least this many messages."""


class Moments(Model):
    """Thresholds of moment detection, per kind (defaults: the analytics core's)."""

    sensitivity: Sensitivity = Field(default=_DEFAULT_THRESHOLDS.sensitivity)
    """How much evidence a chat spike needs: ``low`` scales every z and every ratio's distance from 1 of
    ``chatSpike`` (and its fixed instant and guard tests) by 1.25, for fewer, bigger moments; ``high`` by 0.8,
    for more, smaller ones (bench/results/detection.md has what each gives)."""

    chat_spike: ChatSpike = Field(default_factory=ChatSpike, json_schema_extra=default_of(ChatSpike))
    viewer_surge: ViewerSurge = Field(default_factory=ViewerSurge, json_schema_extra=default_of(ViewerSurge))
    viewer_drop: ViewerDrop = Field(default_factory=ViewerDrop, json_schema_extra=default_of(ViewerDrop))
    revenue_spike: RevenueSpike = Field(
        default_factory=RevenueSpike, json_schema_extra=default_of(RevenueSpike)
    )
    sentiment_swing: SentimentSwing = Field(
        default_factory=SentimentSwing, json_schema_extra=default_of(SentimentSwing)
    )


class Processing(Model):
    """Sliding windows, watermark and moment detection of the Spark job."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            cel(
                "self.windowSeconds % self.slideSeconds == 0",
                "processing.slideSeconds must divide processing.windowSeconds",
                field_path=".slideSeconds",
            )
        )
    )

    window_seconds: int = Field(default=_DEFAULT_ANALYTICS.window, ge=1, le=86_400)
    """Window length."""

    slide_seconds: int = Field(default=_DEFAULT_ANALYTICS.slide, ge=1, le=3600)
    """How far windows advance; must divide the window."""

    watermark_seconds: int = Field(default=int(_DEFAULT_ANALYTICS.lateness), ge=0, le=3600)
    """Allowed lateness: later events are dropped and counted."""

    trigger_interval_seconds: int = Field(default=1, ge=1, le=3600)
    """Micro-batch trigger interval: a closed window reaches the API about one interval plus one micro-batch
    after the watermark passes its end (bench/results/spark.md)."""

    top_emotes: int = Field(default=_DEFAULT_ANALYTICS.top_emotes, ge=1, le=100)
    """Emotes kept per window."""

    moments: Moments = Field(default_factory=Moments, json_schema_extra=default_of(Moments))


# -- Spark -------------------------------------------------------------------------------------------------
class PodResources(Model):
    """Resources of the Spark driver or of each executor."""

    cores: int = Field(default=1, ge=1, le=64)
    """CPU cores (Spark's ``cores``, also the pod's request)."""
    memory: str = Field(default="1g", pattern=SPARK_MEMORY, max_length=7)
    """JVM heap in Spark's notation: 512m, 1g, …"""

    core_limit: str | None = Field(default=None, pattern=CPU_QUANTITY, max_length=8)
    """CPU limit of the pod (1, 1500m, …); default: none."""
    core_request: str | None = Field(default=None, pattern=CPU_QUANTITY, max_length=8)
    """CPU request of the pod (250m, 1, …), when it should reserve less than ``cores``; default: the
    operator's ``spark_core_request`` setting, else ``cores``."""


class Spark(Model):
    """The Spark Structured Streaming job (a SparkApplication run by the Spark operator)."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            cel(
                "has(self.image) == has(self.version)",
                "set spark.image and spark.version together (the version is the image's)",
                field_path=".version",
            )
        )
    )

    image: str | None = Field(default=None, max_length=512, pattern=policy.IMAGE_PATTERN)
    """Spark image with the Telemetra job, with a tag or a digest (``REGISTRY/PATH/NAME:TAG``); default: the
    operator's. It must come from a registry the operator allows (``TELEMETRA_OPERATOR_ALLOWED_REGISTRIES``;
    the chart's admission policy refuses others at once)."""

    version: str | None = Field(default=None, pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$", max_length=16)
    """Spark version of that image."""

    driver: PodResources = Field(default_factory=PodResources, json_schema_extra=default_of(PodResources))
    executor: PodResources = Field(default_factory=PodResources, json_schema_extra=default_of(PodResources))

    executors: int = Field(default=1, ge=1, le=100)
    """Executor count; also the scale subresource (``kubectl scale``). Changing it restarts the job from
    its checkpoint, as any change of a SparkApplication does."""

    shuffle_partitions: int | None = Field(default=None, ge=1, le=10_000)
    """``spark.sql.shuffle.partitions``; default: the job's."""

    spark_conf: dict[str, Annotated[str, Field(max_length=1024)]] = Field(
        default_factory=dict,
        max_length=64,
        description=(
            "Extra Spark configuration, tuning keys only (the policy in operator/src/telemetra/operator/policy.py: "
            "nothing under spark.kubernetes., no jars, files, packages, Java options, Hadoop settings, "
            "environment or paths; the operator's own keys win). Allowed: "
            f"{policy.allowed_spark_conf()}."
        ),
        json_schema_extra=rules(*policy.spark_conf_rules()),
    )


# -- dashboard ---------------------------------------------------------------------------------------------
class Dashboard(Model):
    """A per-stream Grafana dashboard, provisioned by the Grafana sidecar from a labelled ConfigMap."""

    enabled: bool | None = None
    """Whether the stream has a dashboard of its own. Default: yes for a stream with a job of its own; a
    pooled stream is on its pool's dashboard (pick it in its ``stream`` variable), so it gets one of its own
    only when this is true."""

    folder: str = Field(default="Telemetra", min_length=1, max_length=100)
    """Grafana folder."""


# -- the spec ----------------------------------------------------------------------------------------------
class TelemetraStreamSpec(Model):
    """Desired state of one live stream's pipeline."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            cel("!(has(self.pool) && self.dedicated)", "set spec.pool or spec.dedicated, not both", ".pool"),
            cel(
                "has(self.pool) == has(oldSelf.pool)",
                "spec.pool cannot be set or removed (the stream's state is in its pool or job)",
                ".pool",
            ),
        )
    )

    stream_id: str = Field(
        pattern=STREAM_ID_PATTERN,
        max_length=40,
        json_schema_extra=rules(cel("self == oldSelf", "streamId is immutable")),
    )
    """The stream's id in events, topics and the API (a DNS label of at most 40 characters)."""

    source: Source
    kafka: Kafka = Field(default_factory=Kafka, json_schema_extra=default_of(Kafka))
    processing: Processing = Field(default_factory=Processing, json_schema_extra=default_of(Processing))
    spark: Spark = Field(default_factory=Spark, json_schema_extra=default_of(Spark))
    dashboard: Dashboard = Field(default_factory=Dashboard, json_schema_extra=default_of(Dashboard))

    pool: str | None = Field(
        default=None,
        pattern=POOL_NAME_PATTERN,
        max_length=40,
        json_schema_extra=rules(
            cel("self == oldSelf", "pool is immutable (the stream's state is in its pool)")
        ),
    )
    """The TelemetraPool (in the stream's namespace) whose shared Spark job processes this stream; default: the
    operator's default pool (the chart's ``default``). ``spec.spark`` is then unused: the pool's applies."""

    dedicated: bool = Field(
        default=False,
        json_schema_extra=rules(
            cel("self == oldSelf", "dedicated is immutable (the stream's state is in its job)")
        ),
    )
    """Process this stream in a job of its own (a pool of one, sized by ``spec.spark``): for a huge channel, or
    where the operator has no default pool."""

    state: Literal["running", "suspended"] = "running"
    """suspended stops the producer; a dedicated job is suspended too (its checkpoint is kept), a pool forgets
    the stream's open windows after its idle timeout."""

    restart_nonce: int = Field(default=0, ge=0)
    """Change it (e.g. increment) to restart the Spark job without any other change."""

    topic_deletion_policy: Literal["delete", "retain"] = "delete"
    """What happens to the Kafka topics when the stream is deleted."""

    # Typed loosely on purpose: its CRD schema is :class:`~telemetra.services.alerts.rules.AlertConfig`'s
    # (crd.alerts_schema), but a few of that model's checks are beyond a schema, and a stream whose alerts fail
    # them must keep running: the operator validates it on its own (telemetra.operator.alerts.parse).
    alerts: dict[str, Any] | None = None
    """Alerts of the stream's moments: destinations (a signed webhook, Discord, Slack; URLs and keys from
    Secrets of the stream's namespace) and the rules that route moments to them. The operator stores it where
    the platform's alert dispatcher reads it; the condition ``AlertsReady`` reports how that went (it does not
    count toward ``Ready``)."""
