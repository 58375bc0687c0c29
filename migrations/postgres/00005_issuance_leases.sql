-- +goose Up
-- See migrations/sqlite/00005_issuance_leases.sql: issuer holders with a
-- lease, the holder and request hash of each intent, one live intent per key.
CREATE TABLE issuance_holders (
    id         text PRIMARY KEY CHECK (length(id) BETWEEN 16 AND 64),
    issuer_id  text NOT NULL REFERENCES cas (id),
    info       text NOT NULL,
    started_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

ALTER TABLE issuance_intents ADD COLUMN holder_id text REFERENCES issuance_holders (id);
ALTER TABLE issuance_intents ADD COLUMN request_sha256 bytea CHECK (request_sha256 IS NULL OR length(request_sha256) = 32);
ALTER TABLE issuance_intents ADD COLUMN legacy_key_duplicate integer NOT NULL DEFAULT 0 CHECK (legacy_key_duplicate IN (0, 1));
UPDATE issuance_intents SET legacy_key_duplicate = 1
WHERE state <> 'abandoned' AND EXISTS (
    SELECT 1 FROM issuance_intents o
    WHERE o.spki_sha256 = issuance_intents.spki_sha256 AND o.state <> 'abandoned'
      AND (o.created_at, o.issuer_id, o.serial) < (issuance_intents.created_at, issuance_intents.issuer_id, issuance_intents.serial));

CREATE UNIQUE INDEX issuance_intents_live_key ON issuance_intents (spki_sha256)
    WHERE state <> 'abandoned' AND legacy_key_duplicate = 0;
CREATE INDEX issuance_intents_pending_holder ON issuance_intents (holder_id) WHERE state = 'pending';

-- +goose Down
DROP INDEX issuance_intents_pending_holder;
DROP INDEX issuance_intents_live_key;
ALTER TABLE issuance_intents DROP COLUMN legacy_key_duplicate;
ALTER TABLE issuance_intents DROP COLUMN request_sha256;
ALTER TABLE issuance_intents DROP COLUMN holder_id;
DROP TABLE issuance_holders;
