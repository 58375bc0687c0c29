-- +goose Up
-- See migrations/sqlite/00011_officers.sql.
CREATE TABLE officers (
    id             TEXT PRIMARY KEY CHECK (id <> ''),
    name           TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    cert_sha256    TEXT NOT NULL CHECK (cert_sha256 ~ '^[0-9a-f]{64}$'),
    cert_issuer_id TEXT,
    cert_serial    TEXT,
    cert_der       BYTEA,
    roles          TEXT NOT NULL CHECK (roles <> ''),
    active         INTEGER NOT NULL CHECK (active IN (0, 1)),
    created_at     TIMESTAMPTZ NOT NULL,
    created_by     TEXT NOT NULL CHECK (created_by <> ''),
    deactivated_at TIMESTAMPTZ,
    deactivated_by TEXT,
    FOREIGN KEY (cert_issuer_id, cert_serial) REFERENCES certificates (issuer_id, serial),
    CHECK ((active = 1) = (deactivated_at IS NULL))
);
CREATE UNIQUE INDEX officers_name ON officers (name);
CREATE UNIQUE INDEX officers_cert_sha256 ON officers (cert_sha256);

CREATE TABLE listener_certs (
    name      TEXT NOT NULL CHECK (name <> ''),
    issuer_id TEXT NOT NULL,
    serial    TEXT NOT NULL,
    key_label TEXT NOT NULL CHECK (key_label <> ''),
    not_after TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issuer_id, serial),
    FOREIGN KEY (issuer_id, serial) REFERENCES certificates (issuer_id, serial)
);
CREATE INDEX listener_certs_name ON listener_certs (name, not_after);

-- +goose Down
DROP TABLE listener_certs;
DROP TABLE officers;
