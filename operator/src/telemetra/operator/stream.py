"""One TelemetraStream resolved against the operator's settings: names, labels and where things live."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel

from telemetra.operator import spec as specs
from telemetra.operator.owner import STREAM_LABEL, Owner
from telemetra.records import PoolTopics, dead_letter_topic, events_topic


@dataclass(frozen=True)
class Stream(Owner):
    """Identity and spec of one TelemetraStream, plus the settings every builder needs."""

    KIND: ClassVar[str] = specs.KIND
    SPEC: ClassVar[type[BaseModel]] = specs.TelemetraStreamSpec
    LABEL: ClassVar[str] = STREAM_LABEL

    spec: specs.TelemetraStreamSpec

    # -- identity ------------------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.spec.stream_id

    @property
    def suspended(self) -> bool:
        return self.spec.state == "suspended"

    @property
    def pool(self) -> str | None:
        """The pool that processes the stream: its own ``spec.pool``, else the operator's default pool; None
        for a dedicated job (``spec.dedicated``, or no default pool)."""
        if self.spec.dedicated:
            return None
        return self.spec.pool or self.settings.default_pool or None

    @property
    def shared_producer(self) -> bool:
        """Whether the pool's shared producer runs this stream's source: it does for a pooled stream unless
        the source needs an object of the stream's namespace (Helix credentials, a replay ConfigMap), which
        only a producer of its own, in that namespace, can mount."""
        source = self.spec.source
        own = (source.twitch is not None and source.twitch.credentials_secret is not None) or (
            source.replay is not None and source.replay.config_map is not None
        )
        return self.pool is not None and not own

    @property
    def own_dashboard(self) -> bool:
        """Whether it has a dashboard of its own (``spec.dashboard.enabled``, default: when dedicated)."""
        enabled = self.spec.dashboard.enabled
        return self.pool is None if enabled is None else enabled

    # -- names ---------------------------------------------------------------------------------------------
    @property
    def events_topic(self) -> str:
        """Where its events are produced: its pool's events topic, or its own."""
        return PoolTopics.of(self.pool).events if self.pool else events_topic(self.id)

    @property
    def dead_letter_topic(self) -> str:
        return PoolTopics.of(self.pool).dead_letter if self.pool else dead_letter_topic(self.id)

    @property
    def producer_name(self) -> str:
        return f"telemetra-{self.id}-producer"

    @property
    def spark_name(self) -> str:
        return f"telemetra-{self.id}"

    @property
    def dashboard_name(self) -> str:
        return f"telemetra-{self.id}-dashboard"

    # -- the Spark job -------------------------------------------------------------------------------------
    @property
    def spark(self) -> specs.Spark:
        return self.spec.spark

    @property
    def restart_nonce(self) -> int:
        return self.spec.restart_nonce

    @property
    def trigger_interval_seconds(self) -> int:
        return self.spec.processing.trigger_interval_seconds

    # -- Kafka ---------------------------------------------------------------------------------------------
    @property
    def topic_deletion_policy(self) -> str:
        return self.spec.topic_deletion_policy

    @property
    def kafka_cluster(self) -> str:
        return self.spec.kafka.cluster or self.settings.kafka_cluster

    @property
    def kafka_namespace(self) -> str:
        return self.spec.kafka.namespace or self.settings.kafka_namespace
