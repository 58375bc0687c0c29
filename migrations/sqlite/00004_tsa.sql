-- +goose Up
-- The timestamp ledger: one row per token the TSA issued, committed before
-- the token is sent. The serial is the primary key on its own (not per TSA
-- unit), so a serial can never be used twice by any unit, process or restart
-- of the center: a token whose row does not commit is never released.
-- Serials are canonical lowercase hex like the certificate serials.
CREATE TABLE tsa_tokens (
    serial          TEXT PRIMARY KEY CHECK (length(serial) BETWEEN 1 AND 40 AND serial NOT GLOB '*[^0-9a-f]*' AND serial NOT GLOB '0*'),
    gen_time        INTEGER NOT NULL,
    hash_alg        TEXT NOT NULL CHECK (hash_alg <> '' AND hash_alg NOT GLOB '*[^0-9.]*'),
    message_imprint BLOB NOT NULL CHECK (length(message_imprint) BETWEEN 1 AND 64),
    policy          TEXT NOT NULL CHECK (policy <> '' AND policy NOT GLOB '*[^0-9.]*'),
    requester       TEXT NOT NULL,
    signer_ca_id    TEXT NOT NULL,
    signer_serial   TEXT NOT NULL,
    token_der       BLOB NOT NULL CHECK (length(token_der) > 0),
    issued_at       INTEGER NOT NULL,
    FOREIGN KEY (signer_ca_id, signer_serial) REFERENCES signers (ca_id, serial)
) STRICT;

-- An auditor holding a document asks for the tokens over its hash.
CREATE INDEX tsa_tokens_imprint ON tsa_tokens (message_imprint);

-- +goose Down
DROP TABLE tsa_tokens;
