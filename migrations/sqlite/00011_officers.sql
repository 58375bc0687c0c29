-- +goose Up
-- Registration officers: a row per person who may call the officer API. The
-- client certificate alone is not enough: its SHA-256 fingerprint must name
-- an active row, read on every request. roles is a comma-separated sorted
-- list of registrar, approver, auditor, admin. Uniqueness is in named
-- indexes (not column UNIQUE), so both dialects name them alike.
CREATE TABLE officers (
    id             TEXT PRIMARY KEY CHECK (id <> ''),
    name           TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    cert_sha256    TEXT NOT NULL CHECK (length(cert_sha256) = 64 AND cert_sha256 NOT GLOB '*[^0-9a-f]*'),
    cert_issuer_id TEXT,
    cert_serial    TEXT,
    cert_der       BLOB,
    roles          TEXT NOT NULL CHECK (roles <> ''),
    active         INTEGER NOT NULL CHECK (active IN (0, 1)),
    created_at     INTEGER NOT NULL,
    created_by     TEXT NOT NULL CHECK (created_by <> ''),
    deactivated_at INTEGER,
    deactivated_by TEXT,
    FOREIGN KEY (cert_issuer_id, cert_serial) REFERENCES certificates (issuer_id, serial),
    CHECK ((active = 1) = (deactivated_at IS NULL))
) STRICT;
CREATE UNIQUE INDEX officers_name ON officers (name);
CREATE UNIQUE INDEX officers_cert_sha256 ON officers (cert_sha256);

-- The officer API's TLS server certificate (issued by the management CA,
-- key on the token), found again at the next start.
CREATE TABLE listener_certs (
    name      TEXT NOT NULL CHECK (name <> ''),
    issuer_id TEXT NOT NULL,
    serial    TEXT NOT NULL,
    key_label TEXT NOT NULL CHECK (key_label <> ''),
    not_after INTEGER NOT NULL,
    PRIMARY KEY (issuer_id, serial),
    FOREIGN KEY (issuer_id, serial) REFERENCES certificates (issuer_id, serial)
) STRICT;
CREATE INDEX listener_certs_name ON listener_certs (name, not_after);

-- +goose Down
DROP TABLE listener_certs;
DROP TABLE officers;
