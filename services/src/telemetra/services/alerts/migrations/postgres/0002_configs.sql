-- Each stream's alerting (an AlertConfig, the CR's JSON), read by every process that offers moments. origin:
-- "api", "file", or "resource:<namespace>/<name>" (the operator, from a TelemetraStream's spec.alerts).
CREATE TABLE alert_configs (
    stream_id   TEXT        PRIMARY KEY,
    config      JSONB       NOT NULL,
    origin      TEXT        NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
