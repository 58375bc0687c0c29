-- +goose Up
-- See migrations/sqlite/00009_leases.sql: named leases (one CRL producer
-- across muhrd processes) and the index of revoked and held certificates.
CREATE TABLE leases (
    name       text PRIMARY KEY CHECK (name <> ''),
    holder     text NOT NULL CHECK (holder <> ''),
    expires_at timestamptz NOT NULL
);

CREATE INDEX certificates_revoked_idx ON certificates (issuer_id, serial) WHERE status <> 'valid';

-- +goose Down
DROP INDEX certificates_revoked_idx;
DROP TABLE leases;
