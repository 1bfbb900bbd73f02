-- Times are integer milliseconds since the epoch (UTC); JSON columns hold text.
CREATE TABLE streams (
    stream_id      TEXT PRIMARY KEY,
    title          TEXT,
    category       TEXT,
    first_seen_ms  INTEGER NOT NULL,
    last_activity_ms INTEGER NOT NULL
);

CREATE TABLE window_metrics (
    stream_id        TEXT    NOT NULL,
    window_start_ms  INTEGER NOT NULL,
    window_end_ms    INTEGER NOT NULL,
    messages         INTEGER NOT NULL,
    chat_rate        REAL    NOT NULL,
    unique_chatters  INTEGER NOT NULL,
    top_emotes       TEXT    NOT NULL,
    sentiment        REAL,
    positive         INTEGER NOT NULL,
    neutral          INTEGER NOT NULL,
    negative         INTEGER NOT NULL,
    viewers          INTEGER,
    viewers_max      INTEGER,
    revenue_usd      REAL    NOT NULL,
    transactions     TEXT    NOT NULL,
    late_events      INTEGER NOT NULL,
    bits             INTEGER NOT NULL,
    emote_total      INTEGER NOT NULL,
    final            INTEGER NOT NULL,
    PRIMARY KEY (stream_id, window_start_ms)
) WITHOUT ROWID;

CREATE TABLE moments (
    moment_id       TEXT PRIMARY KEY,
    stream_id       TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    start_ms        INTEGER NOT NULL,
    end_ms          INTEGER NOT NULL,
    metric          TEXT    NOT NULL,
    value           REAL    NOT NULL,
    baseline        REAL    NOT NULL,
    score           REAL    NOT NULL,
    threshold       REAL    NOT NULL,
    description     TEXT    NOT NULL,
    peak_at_ms      INTEGER NOT NULL,
    detected_at_ms  INTEGER NOT NULL,
    ongoing         INTEGER NOT NULL
);

-- Newest-first listing per stream, with the id as the tie-breaker of the keyset cursor.
CREATE INDEX moments_by_stream ON moments (stream_id, start_ms DESC, moment_id DESC);
