-- +goose Up
-- See migrations/sqlite/00008_health_probe.sql: one row health checks
-- overwrite, so health tells a database that takes writes.
CREATE TABLE health_probe (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE health_probe;
