"""Topics through the Kafka Admin API (``TELEMETRA_OPERATOR_TOPICS=admin``), for any Kafka: the chart's plain
StatefulSet, MSK, Confluent Cloud, Redpanda.

:func:`plan_topic` decides, without I/O, what one pass does to one topic and how ready it is then: create it
(replication factor capped at the brokers there are), add partitions (never remove them: a topic with more
partitions than asked is reported, not shrunk), set its configs when they differ. :class:`KafkaAdmin` is the
I/O around it: one ``AIOKafkaAdminClient`` per operator process, shared by every stream, each call bounded by
a timeout; whatever goes wrong becomes a :class:`KafkaAdminError` with a condition reason and a message
without secrets, never a crash. It connects with the operator's own credentials (``TELEMETRA_KAFKA_*``, see
:mod:`telemetra.sinks.kafka_security`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, NodeNotReadyError, for_code

from telemetra.operator.builders.topics import TopicSpec
from telemetra.operator.status import Check, TopicObservation
from telemetra.sinks.kafka_security import KafkaSecurity, refusal

T = TypeVar("T")
CLIENT_ID = "telemetra-operator"
MIN_ISR = "min.insync.replicas"
UNKNOWN_TOPIC = 3  # UNKNOWN_TOPIC_OR_PARTITION
TOPIC_EXISTS = 36  # TOPIC_ALREADY_EXISTS: created by someone else (or a previous pass) meanwhile
UNREACHABLE = (KafkaConnectionError, NodeNotReadyError, KafkaTimeoutError)


class KafkaAdminError(Exception):
    """Kafka did not answer or refused a request. ``reason`` is the condition reason (``KafkaUnreachable``,
    ``KafkaAuthenticationFailed`` or ``KafkaRequestFailed``); the message names the address and the request,
    never a credential."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@contextlib.asynccontextmanager
