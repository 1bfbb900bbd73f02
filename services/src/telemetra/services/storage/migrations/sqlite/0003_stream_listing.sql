-- What the stream listing sorts by, kept with each stream as its windows are written: the newest closed
-- window's start (so that a re-emitted older window does not replace it), viewers and chat rate. And what its
-- search looks in: the id, title and category in lower case, apart (char(1), which a search cannot hold).
ALTER TABLE streams ADD COLUMN latest_window_start_ms INTEGER;
ALTER TABLE streams ADD COLUMN viewers INTEGER;
ALTER TABLE streams ADD COLUMN chat_rate REAL;
ALTER TABLE streams ADD COLUMN search_text TEXT GENERATED ALWAYS AS (
    lower(stream_id || char(1) || coalesce(title, '') || char(1) || coalesce(category, ''))
) VIRTUAL;

UPDATE streams SET (latest_window_start_ms, viewers, chat_rate) = (
    SELECT window_start_ms, viewers, chat_rate FROM window_metrics
    WHERE window_metrics.stream_id = streams.stream_id ORDER BY window_start_ms DESC LIMIT 1
);

-- Keyset pagination of the listing, one index per order: the key greatest first (without one: -1, last), the
-- id breaking ties (storage/listing.py). Sorted by id, the primary key serves.
CREATE INDEX streams_by_viewers ON streams (coalesce(viewers, -1) DESC, stream_id);
CREATE INDEX streams_by_chat_rate ON streams (coalesce(chat_rate, -1) DESC, stream_id);
CREATE INDEX streams_by_activity ON streams (last_activity_ms DESC, stream_id);
