-- +goose Up
-- Suspension by the subscriber's revocation passphrase: every attempt is a
-- row, so the rate limit (failures per certificate per window) holds across
-- processes and restarts.
CREATE TABLE passphrase_attempts (
    id           INTEGER PRIMARY KEY,
    issuer_id    TEXT NOT NULL,
    serial       TEXT NOT NULL,
    officer      TEXT NOT NULL CHECK (officer <> ''),
    attempted_at INTEGER NOT NULL,
    ok           INTEGER NOT NULL CHECK (ok IN (0, 1)),
    FOREIGN KEY (issuer_id, serial) REFERENCES certificates (issuer_id, serial)
) STRICT;
CREATE INDEX passphrase_attempts_cert ON passphrase_attempts (issuer_id, serial, attempted_at);

-- +goose Down
DROP TABLE passphrase_attempts;
