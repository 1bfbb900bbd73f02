-- One row per (moment, destination): the idempotency key. See alerts/outbox.py for the states.
CREATE TABLE alert_outbox (
    moment_id        TEXT        NOT NULL,
    destination      TEXT        NOT NULL,
    stream_id        TEXT        NOT NULL,
    kind             TEXT        NOT NULL,
    target           JSONB       NOT NULL,  -- the destination as configured (references to secrets, never values)
    editable         BOOLEAN     NOT NULL,
    moment           JSONB       NOT NULL,  -- the newest version of the moment
    peak_at          TIMESTAMPTZ NOT NULL,  -- a later one means the moment grew
    state            TEXT        NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'suppressed')),
    reason           TEXT,
    revision         INTEGER     NOT NULL DEFAULT 1,
    sent_revision    INTEGER     NOT NULL DEFAULT 0,
    remote_id        TEXT,                  -- Discord's message id, to edit it
    attempts         INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    lease_owner      TEXT,
    lease_until      TIMESTAMPTZ,
    claim            TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    delivered_at     TIMESTAMPTZ,
    PRIMARY KEY (moment_id, destination)
);

-- What dispatchers claim: due pending rows, the longest-waiting first.
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at) WHERE state = 'pending';
-- Rate limits count a destination's recent alerts.
CREATE INDEX alert_outbox_recent ON alert_outbox (stream_id, destination, created_at);
CREATE INDEX alert_outbox_updated ON alert_outbox (updated_at DESC);

-- The delivery log: every attempt, append-only.
CREATE TABLE alert_attempts (
    id           BIGSERIAL        PRIMARY KEY,
    moment_id    TEXT             NOT NULL,
    destination  TEXT             NOT NULL,
    revision     INTEGER          NOT NULL,
    attempt      INTEGER          NOT NULL,
    at           TIMESTAMPTZ      NOT NULL,
    outcome      TEXT             NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
    status       INTEGER,
    error        TEXT,
    duration_ms  DOUBLE PRECISION NOT NULL
);
CREATE INDEX alert_attempts_by_row ON alert_attempts (moment_id, destination, id);
