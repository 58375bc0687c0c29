package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/muhr-pki/muhr/store"
)

// auditLockKey is the transaction-scoped advisory lock that serialises
// appends to the audit chain.
const auditLockKey int64 = 0x6d756872_61756474 // "muhraudt"

type tx struct {
	reader
	t pgx.Tx
}

// insertErr maps constraint violations to the store's error kinds.
func insertErr(err error, onUnique, onFK error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	switch sqlState(err) {
	case uniqueViolation:
		return fmt.Errorf("postgres: %s: %w", what, onUnique)
	case foreignKeyViolation:
		return fmt.Errorf("postgres: %s: %w", what, onFK)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

func (t *tx) InsertCA(ctx context.Context, ca store.CA) error {
	var parent *string
	if ca.ParentID != "" {
		parent = &ca.ParentID
	}
	_, err := t.t.Exec(ctx, `INSERT INTO cas (id, kind, parent_id, key_label, cert_der, status, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, ca.ID, ca.Kind, parent, ca.KeyLabel, ca.CertDER, ca.Status, ts(ca.CreatedAt))
	if err != nil {
		return insertErr(err, store.ErrExists, fmt.Errorf("parent CA %s: %w", ca.ParentID, store.ErrNotFound), "insert CA %s", ca.ID)
	}
	return nil
}

func (t *tx) ReserveSerial(ctx context.Context, r store.SerialReservation) error {
	hex, err := serialText(r.Serial)
	if err != nil {
		return err
	}
	_, err = t.t.Exec(ctx, `INSERT INTO serial_reservations (issuer_id, serial, purpose, reserved_at)
		VALUES ($1, $2, $3, $4)`, r.IssuerID, hex, r.Purpose, ts(r.ReservedAt))
	if err != nil {
		return insertErr(err, store.ErrDuplicateSerial, fmt.Errorf("issuer CA %s: %w", r.IssuerID, store.ErrNotFound),
			"reserve serial %s/%s", r.IssuerID, hex)
	}
	return nil
}

func (t *tx) InsertCertificate(ctx context.Context, c store.Certificate) error {
	hex, err := serialText(c.Serial)
	if err != nil {
		return err
	}
	_, err = t.t.Exec(ctx, `INSERT INTO certificates (issuer_id, serial, subject, profile, not_before,
		not_after, der, status, revoked_at, revocation_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		c.IssuerID, hex, c.Subject, c.Profile, ts(c.NotBefore), ts(c.NotAfter), c.DER, c.Status,
		tsPtr(c.RevokedAt), c.RevocationReason)
	if err != nil {
		return insertErr(err, store.ErrDuplicateSerial, fmt.Errorf("no reservation of that serial: %w", store.ErrNotFound),
			"insert certificate %s/%s", c.IssuerID, hex)
	}
	return nil
}

func (t *tx) InsertCRL(ctx context.Context, c store.CRL) error {
	num, err := crlNumberText(c.Number)
	if err != nil {
		return err
	}
	_, err = t.t.Exec(ctx, `INSERT INTO crls (issuer_id, number, this_update, next_update, der)
		VALUES ($1, $2, $3, $4, $5)`, c.IssuerID, num, ts(c.ThisUpdate), ts(c.NextUpdate), c.DER)
	if err != nil {
		return insertErr(err, store.ErrExists, fmt.Errorf("issuer CA %s: %w", c.IssuerID, store.ErrNotFound),
			"insert CRL %s #%v", c.IssuerID, c.Number)
	}
	return nil
}

func (t *tx) InsertSigner(ctx context.Context, s store.Signer) error {
	hex, err := serialText(s.Serial)
	if err != nil {
		return err
	}
	_, err = t.t.Exec(ctx, `INSERT INTO signers (role, ca_id, serial, key_label, cert_der, not_after)
		VALUES ($1, $2, $3, $4, $5, $6)`, s.Role, s.CAID, hex, s.KeyLabel, s.CertDER, ts(s.NotAfter))
	if err != nil {
		return insertErr(err, store.ErrExists, fmt.Errorf("no stored certificate with that serial: %w", store.ErrNotFound),
			"insert %s signer %s/%s", s.Role, s.CAID, hex)
	}
	return nil
}

// LastAuditRecord takes the audit chain's advisory lock before reading, and
// in a separate statement: under READ COMMITTED each statement sees what was
// committed when it started, so the SELECT sees the record appended by
// whoever held the lock before us.
func (t *tx) LastAuditRecord(ctx context.Context) (*store.AuditRecord, error) {
	if _, err := t.t.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", auditLockKey); err != nil {
		return nil, fmt.Errorf("postgres: lock audit chain: %w", err)
	}
	a, err := scanAudit(t.t.QueryRow(ctx, "SELECT "+auditColumns+" FROM audit_log ORDER BY seq DESC LIMIT 1"))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: last audit record: %w", err)
	}
	return &a, nil
}

func (t *tx) InsertAuditRecord(ctx context.Context, r store.AuditRecord) error {
	_, err := t.t.Exec(ctx, `INSERT INTO audit_log (seq, time, actor, action, object, details, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6::text::json, $7, $8)`,
		r.Seq, ts(r.Time), r.Actor, r.Action, r.Object, string(r.Details), r.PrevHash, r.Hash)
	if err != nil {
		return insertErr(err, store.ErrExists, store.ErrNotFound, "insert audit record %d", r.Seq)
	}
	return nil
}
