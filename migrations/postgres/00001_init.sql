-- +goose Up
-- Serials and CRL numbers are lowercase hex TEXT so that the database itself
-- enforces (issuer, serial) uniqueness for values beyond 64 bits. Serials are
-- canonical (no leading zeros, positive, at most 20 octets); CRL numbers are
-- zero-padded to 40 digits so that text order is numeric order.

CREATE TABLE cas (
    id         TEXT PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    kind       TEXT NOT NULL CHECK (kind IN ('root', 'issuing', 'management')),
    parent_id  TEXT REFERENCES cas (id),
    key_label  TEXT NOT NULL CHECK (key_label <> ''),
    cert_der   BYTEA NOT NULL CHECK (length(cert_der) > 0),
    status     TEXT NOT NULL CHECK (status IN ('active', 'retired')),
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE serial_reservations (
    issuer_id   TEXT NOT NULL REFERENCES cas (id),
    serial      TEXT NOT NULL CHECK (serial ~ '^[1-9a-f][0-9a-f]{0,39}$'),
    purpose     TEXT NOT NULL,
    reserved_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issuer_id, serial)
);

CREATE TABLE certificates (
    issuer_id         TEXT NOT NULL,
    serial            TEXT NOT NULL,
    subject           TEXT NOT NULL,
    profile           TEXT NOT NULL,
    not_before        TIMESTAMPTZ NOT NULL,
    not_after         TIMESTAMPTZ NOT NULL,
    der               BYTEA NOT NULL CHECK (length(der) > 0),
    status            TEXT NOT NULL CHECK (status IN ('valid', 'revoked', 'hold')),
    revoked_at        TIMESTAMPTZ,
    revocation_reason INTEGER CHECK (revocation_reason BETWEEN 0 AND 10 AND revocation_reason <> 7),
    PRIMARY KEY (issuer_id, serial),
    FOREIGN KEY (issuer_id, serial) REFERENCES serial_reservations (issuer_id, serial),
    CHECK (not_before <= not_after),
    -- A valid certificate carries no revocation data; a revoked or held one
    -- carries its time.
    CHECK ((status = 'valid') = (revoked_at IS NULL)),
    CHECK (status <> 'valid' OR revocation_reason IS NULL)
);

CREATE INDEX certificates_status_idx ON certificates (issuer_id, status);

CREATE TABLE crls (
    issuer_id   TEXT NOT NULL REFERENCES cas (id),
    number      TEXT NOT NULL CHECK (number ~ '^[0-9a-f]{40}$'),
    this_update TIMESTAMPTZ NOT NULL,
    next_update TIMESTAMPTZ NOT NULL,
    der         BYTEA NOT NULL CHECK (length(der) > 0),
    PRIMARY KEY (issuer_id, number),
    CHECK (this_update < next_update)
);

-- signers are the delegated OCSP responders and TSA units: a key on the
-- token and the certificate a CA of ours issued for it.
CREATE TABLE signers (
    role      TEXT NOT NULL CHECK (role IN ('ocsp', 'tsa')),
    ca_id     TEXT NOT NULL,
    serial    TEXT NOT NULL,
    key_label TEXT NOT NULL CHECK (key_label <> ''),
    cert_der  BYTEA NOT NULL CHECK (length(cert_der) > 0),
    not_after TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ca_id, serial),
    FOREIGN KEY (ca_id, serial) REFERENCES certificates (issuer_id, serial)
);

CREATE INDEX signers_role_idx ON signers (role, ca_id, not_after);

-- details is json (not jsonb): json keeps the exact text that was hashed.
CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY CHECK (seq > 0),
    time      TIMESTAMPTZ NOT NULL,
    actor     TEXT NOT NULL CHECK (actor <> ''),
    action    TEXT NOT NULL CHECK (action <> ''),
    object    TEXT NOT NULL,
    details   JSON NOT NULL,
    prev_hash BYTEA NOT NULL CHECK (length(prev_hash) = 32),
    hash      BYTEA NOT NULL CHECK (length(hash) = 32)
);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE signers;
DROP TABLE crls;
DROP TABLE certificates;
DROP TABLE serial_reservations;
DROP TABLE cas;
