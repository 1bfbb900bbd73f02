-- What the engine reports of a stream: its window geometry (NULL until described: the engine's defaults).
ALTER TABLE streams ADD COLUMN window_seconds INTEGER;
ALTER TABLE streams ADD COLUMN slide_seconds INTEGER;

-- Inputs that broke the contract, by their stable id; stream_id is '' when the stream is unknown. Not
-- WITHOUT ROWID: raw can be large (up to 128 KiB of input).
CREATE TABLE dead_letters (
    letter_id      TEXT PRIMARY KEY,
    stream_id      TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    raw            TEXT,
    raw_encoding   TEXT    NOT NULL,
    raw_bytes      INTEGER NOT NULL,
    raw_truncated  INTEGER NOT NULL,
    stored_at_ms   INTEGER NOT NULL
);

-- Newest-first listing per stream (and counts per stream), with the id as the tie-breaker; and of all streams.
CREATE INDEX dead_letters_by_stream ON dead_letters (stream_id, stored_at_ms DESC, letter_id DESC);
CREATE INDEX dead_letters_by_time ON dead_letters (stored_at_ms DESC, letter_id DESC);
