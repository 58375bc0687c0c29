-- +goose Up
-- Revocation and suspension. A revoked certificate may carry the invalidity
-- date (RFC 5280 §5.3.2: when the key is known or suspected to have been
-- compromised). Every status change is also written, in the same
-- transaction, to cert_status_changes under a sequence number drawn from the
-- one row of cert_status_seq: a writer holds that row until it commits, so
-- numbers are handed out in commit order and a reader polling "seq > last
-- seen" (the OCSP cache, the CRL producer, in any process) never skips a
-- change committed after one it has already read.
ALTER TABLE certificates ADD COLUMN invalidity_date INTEGER CHECK (invalidity_date IS NULL OR status = 'revoked');

-- Holds are looked up by age, to turn the ones older than the maximum into
-- revocations.
CREATE INDEX certificates_hold_idx ON certificates (revoked_at) WHERE status = 'hold';

CREATE TABLE cert_status_seq (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL CHECK (last_seq >= 0)
) STRICT;
INSERT INTO cert_status_seq (id, last_seq) VALUES (1, 0);

CREATE TABLE cert_status_changes (
    seq               INTEGER PRIMARY KEY CHECK (seq > 0),
    issuer_id         TEXT NOT NULL,
    serial            TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('valid', 'revoked', 'hold')),
    revoked_at        INTEGER,
    revocation_reason INTEGER CHECK (revocation_reason BETWEEN 0 AND 10 AND revocation_reason <> 7),
    invalidity_date   INTEGER,
    changed_at        INTEGER NOT NULL,
    FOREIGN KEY (issuer_id, serial) REFERENCES certificates (issuer_id, serial),
    CHECK ((status = 'valid') = (revoked_at IS NULL))
) STRICT;

-- +goose Down
DROP TABLE cert_status_changes;
DROP TABLE cert_status_seq;
DROP INDEX certificates_hold_idx;
ALTER TABLE certificates DROP COLUMN invalidity_date;
