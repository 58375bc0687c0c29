-- +goose Up
-- An issuance intent is written (with its audit record) before the CA key
-- signs; the transaction that stores the certificate marks it issued. A
-- crash in between leaves it pending; on restart it is abandoned and its
-- serial stays burned. At most one live intent per request, enforced here.
CREATE TABLE issuance_intents (
    issuer_id   TEXT NOT NULL,
    serial      TEXT NOT NULL,
    request_id  TEXT NOT NULL CHECK (request_id <> ''),
    profile     TEXT NOT NULL CHECK (profile <> ''),
    spki_sha256 BLOB NOT NULL CHECK (length(spki_sha256) = 32),
    state       TEXT NOT NULL CHECK (state IN ('pending', 'issued', 'abandoned')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (issuer_id, serial),
    FOREIGN KEY (issuer_id, serial) REFERENCES serial_reservations (issuer_id, serial)
) STRICT;

CREATE UNIQUE INDEX issuance_intents_live_request ON issuance_intents (request_id) WHERE state <> 'abandoned';
CREATE INDEX issuance_intents_spki ON issuance_intents (spki_sha256) WHERE state <> 'abandoned';
CREATE INDEX issuance_intents_pending ON issuance_intents (state) WHERE state = 'pending';

-- +goose Down
DROP TABLE issuance_intents;
