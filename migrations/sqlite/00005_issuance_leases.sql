-- +goose Up
-- Issuance across processes. Each ca.Issuer registers a holder with a lease
-- it renews while alive; its intents name it. Recovery abandons a pending
-- intent only once its holder's lease has run out (the process is gone), never
-- a live one. Each intent also keeps a hash of the request's content
-- (key, profile, identity, QSCD), so a request id reused with other content
-- is refused instead of answered with the first certificate.
CREATE TABLE issuance_holders (
    id         TEXT PRIMARY KEY CHECK (length(id) BETWEEN 16 AND 64),
    issuer_id  TEXT NOT NULL REFERENCES cas (id),
    info       TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

ALTER TABLE issuance_intents ADD COLUMN holder_id TEXT REFERENCES issuance_holders (id);
ALTER TABLE issuance_intents ADD COLUMN request_sha256 BLOB CHECK (request_sha256 IS NULL OR length(request_sha256) = 32);
-- One key is certified once: at most one live (pending or issued) intent per
-- public key, enforced by the unique index below. Rows written before this
-- migration may already break that (two requests for one key prepared at
-- once were both issued); all but the first of each such key are marked so
-- the index can be built, and no new row is ever marked.
ALTER TABLE issuance_intents ADD COLUMN legacy_key_duplicate INTEGER NOT NULL DEFAULT 0 CHECK (legacy_key_duplicate IN (0, 1));
UPDATE issuance_intents SET legacy_key_duplicate = 1
WHERE state <> 'abandoned' AND EXISTS (
    SELECT 1 FROM issuance_intents o
    WHERE o.spki_sha256 = issuance_intents.spki_sha256 AND o.state <> 'abandoned'
      AND (o.created_at < issuance_intents.created_at
        OR (o.created_at = issuance_intents.created_at AND o.issuer_id < issuance_intents.issuer_id)
        OR (o.created_at = issuance_intents.created_at AND o.issuer_id = issuance_intents.issuer_id AND o.serial < issuance_intents.serial)));

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
