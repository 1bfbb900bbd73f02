-- One row per (moment, destination): the idempotency key. See alerts/outbox.py for the states. Times are epoch ms.
CREATE TABLE alert_outbox (
    moment_id           TEXT    NOT NULL,
    destination         TEXT    NOT NULL,
    stream_id           TEXT    NOT NULL,
    kind                TEXT    NOT NULL,
    target              TEXT    NOT NULL,  -- JSON: the destination as configured (references, never values)
    editable            INTEGER NOT NULL,
    moment              TEXT    NOT NULL,  -- JSON: the newest version of the moment
    peak_at_ms          INTEGER NOT NULL,  -- a later one means the moment grew
    state               TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'suppressed')),
    reason              TEXT,
    revision            INTEGER NOT NULL DEFAULT 1,
    sent_revision       INTEGER NOT NULL DEFAULT 0,
    remote_id           TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms  INTEGER NOT NULL,
    lease_owner         TEXT,
    lease_until_ms      INTEGER,
    claim               TEXT,
    created_at_ms       INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL,
    delivered_at_ms     INTEGER,
    PRIMARY KEY (moment_id, destination)
);

CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at_ms) WHERE state = 'pending';
CREATE INDEX alert_outbox_recent ON alert_outbox (stream_id, destination, created_at_ms);
CREATE INDEX alert_outbox_updated ON alert_outbox (updated_at_ms DESC);

CREATE TABLE alert_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    moment_id    TEXT    NOT NULL,
    destination  TEXT    NOT NULL,
    revision     INTEGER NOT NULL,
    attempt      INTEGER NOT NULL,
    at_ms        INTEGER NOT NULL,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
    status       INTEGER,
    error        TEXT,
    duration_ms  REAL    NOT NULL
);
CREATE INDEX alert_attempts_by_row ON alert_attempts (moment_id, destination, id);
