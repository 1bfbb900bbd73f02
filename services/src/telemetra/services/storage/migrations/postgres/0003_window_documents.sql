-- Each window's record as the API sends it (JSON text), written with the row: a page of history is then the
-- concatenation of its rows' documents, with no JSON built per request (bench/results/api.md). Rows written
-- before this migration have none; their JSON is built from the columns when read.
ALTER TABLE window_metrics ADD COLUMN document TEXT;
