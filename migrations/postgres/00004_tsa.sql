-- +goose Up
-- See migrations/sqlite/00004_tsa.sql: one row per issued token, committed
-- before the token is sent; the serial alone is the primary key.
CREATE TABLE tsa_tokens (
    serial          text PRIMARY KEY CHECK (serial ~ '^[1-9a-f][0-9a-f]{0,39}$'),
    gen_time        timestamptz NOT NULL,
    hash_alg        text NOT NULL CHECK (hash_alg ~ '^[0-9]+(\.[0-9]+)+$'),
    message_imprint bytea NOT NULL CHECK (length(message_imprint) BETWEEN 1 AND 64),
    policy          text NOT NULL CHECK (policy ~ '^[0-9]+(\.[0-9]+)+$'),
    requester       text NOT NULL,
    signer_ca_id    text NOT NULL,
    signer_serial   text NOT NULL,
    token_der       bytea NOT NULL CHECK (length(token_der) > 0),
    issued_at       timestamptz NOT NULL,
    FOREIGN KEY (signer_ca_id, signer_serial) REFERENCES signers (ca_id, serial)
);

CREATE INDEX tsa_tokens_imprint ON tsa_tokens (message_imprint);

-- +goose Down
DROP TABLE tsa_tokens;
