package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"

	"github.com/muhr-pki/muhr/store"
)

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// reader implements store.Reader on a pool or a transaction.
type reader struct {
	q querier
}

func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}

type scanner interface{ Scan(dest ...any) error }

const caColumns = "id, kind, COALESCE(parent_id, ''), key_label, cert_der, status, created_at"

func scanCA(sc scanner) (store.CA, error) {
	var ca store.CA
	var created int64
	if err := sc.Scan(&ca.ID, &ca.Kind, &ca.ParentID, &ca.KeyLabel, &ca.CertDER, &ca.Status, &created); err != nil {
		return store.CA{}, err
	}
	ca.CreatedAt = fromMicros(created)
	return ca, nil
}

func (r reader) GetCA(ctx context.Context, id string) (store.CA, error) {
	ca, err := scanCA(r.q.QueryRowContext(ctx, "SELECT "+caColumns+" FROM cas WHERE id = ?", id))
	if err != nil {
		return store.CA{}, notFound(err, "sqlite: CA %s", id)
	}
	return ca, nil
}

func (r reader) ListCAs(ctx context.Context) ([]store.CA, error) {
	rows, err := r.q.QueryContext(ctx, "SELECT "+caColumns+" FROM cas ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("sqlite: list CAs: %w", err)
	}
	defer rows.Close()
	var out []store.CA
	for rows.Next() {
		ca, err := scanCA(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list CAs: %w", err)
		}
		out = append(out, ca)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list CAs: %w", err)
	}
	return out, nil
}

func (r reader) GetCertificate(ctx context.Context, issuerID string, serial *big.Int) (store.Certificate, error) {
	hex, err := serialText(serial)
	if err != nil {
		return store.Certificate{}, err
	}
	var c store.Certificate
	var nb, na int64
	var revokedAt, reason sql.NullInt64
	err = r.q.QueryRowContext(ctx, `SELECT subject, profile, not_before, not_after, der, status, revoked_at, revocation_reason
		FROM certificates WHERE issuer_id = ? AND serial = ?`, issuerID, hex).
		Scan(&c.Subject, &c.Profile, &nb, &na, &c.DER, &c.Status, &revokedAt, &reason)
	if err != nil {
		return store.Certificate{}, notFound(err, "sqlite: certificate %s/%s", issuerID, hex)
	}
	c.IssuerID, c.Serial = issuerID, new(big.Int).Set(serial)
	c.NotBefore, c.NotAfter = fromMicros(nb), fromMicros(na)
	if revokedAt.Valid {
		t := fromMicros(revokedAt.Int64)
		c.RevokedAt = &t
	}
	if reason.Valid {
		v := int(reason.Int64)
		c.RevocationReason = &v
	}
	return c, nil
}

func (r reader) LatestCRL(ctx context.Context, issuerID string) (store.CRL, error) {
	var c store.CRL
	var num string
	var tu, nu int64
	err := r.q.QueryRowContext(ctx, `SELECT number, this_update, next_update, der FROM crls
		WHERE issuer_id = ? ORDER BY number DESC LIMIT 1`, issuerID).Scan(&num, &tu, &nu, &c.DER)
	if err != nil {
		return store.CRL{}, notFound(err, "sqlite: latest CRL of %s", issuerID)
	}
	if c.Number, err = parseHex(num); err != nil {
		return store.CRL{}, err
	}
	c.IssuerID, c.ThisUpdate, c.NextUpdate = issuerID, fromMicros(tu), fromMicros(nu)
	return c, nil
}

func (r reader) LatestSigner(ctx context.Context, role, caID string) (store.Signer, error) {
	s := store.Signer{Role: role, CAID: caID}
	var serial string
	var na int64
	err := r.q.QueryRowContext(ctx, `SELECT serial, key_label, cert_der, not_after FROM signers
		WHERE role = ? AND ca_id = ? ORDER BY not_after DESC, serial DESC LIMIT 1`, role, caID).
		Scan(&serial, &s.KeyLabel, &s.CertDER, &na)
	if err != nil {
		return store.Signer{}, notFound(err, "sqlite: %s signer of %s", role, caID)
	}
	if s.Serial, err = parseHex(serial); err != nil {
		return store.Signer{}, err
	}
	s.NotAfter = fromMicros(na)
	return s, nil
}

const auditColumns = "seq, time, actor, action, object, details, prev_hash, hash"

func scanAudit(sc scanner) (store.AuditRecord, error) {
	var a store.AuditRecord
	var t int64
	var details []byte
	if err := sc.Scan(&a.Seq, &t, &a.Actor, &a.Action, &a.Object, &details, &a.PrevHash, &a.Hash); err != nil {
		return store.AuditRecord{}, err
	}
	a.Time, a.Details = fromMicros(t), details
	return a, nil
}

func (r reader) AuditRecords(ctx context.Context, afterSeq int64, limit int) ([]store.AuditRecord, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("sqlite: audit records: limit %d must be positive", limit)
	}
	rows, err := r.q.QueryContext(ctx, "SELECT "+auditColumns+" FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit records: %w", err)
	}
	defer rows.Close()
	var out []store.AuditRecord
	for rows.Next() {
		a, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: audit records: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: audit records: %w", err)
	}
	return out, nil
}
