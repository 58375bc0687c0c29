-- +goose Up
-- See migrations/sqlite/00010_revocation.sql: the invalidity date of a
-- revoked certificate, the index of holds by age, and the status-change feed
-- whose sequence numbers come from one locked row, so they are handed out in
-- commit order and a poller reading "seq > last seen" never skips a change.
ALTER TABLE certificates ADD COLUMN invalidity_date TIMESTAMPTZ;
ALTER TABLE certificates ADD CONSTRAINT certificates_invalidity_revoked CHECK (invalidity_date IS NULL OR status = 'revoked');

CREATE INDEX certificates_hold_idx ON certificates (revoked_at) WHERE status = 'hold';

CREATE TABLE cert_status_seq (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq BIGINT NOT NULL CHECK (last_seq >= 0)
);
INSERT INTO cert_status_seq (id, last_seq) VALUES (1, 0);

CREATE TABLE cert_status_changes (
    seq               BIGINT PRIMARY KEY CHECK (seq > 0),
    issuer_id         TEXT NOT NULL,
    serial            TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('valid', 'revoked', 'hold')),
    revoked_at        TIMESTAMPTZ,
    revocation_reason INTEGER CHECK (revocation_reason BETWEEN 0 AND 10 AND revocation_reason <> 7),
    invalidity_date   TIMESTAMPTZ,
    changed_at        TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (issuer_id, serial) REFERENCES certificates (issuer_id, serial),
    CHECK ((status = 'valid') = (revoked_at IS NULL))
);

-- +goose Down
DROP TABLE cert_status_changes;
DROP TABLE cert_status_seq;
DROP INDEX certificates_hold_idx;
ALTER TABLE certificates DROP CONSTRAINT certificates_invalidity_revoked;
ALTER TABLE certificates DROP COLUMN invalidity_date;
