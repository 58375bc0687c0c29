-- +goose Up
-- health_probe holds one row that health checks overwrite: a write that
-- fails when the database is write-locked, read-only, full or its WAL is
-- unwritable, while a read (Ping) still succeeds.
CREATE TABLE health_probe (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE health_probe;
