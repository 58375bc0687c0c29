-- +goose Up
-- See migrations/sqlite/00013_cert_requests.sql.
CREATE TABLE cert_requests (
    id               TEXT PRIMARY KEY CHECK (id <> ''),
    subscriber_id    TEXT NOT NULL REFERENCES subscribers (id),
    profile          TEXT NOT NULL CHECK (profile <> ''),
    kind             TEXT NOT NULL CHECK (kind IN ('new', 'renew', 'rekey')),
    renews_issuer_id TEXT,
    renews_serial    TEXT,
    csr_der          BYTEA NOT NULL CHECK (length(csr_der) > 0),
    dns_names        TEXT NOT NULL CHECK (dns_names::json IS NOT NULL),
    qscd             INTEGER NOT NULL CHECK (qscd IN (0, 1)),
    qscd_evidence    TEXT CHECK (qscd_evidence IS NULL OR qscd_evidence::json IS NOT NULL),
    ca_id            TEXT NOT NULL REFERENCES cas (id),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'rejected', 'issued', 'failed')),
    reason           TEXT NOT NULL,
    submitted_by     TEXT NOT NULL CHECK (submitted_by <> ''),
    submitted_at     TIMESTAMPTZ NOT NULL,
    decided_by       TEXT,
    decided_at       TIMESTAMPTZ,
    issuer_id        TEXT,
    serial           TEXT,
    updated_at       TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (issuer_id, serial) REFERENCES certificates (issuer_id, serial),
    FOREIGN KEY (renews_issuer_id, renews_serial) REFERENCES certificates (issuer_id, serial),
    CHECK (decided_by IS NULL OR decided_by <> submitted_by),
    CHECK (status = 'pending' OR decided_by IS NOT NULL),
    CHECK ((decided_by IS NULL) = (decided_at IS NULL)),
    CHECK ((status = 'issued') = (serial IS NOT NULL)),
    CHECK ((serial IS NULL) = (issuer_id IS NULL)),
    CHECK (status NOT IN ('rejected', 'failed') OR reason <> ''),
    CHECK ((kind = 'new') = (renews_serial IS NULL)),
    CHECK ((renews_serial IS NULL) = (renews_issuer_id IS NULL)),
    CHECK (qscd = 0 OR qscd_evidence IS NOT NULL)
);
CREATE UNIQUE INDEX cert_requests_certificate ON cert_requests (issuer_id, serial) WHERE serial IS NOT NULL;
CREATE INDEX cert_requests_status ON cert_requests (status, submitted_at);
CREATE INDEX cert_requests_subscriber ON cert_requests (subscriber_id, submitted_at);

-- +goose StatementBegin
CREATE FUNCTION cert_requests_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'cert_requests: a request that is issued or rejected is final' USING ERRCODE = 'check_violation';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER cert_requests_final BEFORE UPDATE ON cert_requests
    FOR EACH ROW WHEN (OLD.status IN ('issued', 'rejected')) EXECUTE FUNCTION cert_requests_final();

CREATE INDEX certificates_serial_idx ON certificates (serial);

-- +goose Down
DROP INDEX certificates_serial_idx;
DROP TRIGGER cert_requests_final ON cert_requests;
DROP FUNCTION cert_requests_final();
DROP TABLE cert_requests;
