-- +goose Up
-- Subscribers: natural persons and organisations as registered at the
-- counter. The revocation passphrase is kept only as an Argon2id hash in
-- PHC form ($argon2id$v=19$m=…,t=…,p=…$salt$hash). search_text is the
-- lowercased names and numbers, searched with LIKE … ESCAPE.
CREATE TABLE subscribers (
    id                  TEXT PRIMARY KEY CHECK (id <> ''),
    kind                TEXT NOT NULL CHECK (kind IN ('person', 'organization')),
    surname             TEXT,
    given_name          TEXT,
    patronymic          TEXT,
    personal_number     TEXT,
    org_name            TEXT,
    registration_number TEXT,
    tax_number          TEXT,
    representative_id   TEXT REFERENCES subscribers (id),
    country             TEXT NOT NULL CHECK (length(country) = 2),
    email               TEXT,
    phone               TEXT,
    passphrase_hash     TEXT CHECK (passphrase_hash IS NULL OR passphrase_hash LIKE '$argon2id$%'),
    agreement_version   TEXT NOT NULL CHECK (agreement_version <> ''),
    agreement_at        INTEGER NOT NULL,
    pds_version         TEXT NOT NULL CHECK (pds_version <> ''),
    pds_at              INTEGER NOT NULL,
    search_text         TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    created_by          TEXT NOT NULL CHECK (created_by <> ''),
    CHECK (kind <> 'person' OR (surname IS NOT NULL AND given_name IS NOT NULL AND personal_number IS NOT NULL
        AND org_name IS NULL AND registration_number IS NULL AND tax_number IS NULL)),
    CHECK (kind <> 'organization' OR (org_name IS NOT NULL AND registration_number IS NOT NULL AND tax_number IS NOT NULL
        AND surname IS NULL AND given_name IS NULL AND personal_number IS NULL))
) STRICT;
-- One registration per person and per organisation.
CREATE UNIQUE INDEX subscribers_personal_number ON subscribers (country, personal_number) WHERE personal_number IS NOT NULL;
CREATE UNIQUE INDEX subscribers_registration_number ON subscribers (country, registration_number) WHERE registration_number IS NOT NULL;
CREATE INDEX subscribers_created ON subscribers (created_at);

-- Identity evidence seen at the counter: document type and number, and the
-- SHA-256 of a scan when one was given (the file is kept only when the
-- server has an evidence directory: stored_path).
CREATE TABLE identity_evidence (
    id            TEXT PRIMARY KEY CHECK (id <> ''),
    subscriber_id TEXT NOT NULL REFERENCES subscribers (id),
    doc_type      TEXT NOT NULL CHECK (doc_type <> ''),
    doc_number    TEXT NOT NULL CHECK (doc_number <> ''),
    file_sha256   TEXT CHECK (file_sha256 IS NULL OR (length(file_sha256) = 64 AND file_sha256 NOT GLOB '*[^0-9a-f]*')),
    file_name     TEXT,
    stored_path   TEXT,
    recorded_at   INTEGER NOT NULL,
    recorded_by   TEXT NOT NULL CHECK (recorded_by <> '')
) STRICT;
CREATE INDEX identity_evidence_subscriber ON identity_evidence (subscriber_id);

-- +goose Down
DROP TABLE identity_evidence;
DROP TABLE subscribers;
