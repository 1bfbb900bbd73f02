-- Where a moment is in the broadcast (issue 18): seconds from the stream's start, and its Twitch VOD link.
-- Moments stored before them have neither.
ALTER TABLE moments ADD COLUMN offset_seconds INTEGER, ADD COLUMN vod_url TEXT;
