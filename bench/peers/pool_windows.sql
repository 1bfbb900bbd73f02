-- Where the peers of the pool job store their closed windows (bench/pool_throughput.py creates it; the peers
-- create it too when run on their own). One row per (engine, stream, window), upserted: a replay after a
-- crash (at-least-once) rewrites the same rows.
CREATE TABLE IF NOT EXISTS pool_windows (
    engine          text             NOT NULL,
    stream_id       text             NOT NULL,
    window_start    timestamptz      NOT NULL,
    window_end      timestamptz      NOT NULL,
    events          integer          NOT NULL,  -- every event of the window, of any type
    messages        integer          NOT NULL,  -- chat messages
    unique_chatters integer          NOT NULL,  -- distinct user_id among them (exact)
    sentiment       double precision,           -- mean sentiment score of the messages (NULL without any)
    positive        integer          NOT NULL,
    neutral         integer          NOT NULL,
    negative        integer          NOT NULL,
    by_type         jsonb            NOT NULL,  -- events by type: {"chat": n, "viewers": n, …}
    transactions    jsonb            NOT NULL,  -- transactions by kind: {"sub": n, "bits": n, …}
    stored_at       timestamptz      NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (engine, stream_id, window_start)
);
