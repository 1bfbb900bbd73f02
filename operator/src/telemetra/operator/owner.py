"""What owns children: a TelemetraStream or a TelemetraPool, resolved against the operator's settings. Both
give their children the same labels, owner references and owner annotation, and both may run a Spark job."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import BaseModel

from telemetra.operator.settings import OperatorSettings
from telemetra.operator.spec import API_VERSION, GROUP, Spark

MANAGER = "telemetra-operator"  # app.kubernetes.io/managed-by and the server-side apply field manager
STREAM_LABEL = "telemetra.io/stream"
POOL_LABEL = "telemetra.io/pool"
OWNER_ANNOTATION = "telemetra.io/owner"  # the owner's key (Owner.owner), also across namespaces
OWNER_NAMESPACE_LABEL = "telemetra.io/owner-namespace"


@dataclass(frozen=True)
class Owner(ABC):
    """Identity of a Telemetra object, and where its children live."""

    KIND: ClassVar[str]
    LABEL: ClassVar[str]  # the label naming it on its children: telemetra.io/stream or telemetra.io/pool
    SPEC: ClassVar[type[BaseModel]]  # the model of its spec

    name: str
    namespace: str
    uid: str
    generation: int
    settings: OperatorSettings

    @classmethod
    def from_body(cls, body: Mapping[str, Any], settings: OperatorSettings) -> Self:
        meta = body["metadata"]
        return cls(
            name=meta["name"],
            namespace=meta["namespace"],
            uid=meta["uid"],
            generation=int(meta.get("generation") or 0),
            settings=settings,
            spec=cls.SPEC.model_validate(body.get("spec") or {}),  # type: ignore[call-arg]  # the subclass's field
        )

    # -- identity ------------------------------------------------------------------------------------------
    @property
    @abstractmethod
    def id(self) -> str:
        """The stream id, or the pool's name: what its children's names and topics are made of."""
        raise NotImplementedError

    @property
    def owner(self) -> str:
        """Its key in annotations, logs and metrics: ``namespace/name`` for a stream, ``namespace/pools/name``
        for a pool (names cannot hold a slash, so the two never collide)."""
        return key_of(self.KIND, self.namespace, self.name)

    @property
    def suspended(self) -> bool:
        return False

    def owner_reference(self) -> dict[str, Any]:
        """Same-namespace children are garbage-collected with their owner."""
        return {
            "apiVersion": API_VERSION,
            "kind": self.KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def named_by(self, ref: Mapping[str, Any]) -> bool:
        """Whether the owner reference ``ref`` names this object, this or a former incarnation (one of the same
        name, deleted and created again: owner references never leave their namespace)."""
        group = str(ref.get("apiVersion") or "").split("/")[0]
        return (group, ref.get("kind"), ref.get("name")) == (GROUP, self.KIND, self.name)

    def labels(self, component: str) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": "telemetra",
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": "telemetra",
            "app.kubernetes.io/managed-by": MANAGER,
            self.LABEL: self.id,
            OWNER_NAMESPACE_LABEL: self.namespace,
        }

    def metadata(self, name: str, component: str, *, namespace: str | None = None) -> dict[str, Any]:
        """Metadata of a child; only children in the owner's own namespace get an owner reference."""
        meta: dict[str, Any] = {
            "name": name,
            "namespace": namespace or self.namespace,
            "labels": self.labels(component),
            "annotations": {OWNER_ANNOTATION: self.owner},
        }
        if meta["namespace"] == self.namespace:
            meta["ownerReferences"] = [self.owner_reference()]
        return meta

    # -- the Spark job -------------------------------------------------------------------------------------
    @property
    @abstractmethod
    def spark(self) -> Spark:
        raise NotImplementedError

    @property
    @abstractmethod
    def spark_name(self) -> str:
        raise NotImplementedError

    @property
    @abstractmethod
    def restart_nonce(self) -> int:
        raise NotImplementedError

    @property
    @abstractmethod
    def trigger_interval_seconds(self) -> int:
        raise NotImplementedError

    @property
    def checkpoint_dir(self) -> str:
        return f"{self.settings.checkpoint_base_uri.rstrip('/')}/{self.namespace}/{self.id}"

    # -- Kafka ---------------------------------------------------------------------------------------------
    @property
    @abstractmethod
    def topic_deletion_policy(self) -> str:
        """What happens to its topics when it is deleted: ``delete`` or ``retain``."""
        raise NotImplementedError

    @property
    def kafka_cluster(self) -> str:
        return self.settings.kafka_cluster

    @property
    def kafka_namespace(self) -> str:
        return self.settings.kafka_namespace

    @property
    def kafka_bootstrap(self) -> str:
        return self.settings.bootstrap_of(self.kafka_cluster, self.kafka_namespace)


def key_of(kind: str, namespace: str, name: str) -> str:
    """The key of a stream (``namespace/name``) or of a pool (``namespace/pools/name``)."""
    return f"{namespace}/{name}" if kind == "TelemetraStream" else f"{namespace}/pools/{name}"


def owner_label(key: str) -> str:
    """``TelemetraStream ns/name`` or ``TelemetraPool ns/name`` for an owner's key."""
    namespace, _, rest = key.partition("/")
    if rest.startswith("pools/"):
        return f"TelemetraPool {namespace}/{rest.removeprefix('pools/')}"
    return f"TelemetraStream {key}"
