"""Alerts: moments delivered to people (generic signed webhooks, Discord, Slack), at least once, never twice at
once, through a durable outbox. Issue 18, first slice: the parts below, tested; not yet wired into the modes.

Parts
-----
``rules``       (pure) a stream's AlertConfig: destinations (secrets by reference) and rules (kinds, minScore,
                quietHours); rate limits per destination. Field names are the CR's.
``payloads``    (pure) the wire format per destination type; webhook signing and :func:`payloads.verify`.
``outbox``      the outbox's interface, states and backoff; ``sqlite`` / ``postgres`` implement it (migrations
                of their own under ``migrations/``, history table ``alert_schema_migrations``).
``intake``      moments → offers (rules applied) → outbox.
``dispatcher``  outbox → HTTP, with retries, dead letters and leases; any number of replicas.
``secrets``     references → values, at send time (env variables, or mounted Secret volumes).

How moments will reach the outbox (the wiring, not done in this slice)
----------------------------------------------------------------------
Every mode writes moments through ``ServiceOutput.write_moments`` (store first, then cache). Alerting hangs off
that same call: after the store write succeeds, ``await intake.moments(moments)`` — the outbox is written after
the moment is history, and an outbox failure is handled like a store failure (buffered and retried by the
output's retrier; offers are idempotent, so a retry never doubles an alert).

* **embedded demo**: ``telemetra demo`` opens ``open_outbox(settings.store_url)`` (the same SQLite file, own
  tables), an ``AlertIntake(outbox, on_queued=dispatcher.wake)`` given to its ``ServiceOutput``, and runs
  ``Dispatcher.run(stop)`` as one more task of the demo's event loop. Alert configs come from a
  ``--alerts FILE`` (YAML/JSON of ``{stream_id: AlertConfig}``) and, later, the admin API.
* **make stack**: the Spark job's ``ServiceOutput`` gets an ``AlertIntake`` over ``open_outbox(postgres URL)``;
  the dispatcher runs in the service process (``python -m telemetra.services`` starts it when
  ``TELEMETRA_ALERTS_ENABLED``), or alone (``run_dispatcher``).
* **cluster**: the pool job's output offers (configs from the streams' CRs, handed to the job the way the
  per-stream analytics config is today: the operator's pool member document); a ``telemetra-alerts``
  Deployment runs ``run_dispatcher`` with N replicas over the platform's PostgreSQL (claims with ``FOR UPDATE
  SKIP LOCKED`` and leases: replicas never send a row at the same time), mounting the Secrets that the streams'
  destinations reference under ``TELEMETRA_ALERTS_SECRETS_DIR`` (``<dir>/<secret>/<key>``).

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
for the rest of the spec), adds the referenced Secrets to the dispatcher's volumes (``secret_refs`` already
tracks Secrets a child refers to), and hands the config to the job. An inline Discord/Slack URL, a webhook
without a signing key or a rule naming an unknown destination are rejected with a message naming the field.
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
