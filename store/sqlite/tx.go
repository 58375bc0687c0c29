package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/muhr-pki/muhr/store"
)

// tx is one BEGIN IMMEDIATE transaction: it holds the database's write lock
// from its first statement to its end.
type tx struct {
	reader
	t *sql.Tx
}

// insertErr maps constraint violations to the store's error kinds.
func insertErr(err error, onUnique, onFK error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	switch classify(err) {
	case uniqueViolation:
		return fmt.Errorf("sqlite: %s: %w", what, onUnique)
	case foreignKeyViolation:
		return fmt.Errorf("sqlite: %s: %w", what, onFK)
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}

func (t *tx) InsertCA(ctx context.Context, ca store.CA) error {
	var parent sql.NullString
	if ca.ParentID != "" {
		parent = sql.NullString{String: ca.ParentID, Valid: true}
	}
	_, err := t.t.ExecContext(ctx, `INSERT INTO cas (id, kind, parent_id, key_label, cert_der, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, ca.ID, ca.Kind, parent, ca.KeyLabel, ca.CertDER, ca.Status, micros(ca.CreatedAt))
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
	_, err = t.t.ExecContext(ctx, `INSERT INTO serial_reservations (issuer_id, serial, purpose, reserved_at)
		VALUES (?, ?, ?, ?)`, r.IssuerID, hex, r.Purpose, micros(r.ReservedAt))
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
	var reason sql.NullInt64
	if c.RevocationReason != nil {
		reason = sql.NullInt64{Int64: int64(*c.RevocationReason), Valid: true}
	}
	_, err = t.t.ExecContext(ctx, `INSERT INTO certificates (issuer_id, serial, subject, profile, not_before,
		not_after, der, status, revoked_at, revocation_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.IssuerID, hex, c.Subject, c.Profile, micros(c.NotBefore), micros(c.NotAfter), c.DER, c.Status,
		nullMicros(c.RevokedAt), reason)
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
	_, err = t.t.ExecContext(ctx, `INSERT INTO crls (issuer_id, number, this_update, next_update, der)
		VALUES (?, ?, ?, ?, ?)`, c.IssuerID, num, micros(c.ThisUpdate), micros(c.NextUpdate), c.DER)
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
	_, err = t.t.ExecContext(ctx, `INSERT INTO signers (role, ca_id, serial, key_label, cert_der, not_after)
		VALUES (?, ?, ?, ?, ?, ?)`, s.Role, s.CAID, hex, s.KeyLabel, s.CertDER, micros(s.NotAfter))
	if err != nil {
		return insertErr(err, store.ErrExists, fmt.Errorf("no stored certificate with that serial: %w", store.ErrNotFound),
			"insert %s signer %s/%s", s.Role, s.CAID, hex)
	}
	return nil
}

// LastAuditRecord needs no lock statement: the transaction began IMMEDIATE
// and so already holds the only write lock until it ends.
func (t *tx) LastAuditRecord(ctx context.Context) (*store.AuditRecord, error) {
	a, err := scanAudit(t.t.QueryRowContext(ctx, "SELECT "+auditColumns+" FROM audit_log ORDER BY seq DESC LIMIT 1"))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: last audit record: %w", err)
	}
	return &a, nil
}

func (t *tx) InsertAuditRecord(ctx context.Context, r store.AuditRecord) error {
	_, err := t.t.ExecContext(ctx, "INSERT INTO audit_log ("+auditColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		r.Seq, micros(r.Time), r.Actor, r.Action, r.Object, string(r.Details), r.PrevHash, r.Hash)
	if err != nil {
		return insertErr(err, store.ErrExists, store.ErrNotFound, "insert audit record %d", r.Seq)
	}
	return nil
}
