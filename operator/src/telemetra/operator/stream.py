"""One TelemetraStream resolved against the operator's settings: names, labels and where things live."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telemetra.operator import spec as specs
from telemetra.operator.settings import OperatorSettings
from telemetra.records import dead_letter_topic, events_topic

MANAGER = "telemetra-operator"  # app.kubernetes.io/managed-by and the server-side apply field manager
STREAM_LABEL = "telemetra.io/stream"
OWNER_ANNOTATION = "telemetra.io/owner"  # <namespace>/<name> of the TelemetraStream (also cross-namespace)
OWNER_NAMESPACE_LABEL = "telemetra.io/owner-namespace"


@dataclass(frozen=True)
class Stream:
    """Identity and spec of one TelemetraStream, plus the settings every builder needs."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: specs.TelemetraStreamSpec
    settings: OperatorSettings

    @classmethod
    def from_body(cls, body: Mapping[str, Any], settings: OperatorSettings) -> Stream:
        meta = body["metadata"]
        return cls(
            name=meta["name"],
            namespace=meta["namespace"],
            uid=meta["uid"],
            generation=int(meta.get("generation") or 0),
            spec=specs.TelemetraStreamSpec.model_validate(body.get("spec") or {}),
            settings=settings,
        )

    # -- identity ------------------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.spec.stream_id

    @property
    def owner(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def suspended(self) -> bool:
        return self.spec.state == "suspended"

    def owner_reference(self) -> dict[str, Any]:
        """Same-namespace children are garbage-collected with the stream."""
        return {
            "apiVersion": specs.API_VERSION,
            "kind": specs.KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def named_by(self, ref: Mapping[str, Any]) -> bool:
        """Whether the owner reference ``ref`` names this stream, this or a former incarnation (a stream of the
        same name, deleted and created again: owner references never leave their namespace)."""
        group = str(ref.get("apiVersion") or "").split("/")[0]
        return (group, ref.get("kind"), ref.get("name")) == (specs.GROUP, specs.KIND, self.name)

    def labels(self, component: str) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": "telemetra",
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": "telemetra",
            "app.kubernetes.io/managed-by": MANAGER,
            STREAM_LABEL: self.id,
            OWNER_NAMESPACE_LABEL: self.namespace,
        }

    def metadata(self, name: str, component: str, *, namespace: str | None = None) -> dict[str, Any]:
        """Metadata of a child; only children in the stream's own namespace get an owner reference."""
        meta: dict[str, Any] = {
            "name": name,
            "namespace": namespace or self.namespace,
            "labels": self.labels(component),
            "annotations": {OWNER_ANNOTATION: self.owner},
        }
        if meta["namespace"] == self.namespace:
            meta["ownerReferences"] = [self.owner_reference()]
        return meta

    # -- names ---------------------------------------------------------------------------------------------
    @property
    def events_topic(self) -> str:
        return events_topic(self.id)

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.id)

    @property
    def producer_name(self) -> str:
        return f"telemetra-{self.id}-producer"

    @property
    def spark_name(self) -> str:
        return f"telemetra-{self.id}"

    @property
    def dashboard_name(self) -> str:
        return f"telemetra-{self.id}-dashboard"

    # -- Kafka ---------------------------------------------------------------------------------------------
    @property
    def kafka_cluster(self) -> str:
        return self.spec.kafka.cluster or self.settings.kafka_cluster

    @property
    def kafka_namespace(self) -> str:
        return self.spec.kafka.namespace or self.settings.kafka_namespace

    @property
    def kafka_bootstrap(self) -> str:
        return self.settings.bootstrap_of(self.kafka_cluster, self.kafka_namespace)

    @property
    def checkpoint_dir(self) -> str:
        return f"{self.settings.checkpoint_base_uri.rstrip('/')}/{self.namespace}/{self.id}"
