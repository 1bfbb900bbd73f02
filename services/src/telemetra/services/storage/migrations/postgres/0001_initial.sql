-- Real timestamps and JSONB, so Grafana's PostgreSQL data source can chart the tables directly.
CREATE TABLE streams (
    stream_id      TEXT PRIMARY KEY,
    title          TEXT,
    category       TEXT,
    first_seen     TIMESTAMPTZ NOT NULL,
    last_activity  TIMESTAMPTZ NOT NULL
);

CREATE TABLE window_metrics (
    stream_id        TEXT             NOT NULL,
    window_start     TIMESTAMPTZ      NOT NULL,
    window_end       TIMESTAMPTZ      NOT NULL,
    messages         INTEGER          NOT NULL,
    chat_rate        DOUBLE PRECISION NOT NULL,
    unique_chatters  INTEGER          NOT NULL,
    top_emotes       JSONB            NOT NULL,
    sentiment        DOUBLE PRECISION,
    positive         INTEGER          NOT NULL,
    neutral          INTEGER          NOT NULL,
    negative         INTEGER          NOT NULL,
    viewers          INTEGER,
    viewers_max      INTEGER,
    revenue_usd      DOUBLE PRECISION NOT NULL,
    transactions     JSONB            NOT NULL,
    late_events      INTEGER          NOT NULL,
    bits             INTEGER          NOT NULL,
    emote_total      INTEGER          NOT NULL,
    final            BOOLEAN          NOT NULL,
    PRIMARY KEY (stream_id, window_start)
);

CREATE TABLE moments (
    moment_id    TEXT PRIMARY KEY,
    stream_id    TEXT             NOT NULL,
    kind         TEXT             NOT NULL,
    start_at     TIMESTAMPTZ      NOT NULL,
    end_at       TIMESTAMPTZ      NOT NULL,
    metric       TEXT             NOT NULL,
    value        DOUBLE PRECISION NOT NULL,
    baseline     DOUBLE PRECISION NOT NULL,
    score        DOUBLE PRECISION NOT NULL,
    threshold    DOUBLE PRECISION NOT NULL,
    description  TEXT             NOT NULL,
    peak_at      TIMESTAMPTZ      NOT NULL,
    detected_at  TIMESTAMPTZ      NOT NULL,
    ongoing      BOOLEAN          NOT NULL
);

-- Newest-first listing per stream, with the id as the tie-breaker of the keyset cursor.
CREATE INDEX moments_by_stream ON moments (stream_id, start_at DESC, moment_id DESC);
