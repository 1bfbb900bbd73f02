"""Alerts: moments delivered to people (generic signed webhooks, Discord, Slack), at least once, never twice at
once, through a durable outbox. Issue 18: wired into every mode (below).

Parts
-----
``rules``       (pure) a stream's AlertConfig: destinations (secrets by reference) and rules (kinds, minScore,
                quietHours); rate limits per destination. Field names are the CR's.
``payloads``    (pure) the wire format per destination type; webhook signing and :func:`payloads.verify`.
``outbox``      the outbox's interface, states and backoff, and the stream configs stored beside it
                (``alert_configs``: :class:`StoredConfig`, ``set_config``/``configs``); ``sqlite`` / ``postgres``
                implement it (migrations of their own under ``migrations/``, history table
                ``alert_schema_migrations``).
``intake``      moments → offers (rules applied) → outbox; reads the configs from the outbox every
                ``rules_refresh_s``.
``dispatcher``  outbox → HTTP, with retries, dead letters and leases; any number of replicas.
``secrets``     references → values, at send time (env variables; Secrets mounted as files or read from the
                Kubernetes API).
``metrics``     the dispatcher's Prometheus metrics and its ``/health``, ``/metrics`` app.

The wiring
----------
**Where configs live.** Each stream's AlertConfig is a row of ``alert_configs`` in the outbox's database
(``outbox.set_config(stream_id, config, origin, now)``; None deletes), with its origin: ``api`` (the admin API,
``PUT /api/v1/admin/streams/{id}/alerts``), ``file`` (``telemetra demo --alerts FILE``) or
``resource:<namespace>/<name>`` (the operator, from a TelemetraStream's ``spec.alerts``; the admin API refuses
to change those with 409). Every process that offers moments runs an :class:`AlertIntake`, which reads the
configs at start and again every ``rules_refresh_s`` (5 s): a change reaches every mode within that, without a
restart. An outbox that cannot be read keeps the configs last read. A stream without a config costs nothing.

**How moments reach the outbox.** Every mode writes moments through ``ServiceOutput.write_moments`` (store first,
then cache). After the store write succeeds, the output offers them: ``await intake.moments(moments)`` — the
outbox is written after the moment is history, and an outbox failure is handled like a store failure (buffered
and retried by the output's retrier; offers are idempotent, so a retry never doubles an alert). The output
starts and closes its intake (its refresh); an owned output (the Spark job's) also its outbox.

* **embedded demo**: ``telemetra demo`` opens the outbox in its SQLite file (own tables), writes the
  ``--alerts FILE`` configs (JSON: ``{stream_id: AlertConfig}``) as ``file`` rows (replacing those of an
  earlier file), gives an ``AlertIntake(outbox, on_queued=dispatcher.wake)`` to its ``ServiceOutput`` and runs
  ``Dispatcher.run(stop)`` as one more task of its event loop. Its API serves the admin endpoints over the same
  database.
* **make stack**: the Spark job's output (``open_output(settings, AlertSettings())``) offers into the outbox in
  the PostgreSQL store; the stack runs ``run_dispatcher`` as a task of its own process (elsewhere: ``telemetra
  alerts dispatch`` with ``TELEMETRA_ALERTS_OUTBOX_URL``); configs come from the admin API.
* **cluster**: the operator writes each TelemetraStream's ``spec.alerts`` as a ``resource:<ns>/<name>`` row, its
  Secret references namespaced to the stream's namespace (:meth:`AlertConfig.in_namespace`); the pool job's
  ServiceOutput offers; a ``telemetra-alerts`` Deployment runs ``telemetra alerts dispatch`` with N replicas over
  the platform's PostgreSQL (claims with ``FOR UPDATE SKIP LOCKED`` and leases: replicas never send a row at
  the same time), reading the Secrets from the API server (``TELEMETRA_ALERTS_SECRETS_SOURCE=kubernetes``: its
  service account needs ``get`` on Secrets in the streams' namespaces; values cached 30 s, so a rotation is
  picked up within that) and serving ``/health`` and ``/metrics`` (``telemetra_alert_deliveries_total{type,
  outcome}``, ``telemetra_alert_delivery_seconds``, ``telemetra_alert_outbox_rows{state}``,
  ``telemetra_alert_dispatcher_up``) on ``TELEMETRA_ALERTS_METRICS_HOST:PORT`` (9465).

The admin API also shows the delivery log (``GET /api/v1/admin/alerts/deliveries``, keyset-paged; one alert's
attempts) and requeues a dead alert (``POST …/{moment_id}/{destination}/requeue``).

How the CR maps to it
---------------------
``spec.alerts`` of a TelemetraStream *is* an :class:`AlertConfig` (camelCase aliases)::

    spec:
      alerts:
        destinations:
          - name: mods-discord
            type: discord
            urlFrom: {name: stream-alerts, key: discord-url}       # a Secret in the stream's namespace
            rateLimit: {max: 10, perSeconds: 3600}
          - name: editors
            type: webhook
            url: https://editors.example.com/hooks/telemetra
            signingSecretFrom: {name: stream-alerts, key: webhook-key}
        rules:
          - name: big-moments
            kinds: [chat_spike, raid]
            minScore: 0
            quietHours: ["03:00-09:00"]
            destinations: [mods-discord, editors]

The operator validates it with ``AlertConfig.model_validate`` (the CRD schema comes from the same models, as
for the rest of the spec; ``SecretRef.namespace`` is hidden from it: a stream names Secrets of its own namespace
only) and stores ``config.in_namespace(stream's namespace)`` with origin ``resource:<namespace>/<name>``
(deleting the row when the stream or its ``spec.alerts`` goes). An inline Discord/Slack URL, a webhook without a
signing key or a rule naming an unknown destination are rejected with a message naming the field.
"""

from __future__ import annotations

from telemetra.services.alerts.dispatcher import Dispatcher, run_dispatcher
from telemetra.services.alerts.intake import AlertIntake
from telemetra.services.alerts.outbox import Delivery, DeliveryRecord, Outbox, StoredConfig, open_outbox
from telemetra.services.alerts.rules import AlertConfig, Destination, RateLimit, Rule, SecretRef
from telemetra.services.alerts.secrets import SecretResolver
from telemetra.services.alerts.settings import AlertSettings

__all__ = [
    "AlertConfig",
    "AlertIntake",
    "AlertSettings",
    "Delivery",
    "DeliveryRecord",
    "Destination",
    "Dispatcher",
    "Outbox",
    "RateLimit",
    "Rule",
    "SecretRef",
    "SecretResolver",
    "StoredConfig",
    "open_outbox",
    "run_dispatcher",
]
