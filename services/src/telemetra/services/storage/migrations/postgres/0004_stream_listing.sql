-- What the stream listing sorts by, kept with each stream as its windows are written: the newest closed
-- window's start (so that a re-emitted older window does not replace it), viewers and chat rate. And what its
-- search looks in: the id, title and category in lower case, apart (chr(1), which a search cannot hold).
ALTER TABLE streams
    ADD COLUMN latest_window_start TIMESTAMPTZ,
    ADD COLUMN viewers             INTEGER,
    ADD COLUMN chat_rate           DOUBLE PRECISION,
    ADD COLUMN search_text         TEXT GENERATED ALWAYS AS (
        lower(stream_id || chr(1) || coalesce(title, '') || chr(1) || coalesce(category, ''))
    ) STORED;

UPDATE streams
SET latest_window_start = newest.window_start, viewers = newest.viewers, chat_rate = newest.chat_rate
FROM (
    SELECT DISTINCT ON (stream_id) stream_id, window_start, viewers, chat_rate
    FROM window_metrics ORDER BY stream_id, window_start DESC
) AS newest
WHERE newest.stream_id = streams.stream_id;

-- Keyset pagination of the listing, one index per order: the key greatest first (without one: -1, last), the
-- id breaking ties (storage/listing.py). Sorted by id, the primary key serves.
CREATE INDEX streams_by_viewers ON streams ((coalesce(viewers, -1)) DESC, stream_id);
CREATE INDEX streams_by_chat_rate ON streams ((coalesce(chat_rate, -1)) DESC, stream_id);
CREATE INDEX streams_by_activity ON streams (last_activity DESC, stream_id);
