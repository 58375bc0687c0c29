-- +goose Up
-- leases: one holder at a time for a named job across muhrd processes
-- (the CRL producer: "crl"). A holder renews before expires_at; once it has
-- passed, another process may take the lease over.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY CHECK (name <> ''),
    holder     TEXT NOT NULL CHECK (holder <> ''),
    expires_at INTEGER NOT NULL
) STRICT;

-- The CRL walks only the revoked and held certificates of an issuer, in
-- serial order; valid ones (the vast majority) are not in this index.
CREATE INDEX certificates_revoked_idx ON certificates (issuer_id, serial) WHERE status <> 'valid';

-- +goose Down
DROP INDEX certificates_revoked_idx;
DROP TABLE leases;