async def kafka_request(bootstrap: str, what: str, seconds: float) -> AsyncIterator[None]:
    """The body runs one Kafka request within ``seconds``; whatever fails becomes a :class:`KafkaAdminError`
    naming the address and ``what`` (never a credential)."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        message = f"Kafka at {bootstrap} did not answer within {seconds:g} s ({what})"
        raise KafkaAdminError("KafkaUnreachable", message) from None
    except UNREACHABLE as exc:
        message = f"cannot reach Kafka at {bootstrap} ({what}): {type(exc).__name__}"
        raise KafkaAdminError("KafkaUnreachable", message) from None
    except KafkaError as exc:
        raise KafkaAdminError(
            "KafkaRequestFailed", f"Kafka at {bootstrap} refused to {what}: {exc}"
        ) from None


# -- planning (pure) -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LiveTopic:
    """What Kafka reports about an existing topic."""

    partitions: int
    replicas: int
    """Replication factor (the smallest replica set among its partitions)."""
    leaderless: int
    """Partitions without a leader (just created, or brokers down)."""
    config: Mapping[str, str]
    """The values of the configs the stream sets."""
    error: str = ""
    """The error Kafka reports for its metadata (e.g. LEADER_NOT_AVAILABLE right after creation)."""


@dataclass(frozen=True)
class TopicPlan:
    """What one pass does to one topic, and its readiness once done."""

    topic: TopicSpec
    replicas: int
    """Replication factor it is created with, or has."""
    config: Mapping[str, str]
    """Its configs as Kafka stores them (strings)."""
    observation: TopicObservation
    create: bool = False
    grow: bool = False
    alter: bool = False


def kafka_config(topic: TopicSpec, replicas: int) -> dict[str, str]:
    """The topic's configs as strings; ``min.insync.replicas`` at most the replication factor, or acknowledged
    writes (acks=all) would be refused."""
    config = {key: str(value) for key, value in topic.config.items()}
    if MIN_ISR in config:
        config[MIN_ISR] = str(min(int(config[MIN_ISR]), replicas))
    return config


def plan_topic(topic: TopicSpec, live: LiveTopic | None, brokers: int) -> TopicPlan:
    """``brokers`` matters only for a missing topic: its replication factor is capped at the broker count."""
    if live is None:
        return _creation(topic, max(1, min(topic.replicas, brokers)), brokers)
    if live.error:  # nothing to decide on until Kafka describes the topic
        check = Check("Unknown", "Pending", f"{topic.name}: Kafka reports {live.error}")
        return TopicPlan(topic, live.replicas, {}, TopicObservation(topic.name, check))
    config = kafka_config(topic, live.replicas)
    changed = sorted(key for key, value in config.items() if live.config.get(key) != value)
    observation = _observe(topic, live, changed)
    return TopicPlan(
        topic,
        live.replicas,
        config,
        observation,
        grow=live.partitions < topic.partitions,
        alter=bool(changed),
    )


def _creation(topic: TopicSpec, replicas: int, brokers: int) -> TopicPlan:
    capped = (
        f" (spec.kafka.replicas is {topic.replicas}; Kafka has {brokers} broker(s))"
        if replicas < topic.replicas
        else ""
    )
    message = f"creating {topic.name}: {topic.partitions} partition(s), replication factor {replicas}{capped}"
    observation = TopicObservation(topic.name, Check("Unknown", "Creating", message))
    return TopicPlan(topic, replicas, kafka_config(topic, replicas), observation, create=True)


def _observe(topic: TopicSpec, live: LiveTopic, changed: Sequence[str]) -> TopicObservation:
    name = topic.name
    if live.partitions > topic.partitions:
        message = (
            f"{name} has {live.partitions} partitions and {topic.partitions} are asked for: Kafka cannot remove "
            f"partitions, so it keeps {live.partitions} (ask for at least {live.partitions}, or delete the topic)"
        )
        return TopicObservation(name, Check("False", "PartitionsCannotShrink", message))
    updates = (
        [f"partitions {live.partitions} → {topic.partitions}"] if live.partitions < topic.partitions else []
    )
    updates += [f"setting {', '.join(changed)}"] if changed else []
    if updates:
        return TopicObservation(name, Check("Unknown", "Updating", f"{name}: {'; '.join(updates)}"))
    if live.leaderless:
        message = f"{name}: {live.leaderless} partition(s) without a leader"
        return TopicObservation(name, Check("Unknown", "Pending", message))
    if live.replicas < topic.replicas:
        note = f"{name} (replication factor {live.replicas}; spec.kafka.replicas is {topic.replicas})"
        return TopicObservation(name, Check("True", "Ready", note))
    return TopicObservation(name, Check("True", "Ready", name))


# -- I/O -----------------------------------------------------------------------------------------------------
class KafkaAdmin:
    """The Admin API client of this operator process, started on first use and shared by every stream.
    ``security`` defaults to the environment's (:meth:`KafkaSecurity.from_env`)."""

    def __init__(self, bootstrap: str, timeout_seconds: float, security: KafkaSecurity | None = None):
        self.bootstrap, self.timeout_seconds = bootstrap, timeout_seconds
        self.security = KafkaSecurity.from_env() if security is None else security
        self._admin: AIOKafkaAdminClient | None = None
        self._lock = asyncio.Lock()

    async def ensure(self, topics: Sequence[TopicSpec]) -> list[TopicObservation]:
        """Create, grow and configure ``topics`` as :func:`plan_topic` decides; their readiness."""
        live = await self._describe(topics)
        missing = [topic for topic in topics if live[topic.name] is None]
        brokers = await self._brokers() if missing else 0
        plans = [plan_topic(topic, live[topic.name], brokers) for topic in topics]
        await self._create([p for p in plans if p.create])
        await self._grow([p for p in plans if p.grow])
        await self._alter([p for p in plans if p.alter])
        return [plan.observation for plan in plans]

    async def delete(self, names: Sequence[str]) -> list[str]:
        """Delete the topics; the names of those that existed."""
        timeout_ms = int(self.timeout_seconds * 1000)
        response = await self._call(
            "delete topics", lambda admin: admin.delete_topics(list(names), timeout_ms)
        )
        entries = [(name, code, "") for name, code, *_ in response.topic_error_codes]
        self._raise_errors("delete topics", entries, ignore=(UNKNOWN_TOPIC,))
        return [name for name, code, _ in entries if code == 0]

    async def close(self) -> None:
        async with self._lock:
            if self._admin is not None:
                await self._admin.close()
                self._admin = None

    # -- requests ----------------------------------------------------------------------------------------
    async def _describe(self, topics: Sequence[TopicSpec]) -> dict[str, LiveTopic | None]:
        """Configs first: they tell which topics exist without the metadata request's side effect (a broker
        with auto.create.topics.enable would create a missing topic it is asked about)."""
        keys = dict.fromkeys(key for topic in topics for key in topic.config)
        resources = [ConfigResource(ConfigResourceType.TOPIC, topic.name, configs=keys) for topic in topics]
        responses = await self._call(
            "describe topic configs", lambda admin: admin.describe_configs(resources)
        )
        results = [result for response in responses for result in response.resources]
        self._raise_errors(
            "describe topic configs", [(r[3], r[0], r[1]) for r in results], ignore=(UNKNOWN_TOPIC,)
        )
        configs = {r[3]: {entry[0]: entry[1] for entry in r[4]} for r in results if r[0] == 0}
        live: dict[str, LiveTopic | None] = dict.fromkeys((topic.name for topic in topics), None)
        if configs:
            metadata = await self._call("describe topics", lambda admin: admin.describe_topics(list(configs)))
            for entry in metadata:
                if entry["error_code"] != UNKNOWN_TOPIC:
                    live[entry["topic"]] = _live_topic(entry, configs[entry["topic"]])
        return live

    async def _brokers(self) -> int:
        cluster = await self._call("describe the cluster", lambda admin: admin.describe_cluster())
        return len(cluster["brokers"])

    async def _create(self, plans: Sequence[TopicPlan]) -> None:
        if not plans:
            return
        new = [
            NewTopic(p.topic.name, p.topic.partitions, p.replicas, topic_configs=dict(p.config))
            for p in plans
        ]
        response = await self._call("create topics", lambda admin: admin.create_topics(new))
        entries = [
            (entry[0], entry[1], entry[2] if len(entry) > 2 else "") for entry in response.topic_errors
        ]
        self._raise_errors("create topics", entries, ignore=(TOPIC_EXISTS,))

    async def _grow(self, plans: Sequence[TopicPlan]) -> None:
        if plans:
            counts = {p.topic.name: NewPartitions(p.topic.partitions) for p in plans}
            await self._call("add partitions", lambda admin: admin.create_partitions(counts))

    async def _alter(self, plans: Sequence[TopicPlan]) -> None:
        """AlterConfigs sets a topic's whole config: the stream's keys are all the topic has."""
        if not plans:
            return
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, p.topic.name, configs=dict(p.config)) for p in plans
        ]
        responses = await self._call("alter topic configs", lambda admin: admin.alter_configs(resources))
        entries = [(r[3], r[0], r[1]) for response in responses for r in response.resources]
        self._raise_errors("alter topic configs", entries)

    async def _call(self, what: str, request: Callable[[AIOKafkaAdminClient], Awaitable[T]]) -> T:
        """One request, the client started first if need be, all within the timeout."""
        async with kafka_request(self.bootstrap, what, self.timeout_seconds):
            return await request(await self._client())

    async def _client(self) -> AIOKafkaAdminClient:
        async with self._lock:
            if self._admin is None:
                try:
                    security = self.security.aiokafka_options()
                except ValueError as exc:  # an unreadable CA file
                    raise KafkaAdminError("KafkaUnreachable", f"Kafka at {self.bootstrap}: {exc}") from None
                admin = AIOKafkaAdminClient(
                    bootstrap_servers=self.bootstrap,
                    client_id=CLIENT_ID,
                    request_timeout_ms=int(self.timeout_seconds * 1000),
                    **security,
                )
                try:
                    await admin.start()
                except BaseException as exc:
                    await admin.close()
                    refused = (
                        await refusal(self.bootstrap, self.security) if isinstance(exc, KafkaError) else None
                    )
                    if refused is not None:  # not unreachable: turned away (credentials, TLS)
                        raise KafkaAdminError("KafkaAuthenticationFailed", str(refused)) from None
                    raise
                self._admin = admin
            return self._admin

    def _raise_errors(
        self, what: str, entries: Iterable[tuple[str, int, str]], ignore: Iterable[int] = ()
    ) -> None:
        """``entries``: (topic, Kafka error code, message) of a response; codes in ``ignore`` are fine."""
        failed = [(name, code, message) for name, code, message in entries if code not in (0, *ignore)]
        if failed:
            details = "; ".join(
                f"{name}: {for_code(code).message} {message or ''}".rstrip() for name, code, message in failed
            )
            raise KafkaAdminError(
                "KafkaRequestFailed", f"Kafka at {self.bootstrap} refused to {what}: {details}"
            )


def _live_topic(metadata: Mapping[str, Any], config: Mapping[str, str]) -> LiveTopic:
    """One topic of a metadata response."""
    partitions: Sequence[Mapping[str, Any]] = metadata["partitions"]
    code = metadata["error_code"]
    return LiveTopic(
        partitions=len(partitions),
        replicas=min((len(p["replicas"]) for p in partitions), default=0),
        leaderless=sum(1 for p in partitions if p["leader"] < 0),
        config=config,
        error=for_code(code).message if code else "",
    )
