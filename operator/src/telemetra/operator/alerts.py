"""A TelemetraStream's ``spec.alerts`` → the platform's alert configs (pure, no I/O).

The alert dispatcher and whatever offers moments to the outbox (the pool jobs) read each stream's
:class:`~telemetra.services.alerts.rules.AlertConfig` from the table ``alert_configs`` beside the outbox, in the
platform's PostgreSQL. The operator keeps the rows of its streams there (origin ``resource:<namespace>/<name>``),
level-based like everything else it does (:mod:`telemetra.operator.alert_sync` runs it):

* **desired**: for every stream with ``spec.alerts``, its config with every Secret reference in the stream's
  namespace (:meth:`AlertConfig.in_namespace`), keyed by stream id. Suspended streams keep theirs: a suspended
  stream produces no moments, so it sends nothing anyway, and resuming it needs no rewrite.
* **compared** with the rows as last read or written (:func:`plan`); only the difference is written. A row of a
  stream deleted, or whose ``spec.alerts`` was removed, is deleted; a row of another origin (``api``, ``file``)
  is never touched unless a stream with alerts has its id: the CR is the source of truth, and takes it over.
* **invalid** alerts (:func:`parse`: what the CRD's schema and CEL rules cannot say) leave the stream's row as it
  is: the last valid configuration stays in effect, and ``AlertsReady`` says what is wrong and where.
* two streams with the same id: the older one's alerts apply (as in a pool); the other is told so.

The condition ``AlertsReady`` (:func:`verdict`) is on streams with ``spec.alerts`` only. It does not count toward
``Ready`` or the lifecycle state: a stream whose alerts cannot be delivered still processes its events and serves
its moments, and should not look down.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from telemetra.operator import pool_spec
from telemetra.operator import status as st
from telemetra.operator.owner import key_of
from telemetra.operator.stream import Stream
from telemetra.services.alerts.outbox import RESOURCE, StoredConfig, config_json
from telemetra.services.alerts.rules import AlertConfig

CONDITION: Final = st.ALERTS_READY
FIELD: Final = "spec.alerts"


@dataclass(frozen=True)
class Wanted:
    """What a stream with ``spec.alerts`` asks for (kept in the operator's index of streams)."""

    owner: str
    """``namespace/name`` of the TelemetraStream."""
    namespace: str
    stream_id: str
    created: str
    """Its ``creationTimestamp``: of two streams with the same id, the older one's alerts apply."""
    generation: int
    config: AlertConfig | None
    """The config as stored (Secret references in the stream's namespace); None when invalid."""
    invalid: str | None = None
    """What is wrong, and where (a field path and the rule; never a value)."""
    loop: str | None = None
    """The key of the loop that writes the stream's status when it has no loop of its own: its pool's."""
    uid: str = ""
    reported: tuple[str, str, str] | None = None
    """``AlertsReady`` as the stream's status showed it when indexed: (status, reason, message)."""

    @property
    def origin(self) -> str:
        return f"{RESOURCE}{self.owner}"

    @property
    def stored(self) -> str | None:
        """The config as the table holds it (JSON), the form compared with a row."""
        return None if self.config is None else config_json(self.config)

    def secrets(self) -> list[tuple[str, str]]:
        """``(Secret name, who needs it)`` for every Secret the config names, in order."""
        if self.config is None:
            return []
        found = []
        for destination in self.config.destinations:
            for ref in (destination.url_from, destination.signing_secret_from):
                if ref is not None and ref.name is not None:
                    found.append((ref.name, f"destination {destination.name}"))
        return found


def parse(alerts: Mapping[str, Any], namespace: str) -> tuple[AlertConfig | None, str | None]:
    """``spec.alerts`` as the dispatcher will read it, or what is wrong with it: the first error's field path and
    rule (errors of the alerts models never repeat a value; a URL may carry a token)."""
    try:
        config = AlertConfig.model_validate(alerts)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        return None, f"{path_of(first['loc'])}: {first['msg'].removeprefix('Value error, ')}"
    for index, destination in enumerate(config.destinations):
        for name, ref in (
            ("urlFrom", destination.url_from),
            ("signingSecretFrom", destination.signing_secret_from),
        ):
            if (
                ref is not None and ref.env is not None
            ):  # the CRD has no env; an older or bypassed schema might
                where = path_of(("destinations", index, name, "env"))
                return None, f"{where}: a TelemetraStream names Secrets of its namespace (name and key) only"
    return config.in_namespace(namespace), None


def path_of(loc: Sequence[int | str]) -> str:
    """``("destinations", 0, "urlFrom")`` → ``spec.alerts.destinations[0].urlFrom``."""
    text = FIELD
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def wanted_of(stream: Stream, body: Mapping[str, Any]) -> Wanted | None:
    """What ``stream`` (of ``body``) asks for; None when it has no ``spec.alerts``."""
    if stream.spec.alerts is None:
        return None
    config, invalid = parse(stream.spec.alerts, stream.namespace)
    meta = body.get("metadata") or {}
    found = st.condition(body.get("status") or {}, CONDITION)
    return Wanted(
        stream.owner,
        stream.namespace,
        stream.id,
        created=str(meta.get("creationTimestamp") or ""),
        generation=stream.generation,
        config=config,
        invalid=invalid,
        loop=key_of(pool_spec.KIND, stream.namespace, stream.pool) if stream.pool else None,
        uid=str(meta.get("uid") or ""),
        reported=(str(found["status"]), str(found["reason"]), str(found.get("message") or ""))
        if found
        else None,
    )


# -- the difference ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Write:
    """One row to write: a config of ``origin``, or the row deleted (``config`` None)."""

    stream_id: str
    origin: str
    config: AlertConfig | None
    replaces: str | None = None
    """The origin of another source's row that this one takes over (logged)."""


@dataclass(frozen=True)
class Plan:
    writes: list[Write] = field(default_factory=list)
    chosen: Mapping[str, Wanted] = field(default_factory=dict)
    """The stream whose alerts apply, by stream id."""
    left_out: Mapping[str, Wanted] = field(default_factory=dict)
    """Streams whose id an older stream with alerts has (by owner): the holder."""


def elect(wanted: Iterable[Wanted]) -> tuple[dict[str, Wanted], dict[str, Wanted]]:
    """The stream whose alerts apply for each id (the oldest), and the others with the holder, by owner."""
    everyone = sorted(wanted, key=lambda w: (w.created, w.owner))
    chosen: dict[str, Wanted] = {}
    for w in everyone:
        chosen.setdefault(w.stream_id, w)
    left_out = {w.owner: chosen[w.stream_id] for w in everyone if chosen[w.stream_id].owner != w.owner}
    return chosen, left_out


def plan(wanted: Iterable[Wanted], rows: Mapping[str, StoredConfig]) -> Plan:
    """What to write so the table holds what the streams ask: their configs where they differ (or another
    source's row has their id), and deletions of operator rows no stream asks for. An invalid config leaves its
    stream's row alone."""
    chosen, left_out = elect(wanted)
    writes = []
    for stream_id, w in sorted(chosen.items()):
        if w.config is None:
            continue
        row = rows.get(stream_id)
        if row is None or row.origin != w.origin or config_json(row.config) != w.stored:
            replaces = row.origin if row is not None and not row.origin.startswith(RESOURCE) else None
            writes.append(Write(stream_id, w.origin, w.config, replaces))
    for stream_id, row in sorted(rows.items()):
        if row.origin.startswith(RESOURCE) and stream_id not in chosen:
            writes.append(Write(stream_id, row.origin, None))
    return Plan(writes, chosen, left_out)


def applied(rows: dict[str, StoredConfig], write: Write, now: float) -> None:
    """``rows`` as they are once ``write`` succeeded."""
    if write.config is None:
        rows.pop(write.stream_id, None)
    else:
        rows[write.stream_id] = StoredConfig(write.stream_id, write.config, write.origin, now)


# -- the condition -------------------------------------------------------------------------------------------
NEEDS_A_PERSON = frozenset({"InvalidAlerts", "StreamIdConflict", "AlertingNotInstalled"})  # no retry helps
NOT_INSTALLED = st.Check(
    "False",
    "AlertingNotInstalled",
    "the operator has no alert outbox (TELEMETRA_OPERATOR_ALERTS_OUTBOX_URL): install the chart with "
    "alerts.enabled",
)


def verdict(
    w: Wanted,
    rows: Mapping[str, StoredConfig] | None,
    left_out: Mapping[str, Wanted],
    missing: Iterable[str],
    outbox_error: str | None,
) -> st.Check:
    """``AlertsReady`` of the stream ``w`` after a pass: ``rows`` as the table holds them (None: never read),
    ``missing`` the names of Secrets in its namespace that do not exist, ``outbox_error`` why the table could not
    be read or written."""
    row = (rows or {}).get(w.stream_id)
    mine = row is not None and row.origin == w.origin
    if w.invalid is not None:
        kept = "; the last valid configuration stays in effect" if mine else ""
        return st.Check("False", "InvalidAlerts", f"{w.invalid}{kept}")
    holder = left_out.get(w.owner)
    if holder is not None:
        message = f"stream id {w.stream_id}'s alerts are TelemetraStream {holder.owner}'s (the older one)"
        return st.Check("False", "StreamIdConflict", message)
    if outbox_error is not None or rows is None:
        return st.Check("False", "OutboxUnavailable", f"the alert outbox: {outbox_error or 'not read yet'}")
    if not mine or row is None or config_json(row.config) != w.stored:
        return st.Check("Unknown", "Syncing", "writing the stream's alerts to the alert outbox")
    absent = set(missing)
    needs = [(who, name) for name, who in w.secrets() if name in absent]
    secrets = st.secrets_check(w.namespace, needs)
    if secrets is not None:
        return secrets
    assert w.config is not None
    count = f"{_count(len(w.config.destinations), 'destination')}, {_count(len(w.config.rules), 'rule')}"
    return st.Check("True", "Configured", f"{count}; the alert dispatcher reads them from the alert outbox")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def condition_of(
    has_alerts: bool,
    found: tuple[int, st.Check] | None,
    generation: int,
    previous: Mapping[str, Any],
) -> st.Check | None:
    """The stream's ``AlertsReady`` as a pass of its own loop (or its pool's) writes it: None without
    ``spec.alerts``; the alerts pass's verdict for this generation (``found``: the generation it judged, and the
    check); else what the status already says for this generation (an operator restart changes nothing), else
    Unknown until the alerts pass has judged it."""
    if not has_alerts:
        return None
    if found is not None and found[0] == generation:
        return found[1]
    before = st.condition(previous, CONDITION) or {}
    if before and before.get("observedGeneration") == generation:
        return st.Check(before["status"], before["reason"], before.get("message", ""))
    return st.Check("Unknown", "Syncing", "writing the stream's alerts to the alert outbox")
