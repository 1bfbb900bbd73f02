"""Operator-wide settings from the environment (prefix ``TELEMETRA_OPERATOR_``), read once and cached."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from telemetra.operator.policy import registry_of
from telemetra.sinks.kafka_security import SaslMechanism, SecurityProtocol


class OperatorSettings(BaseSettings):
    """What every stream shares: where Kafka, the store and the images are, and how often to converge."""

    model_config = SettingsConfigDict(
        env_prefix="TELEMETRA_OPERATOR_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    # -- watching ----------------------------------------------------------------------------------------
    watch_namespace: str = ""
    """Namespace whose TelemetraStreams are handled; empty: every namespace (needs a ClusterRole)."""

    resync_seconds: float = Field(default=300.0, gt=0, le=3600)
    """Level-based safety resync: every stream is compared with all its children this often. Watch events on
    the children wake a stream at once; this interval catches whatever a watch missed."""

    progress_seconds: float = Field(default=3.0, gt=0, le=600)
    """Shorter interval used while a stream is converging (children not ready yet), so readiness shows up
    in status soon after the children report it."""

    stall_factor: float = Field(default=4.0, ge=2)
    """Liveness fails when no reconciliation finished for ``stall_factor × resync_seconds`` while streams
    exist (a stuck event loop, API client or watch)."""

    leader_election: bool = False
    """Run only while holding the ``coordination.k8s.io`` Lease ``lease_name`` in ``lease_namespace``, so
    several replicas can run: one reconciles, the others stand by and take over when its lease expires."""

    lease_name: str = "telemetra-operator"
    lease_namespace: str = ""
    """Namespace of the Lease; empty: ``watch_namespace``."""

    @property
    def lease_scope(self) -> str:
        """The Lease's namespace: ``lease_namespace``, else ``watch_namespace``, else ``default``."""
        return self.lease_namespace or self.watch_namespace or "default"

    lease_duration_seconds: float = Field(default=15.0, ge=2, le=300)
    """A standby takes over this long after the leader's last renewal (the leader renews every third of it)."""

    api_timeout_seconds: float = Field(default=30.0, gt=0)
    """Timeout of each request the operator makes to the Kubernetes API."""

    # -- endpoints ---------------------------------------------------------------------------------------
    metrics_port: int = Field(default=9090, ge=0, le=65535)
    """Prometheus metrics (``/metrics``); 0 disables them."""

    liveness_endpoint: str = "http://0.0.0.0:8080/healthz"
    """kopf's liveness endpoint; empty disables it."""

    # -- pools -------------------------------------------------------------------------------------------
    default_pool: str = Field(default="", pattern=r"^([a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?)?$")
    """TelemetraPool (in the stream's namespace) of streams that name none; empty: such a stream gets a job
    of its own, as one with ``spec.dedicated`` does. The chart sets ``default`` and creates that pool."""

    pool_sync_seconds: float = Field(default=0.5, ge=0, le=60)
    """How long a pool waits after a member changed before it writes its control records: changes that come
    together (a thousand streams applied at once) go out together."""

    member_status_concurrency: int = Field(default=16, ge=1, le=256)
    """How many status writes a pool's loop has in flight at once for its streams without a loop of their own
    (a pooled stream with no producer or dashboard of its own)."""

    # -- Kafka -------------------------------------------------------------------------------------------
    topics: Literal["strimzi", "admin"] = "strimzi"
    """How each stream's topics are managed: ``strimzi`` writes KafkaTopics for a Strimzi Topic Operator;
    ``admin`` creates, grows, configures and deletes them through the Kafka Admin API at
    :meth:`default_bootstrap` (any Kafka: a plain StatefulSet, MSK, Confluent Cloud, Redpanda)."""

    kafka_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """Timeout of each Kafka Admin API call (``admin`` mode); an unreachable Kafka becomes a condition."""

    kafka_cluster: str = "telemetra-kafka"
    """Default Strimzi Kafka cluster (the ``strimzi.io/cluster`` label) when a stream names none."""

    kafka_namespace: str = "kafka"
    """Default namespace of that cluster, where its Topic Operator watches KafkaTopics."""

    kafka_bootstrap: str = ""
    """Bootstrap address of the default cluster; empty: Strimzi's ``<cluster>-kafka-bootstrap.<ns>.svc:9092``.
    Streams on another cluster always use Strimzi's convention."""

    def is_default_cluster(self, cluster: str, namespace: str) -> bool:
        return (cluster, namespace) == (self.kafka_cluster, self.kafka_namespace)

    def bootstrap_of(self, cluster: str, namespace: str) -> str:
        """Bootstrap address of a cluster: ``kafka_bootstrap`` for the default one when set, else Strimzi's
        Service name (which the chart's StatefulSet mode gives its bootstrap Service too)."""
        if self.is_default_cluster(cluster, namespace) and self.kafka_bootstrap:
            return self.kafka_bootstrap
        return f"{cluster}-kafka-bootstrap.{namespace}.svc:9092"

    @property
    def default_bootstrap(self) -> str:
        """Bootstrap address of the default cluster (the one ``admin`` mode manages topics on)."""
        return self.bootstrap_of(self.kafka_cluster, self.kafka_namespace)

    kafka_topic_api_version: str = "kafka.strimzi.io/v1"
    """``v1`` for Strimzi ≥ 0.49 (the only version from 1.0); ``v1beta2`` for older releases."""

    # -- how the streams' pods connect to the default cluster (others: PLAINTEXT, as Strimzi's :9092) ---------
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    """``SASL_SSL``, ``SSL`` or ``SASL_PLAINTEXT`` for a secured default cluster: the producers and Spark jobs
    get ``TELEMETRA_KAFKA_*`` (:mod:`telemetra.sinks.kafka_security`), their password by Secret reference."""

    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"

    kafka_producer_user: str = ""
    """SASL user of the producers: its name, and the Secret (in the stream's namespace) whose ``password``
    key holds its password, as Strimzi's User Operator makes one per KafkaUser."""

    kafka_processor_user: str = ""
    """SASL user of the Spark jobs (same convention)."""

    kafka_ca_secret: str = ""
    """Secret (in the stream's namespace) whose ``ca.crt`` signed the brokers' certificates (Strimzi's
    ``<cluster>-cluster-ca-cert``), mounted into the pods; empty: the image's system trust store."""

    @model_validator(mode="after")
    def _kafka_users(self) -> OperatorSettings:
        sasl = self.kafka_security_protocol.startswith("SASL_")
        if sasl and not (self.kafka_producer_user and self.kafka_processor_user):
            raise ValueError(
                f"{self.kafka_security_protocol} needs kafka_producer_user and kafka_processor_user"
            )
        if self.kafka_ca_secret and not self.kafka_security_protocol.endswith("SSL"):
            raise ValueError(f"kafka_ca_secret is for SSL or SASL_SSL, not {self.kafka_security_protocol}")
        return self

    # -- the store and cache the Spark job writes to ------------------------------------------------------
    store_secret: str = "telemetra-store"
    """Secret (in the stream's namespace) whose ``store_secret_key`` holds TELEMETRA_STORE_URL."""

    store_secret_key: str = "url"
    cache_secret: str = "telemetra-cache"
    """Secret (in the stream's namespace) whose ``cache_secret_key`` holds TELEMETRA_CACHE_URL."""

    cache_secret_key: str = "url"

    # -- images ------------------------------------------------------------------------------------------
    producer_image: str = "telemetra/telemetra:0.1.0"
    """Image with the ``telemetra`` CLI (producers and ingesters)."""

    image_pull_policy: str = Field(default="IfNotPresent", pattern=r"^(Always|IfNotPresent|Never)$")

    spark_image: str = "telemetra/telemetra-spark:0.1.0"
    """Spark image with the job at ``local:///opt/telemetra/spark_main.py``; a stream may override it."""

    spark_version: str = "4.2.0"
    """Spark version of ``spark_image`` (a stream may override both)."""

    spark_packages: list[str] = Field(default_factory=list)
    """Maven packages ``spark-submit`` resolves at each submission (``{spark_version}`` is substituted), e.g.
    ``["org.apache.spark:spark-sql-kafka-0-10_2.13:{spark_version}"]`` for an image without the Kafka
    connector. Empty by default: Telemetra's Spark image bakes the connector into ``/opt/spark/jars``, so a
    submission needs neither Maven Central nor a writable Ivy cache in the Spark operator's pod."""

    spark_core_request: str = Field(default="", pattern=r"^([1-9][0-9]{0,3}|[1-9][0-9]{0,6}m)?$")
    """CPU request of drivers and executors whose stream sets none (e.g. ``250m`` on a small cluster, where
    a whole core per pod would not fit); empty: each pod requests its ``cores``."""

    spark_service_account: str = "telemetra-spark"
    """ServiceAccount of the Spark driver (it creates executor pods; the chart grants that)."""

    # -- what streams may run ------------------------------------------------------------------------------
    allowed_registries: list[str] = Field(default_factory=list)
    """Registries (or registry paths, or repositories) a stream's ``spec.spark.image`` may come from, as a JSON
    list: ``ghcr.io/telemetra`` allows ``ghcr.io/telemetra/…:TAG`` (a path boundary, not a string prefix).
    Empty: the path of ``spark_image`` (``ghcr.io/telemetra`` for ``ghcr.io/telemetra/telemetra-spark:1``; the
    repository itself for a bare ``telemetra-spark:dev``). A stream with another image is refused
    (``ProcessorReady=False``, reason ``PolicyViolation``, no SparkApplication)."""

    @property
    def image_registries(self) -> list[str]:
        """The effective allowlist of stream images."""
        return list(self.allowed_registries) or [registry_of(self.spark_image)]

    spark_run_as_user: int = Field(default=185, ge=1, le=2_147_483_647)
    """uid (and gid, fsGroup) of the Spark driver and executor pods: the ``spark`` user of Telemetra's Spark
    image. The pods run as non-root with a read-only root filesystem (``/tmp`` and the work dir are emptyDirs)."""

    producer_run_as_user: int = Field(default=10001, ge=1, le=2_147_483_647)
    """uid (and gid) of the producer pods: the ``telemetra`` user of the producer image."""

    # -- Spark checkpoints ---------------------------------------------------------------------------------
    checkpoint_base_uri: str = "s3a://telemetra/checkpoints"
    """Durable base URI; each stream checkpoints under ``<base>/<namespace>/<streamId>``."""

    checkpoint_claim: str = ""
    """PersistentVolumeClaim mounted at the path of a ``file://`` base URI (driver and executors)."""

    job_metrics_port: int = Field(default=9108, ge=1, le=65535)
    """Port of each Spark job's Prometheus metrics on its driver (the chart's PodMonitor scrapes it; the
    operator reads a pool's events/s and lag from it)."""

    # -- Grafana -------------------------------------------------------------------------------------------
    grafana_folder_annotation: str = "grafana_folder"
    """Annotation the Grafana dashboard sidecar reads the folder from (``sidecar.dashboards.folderAnnotation``)."""

    prometheus_datasource_uid: str = "prometheus"

    # -- alerts --------------------------------------------------------------------------------------------
    alerts_outbox_url: SecretStr = SecretStr("")
    """The alert outbox's database (``postgresql://…``, the platform's PostgreSQL, which the alert dispatcher
    reads), where the operator keeps each stream's ``spec.alerts`` (table ``alert_configs``). Empty: alerting is
    not installed, and a stream with ``spec.alerts`` says so (``AlertsReady=False``, ``AlertingNotInstalled``).
    It holds a password: never logged or echoed."""


@lru_cache(maxsize=1)
def get_settings() -> OperatorSettings:
    """The settings of this process (tests build ``OperatorSettings(...)`` directly instead)."""
    return OperatorSettings()
