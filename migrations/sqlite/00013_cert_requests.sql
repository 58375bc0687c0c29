-- +goose Up
-- Certificate requests: submitted by one registrar, decided by another
-- officer. What must never happen is refused by the database itself: the
-- submitter deciding their own request, an issued request without its
-- certificate (or with two: one serial column, one request per serial), and
-- any change to a request once it is issued or rejected (the trigger). The
-- decision itself is a conditional UPDATE … WHERE status = 'pending', so of
-- concurrent approvals exactly one records it.
CREATE TABLE cert_requests (
    id               TEXT PRIMARY KEY CHECK (id <> ''),
    subscriber_id    TEXT NOT NULL REFERENCES subscribers (id),
    profile          TEXT NOT NULL CHECK (profile <> ''),
    kind             TEXT NOT NULL CHECK (kind IN ('new', 'renew', 'rekey')),
    renews_issuer_id TEXT,
    renews_serial    TEXT,
    csr_der          BLOB NOT NULL CHECK (length(csr_der) > 0),
    dns_names        TEXT NOT NULL CHECK (json_valid(dns_names)),
    qscd             INTEGER NOT NULL CHECK (qscd IN (0, 1)),
    qscd_evidence    TEXT CHECK (qscd_evidence IS NULL OR json_valid(qscd_evidence)),
    ca_id            TEXT NOT NULL REFERENCES cas (id),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'rejected', 'issued', 'failed')),
    reason           TEXT NOT NULL,
    submitted_by     TEXT NOT NULL CHECK (submitted_by <> ''),
    submitted_at     INTEGER NOT NULL,
    decided_by       TEXT,
    decided_at       INTEGER,
    issuer_id        TEXT,
    serial           TEXT,
    updated_at       INTEGER NOT NULL,
    FOREIGN KEY (issuer_id, serial) REFERENCES certificates (issuer_id, serial),
    FOREIGN KEY (renews_issuer_id, renews_serial) REFERENCES certificates (issuer_id, serial),
    -- four eyes
    CHECK (decided_by IS NULL OR decided_by <> submitted_by),
    CHECK (status = 'pending' OR decided_by IS NOT NULL),
    CHECK ((decided_by IS NULL) = (decided_at IS NULL)),
    CHECK ((status = 'issued') = (serial IS NOT NULL)),
    CHECK ((serial IS NULL) = (issuer_id IS NULL)),
    CHECK (status NOT IN ('rejected', 'failed') OR reason <> ''),
    CHECK ((kind = 'new') = (renews_serial IS NULL)),
    CHECK ((renews_serial IS NULL) = (renews_issuer_id IS NULL)),
    CHECK (qscd = 0 OR qscd_evidence IS NOT NULL)
) STRICT;
CREATE UNIQUE INDEX cert_requests_certificate ON cert_requests (issuer_id, serial) WHERE serial IS NOT NULL;
CREATE INDEX cert_requests_status ON cert_requests (status, submitted_at);
CREATE INDEX cert_requests_subscriber ON cert_requests (subscriber_id, submitted_at);

-- +goose StatementBegin
CREATE TRIGGER cert_requests_final BEFORE UPDATE ON cert_requests
WHEN OLD.status IN ('issued', 'rejected')
BEGIN
    SELECT RAISE(ABORT, 'cert_requests: a request that is issued or rejected is final');
END;
-- +goose StatementEnd

-- Certificates are looked up by serial alone (officers type what
-- openssl x509 -serial prints, without the issuer).
CREATE INDEX certificates_serial_idx ON certificates (serial);

-- +goose Down
DROP INDEX certificates_serial_idx;
DROP TRIGGER cert_requests_final;
DROP TABLE cert_requests;
