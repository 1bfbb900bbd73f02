"""One TelemetraPool resolved against the operator's settings: names, labels and where things live."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel

from telemetra.operator import pool_spec
from telemetra.operator.owner import POOL_LABEL, Owner
from telemetra.operator.spec import Spark
from telemetra.records import PoolTopics


@dataclass(frozen=True)
class Pool(Owner):
    """Identity and spec of one TelemetraPool. Its topics are on the operator's default Kafka cluster."""

    KIND: ClassVar[str] = pool_spec.KIND
    SPEC: ClassVar[type[BaseModel]] = pool_spec.TelemetraPoolSpec
    LABEL: ClassVar[str] = POOL_LABEL

    spec: pool_spec.TelemetraPoolSpec

    @property
    def id(self) -> str:
        return self.name

    @property
    def topics(self) -> PoolTopics:
        return PoolTopics.of(self.name)

    @property
    def spark_name(self) -> str:
        return f"telemetra-pool-{self.name}"

    @property
    def producer_name(self) -> str:
        """The shared producer: it runs the sources of the members that need nothing from their namespace."""
        return f"telemetra-pool-{self.name}-producer"

    @property
    def dashboard_name(self) -> str:
        return f"telemetra-pool-{self.name}-dashboard"

    @property
    def spark(self) -> Spark:
        return self.spec.spark

    @property
    def restart_nonce(self) -> int:
        return self.spec.restart_nonce

    @property
    def trigger_interval_seconds(self) -> int:
        return self.spec.trigger_interval_seconds

    @property
    def topic_deletion_policy(self) -> str:
        return self.spec.topic_deletion_policy

    @property
    def checkpoint_dir(self) -> str:
        return f"{self.settings.checkpoint_base_uri.rstrip('/')}/{self.namespace}/pools/{self.name}"
