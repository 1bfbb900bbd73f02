"""A pool's members and the records that tell its job and its shared producer about them (pure, no I/O).

Each stream of a pool is one key (its stream id) in two compacted topics of the pool:

* ``control``: the stream's analytics settings (``AnalyticsConfig`` as JSON), read by the pool's Spark job;
  a tombstone when the stream leaves, which ends it in the job (open windows flushed, state dropped);
* ``sources``: the stream's ``spec.source`` (the CRD's JSON), read by the pool's shared producer; a tombstone
  when the stream leaves, is suspended, or has a producer of its own.

The operator keeps what it last wrote (:class:`telemetra.operator.pool_log.PoolLog`); a pass over the pool
writes only the difference between that and :func:`desired_records`, so a thousand unchanged members cost
nothing, and a change to one stream is one record that the job and the producer apply without a restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from telemetra.analytics.config import analytics_config_from_json, analytics_config_to_json
from telemetra.operator.builders.spark import analytics_config
from telemetra.operator.status import Check
from telemetra.operator.stream import Stream

CONTROL, SOURCES = "control", "sources"
OWN_REASONS = frozenset({"StreamIdConflict"})  # a member's conditions that are about it, not its pool
Key = tuple[str, str]  # (CONTROL or SOURCES, stream id)


@dataclass(frozen=True)
class Member:
    """What a pool needs to know of one of its streams (kept in the operator's index of streams)."""

    stream_id: str
    owner: str
    """``namespace/name`` of the TelemetraStream."""
    created: str
    """Its ``creationTimestamp``: of two streams with the same id in one pool, the older is the member."""
    analytics: bytes
    """The control record: its analytics settings, every field, as the job will apply them."""
    source: bytes | None
    """The sources record, when the pool's shared producer runs the source now; else None."""
    uid: str
    generation: int
    suspended: bool
    status: Mapping[str, Any] = field(compare=False)
    """Its ``.status`` as the watch last delivered it."""
    has_alerts: bool = False
    """Whether it has ``spec.alerts`` (its status then carries ``AlertsReady``)."""


def member_of(stream: Stream, body: Mapping[str, Any]) -> Member:
    config = analytics_config_from_json(analytics_config(stream))
    source = None
    if stream.shared_producer and not stream.suspended:
        source = orjson.dumps(
            stream.spec.source.model_dump(mode="json", by_alias=True, exclude_none=True),
            option=orjson.OPT_SORT_KEYS,
        )
    meta, status = body["metadata"], body.get("status") or {}
    return Member(
        stream.id,
        stream.owner,
        str(meta.get("creationTimestamp") or ""),
        analytics_config_to_json(config).encode(),
        source,
        uid=str(meta.get("uid") or ""),
        generation=stream.generation,
        suspended=stream.suspended,
        status=status,
        has_alerts=stream.spec.alerts is not None,
    )


def needs_own_loop(stream: Stream, status: Mapping[str, Any], pool_exists: bool) -> bool:
    """A stream needs a loop of its own while it has children of its own to keep (a dedicated job, its own
    producer or dashboard) or to remove (its status still lists some), or while its pool does not exist (to
    say so). A plain pooled stream has none: its pool's loop writes its status."""
    return (
        stream.pool is None
        or not stream.shared_producer
        or stream.own_dashboard
        or bool(status.get("children"))
        or not pool_exists
    )


def elect(members: Iterable[Member]) -> tuple[dict[str, Member], dict[str, Member]]:
    """The members by stream id, and the streams left out because an older one has their id (by owner)."""
    chosen: dict[str, Member] = {}
    for member in sorted(members, key=lambda m: (m.created, m.owner)):
        chosen.setdefault(member.stream_id, member)
    left_out = {m.owner: chosen[m.stream_id] for m in members if chosen[m.stream_id].owner != m.owner}
    return chosen, left_out


def desired_records(members: Mapping[str, Member]) -> dict[Key, bytes]:
    """Every live record of the pool's control and sources topics."""
    records: dict[Key, bytes] = {}
    for stream_id, member in members.items():
        records[(CONTROL, stream_id)] = member.analytics
        if member.source is not None:
            records[(SOURCES, stream_id)] = member.source
    return records


def changes(written: Mapping[Key, bytes], desired: Mapping[Key, bytes]) -> dict[Key, bytes | None]:
    """What to write so the topics hold ``desired``: new or changed values, and tombstones (None) for keys
    that must go."""
    out: dict[Key, bytes | None] = {key: value for key, value in desired.items() if written.get(key) != value}
    out.update((key, None) for key in written if key not in desired)
    return out


# -- what a pool's pass tells its streams' passes -------------------------------------------------------------
@dataclass(frozen=True)
class PoolView:
    """A pool as its last pass left it: its conditions, and what its topics hold."""

    name: str
    topics: Check
    processor: Check
    """The pool's job (ProcessorReady), before membership."""
    producer: Check
    written: Mapping[Key, bytes] = field(default_factory=dict)
    left_out: Mapping[str, Member] = field(default_factory=dict)
    """Streams of the pool that are not members (by owner): an older stream has their id."""

    def checks(self) -> tuple[Check, Check, Check, Mapping[str, Member]]:
        """What every member's status depends on (unlike ``written``, which concerns some members)."""
        return self.topics, self.processor, self.producer, self.left_out


def missing_pool(namespace: str, name: str) -> Check:
    return Check(
        "False", "PoolMissing", f"TelemetraPool {namespace}/{name} does not exist (or is not seen yet)"
    )


def _of(view: PoolView, check: Check, running: str) -> Check:
    if check.status == "True":
        return Check("True", "Running", running)
    return Check(check.status, check.reason, f"pool {view.name}: {check.message or check.reason}")


def topics_check(view: PoolView) -> Check:
    if view.topics.status == "True":
        return Check("True", "Ready", f"pool {view.name}'s topics are ready")
    return _of(view, view.topics, "")


def place(member: Member, view: PoolView) -> tuple[Check, Check, Check]:
    """The stream's TopicsReady, ProcessorReady and ProducerReady in its pool, as the pool's pass left it."""
    return (
        topics_check(view),
        processor_check(member, view),
        producer_check(member, view),
    )


def processor_check(member: Member, view: PoolView) -> Check:
    """The stream in its pool's job: a member whose settings the job has, and the job running."""
    holder = view.left_out.get(member.owner)
    if holder is not None:
        message = f"stream id {member.stream_id} is TelemetraStream {holder.owner}'s in pool {view.name}"
        return Check("False", "StreamIdConflict", message)
    if view.written.get((CONTROL, member.stream_id)) != member.analytics:
        return Check("Unknown", "Joining", f"writing the stream's settings to pool {view.name}")
    if member.suspended:
        return Check("False", "Suspended", f"the stream is suspended; pool {view.name} keeps its settings")
    return _of(view, view.processor, f"pool {view.name}'s Spark job processes the stream")


def producer_check(member: Member, view: PoolView) -> Check:
    """The stream's source in its pool's shared producer (a stream with a producer of its own: not asked)."""
    have = view.written.get((SOURCES, member.stream_id))
    if have != member.source:
        return Check(
            "Unknown",
            "Suspending" if member.suspended else "Joining",
            f"updating pool {view.name}'s producer",
        )
    if member.suspended:
        return Check("False", "Suspended", f"pool {view.name}'s producer stopped the stream's source")
    return _of(view, view.producer, f"pool {view.name}'s shared producer runs the stream's source")
