-- +goose Up
-- See migrations/sqlite/00003_issuance.sql: intents written before the CA
-- key signs, at most one live intent per request.
CREATE TABLE issuance_intents (
    issuer_id   text NOT NULL,
    serial      text NOT NULL,
    request_id  text NOT NULL CHECK (request_id <> ''),
    profile     text NOT NULL CHECK (profile <> ''),
    spki_sha256 bytea NOT NULL CHECK (length(spki_sha256) = 32),
    state       text NOT NULL CHECK (state IN ('pending', 'issued', 'abandoned')),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (issuer_id, serial),
    FOREIGN KEY (issuer_id, serial) REFERENCES serial_reservations (issuer_id, serial)
);

CREATE UNIQUE INDEX issuance_intents_live_request ON issuance_intents (request_id) WHERE state <> 'abandoned';
CREATE INDEX issuance_intents_spki ON issuance_intents (spki_sha256) WHERE state <> 'abandoned';
CREATE INDEX issuance_intents_pending ON issuance_intents (state) WHERE state = 'pending';

-- +goose Down
DROP TABLE issuance_intents;
