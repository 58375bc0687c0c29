package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/muhr-pki/muhr/store"
)

// querier is what *pgxpool.Pool and pgx.Tx share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// reader implements store.Reader on the pool or a transaction.
type reader struct {
	q querier
}

func notFound(err error, format string, args ...any) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}

type scanner interface{ Scan(dest ...any) error }

const caColumns = "id, kind, COALESCE(parent_id, ''), key_label, cert_der, status, created_at"

func scanCA(sc scanner) (store.CA, error) {
	var ca store.CA
	if err := sc.Scan(&ca.ID, &ca.Kind, &ca.ParentID, &ca.KeyLabel, &ca.CertDER, &ca.Status, &ca.CreatedAt); err != nil {
		return store.CA{}, err
	}
	ca.CreatedAt = ca.CreatedAt.UTC()
	return ca, nil
}

func (r reader) GetCA(ctx context.Context, id string) (store.CA, error) {
	ca, err := scanCA(r.q.QueryRow(ctx, "SELECT "+caColumns+" FROM cas WHERE id = $1", id))
	if err != nil {
		return store.CA{}, notFound(err, "postgres: CA %s", id)
	}
	return ca, nil
}

func (r reader) ListCAs(ctx context.Context) ([]store.CA, error) {
	rows, err := r.q.Query(ctx, "SELECT "+caColumns+" FROM cas ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("postgres: list CAs: %w", err)
	}
	defer rows.Close()
	var out []store.CA
	for rows.Next() {
		ca, err := scanCA(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list CAs: %w", err)
		}
		out = append(out, ca)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list CAs: %w", err)
	}
	return out, nil
}

func (r reader) GetCertificate(ctx context.Context, issuerID string, serial *big.Int) (store.Certificate, error) {
	hex, err := serialText(serial)
	if err != nil {
		return store.Certificate{}, err
	}
	var c store.Certificate
	var reason *int32
	err = r.q.QueryRow(ctx, `SELECT subject, profile, not_before, not_after, der, status, revoked_at, revocation_reason
		FROM certificates WHERE issuer_id = $1 AND serial = $2`, issuerID, hex).
		Scan(&c.Subject, &c.Profile, &c.NotBefore, &c.NotAfter, &c.DER, &c.Status, &c.RevokedAt, &reason)
	if err != nil {
		return store.Certificate{}, notFound(err, "postgres: certificate %s/%s", issuerID, hex)
	}
	c.IssuerID, c.Serial = issuerID, new(big.Int).Set(serial)
	c.NotBefore, c.NotAfter = c.NotBefore.UTC(), c.NotAfter.UTC()
	if c.RevokedAt != nil {
		t := c.RevokedAt.UTC()
		c.RevokedAt = &t
	}
	if reason != nil {
		v := int(*reason)
		c.RevocationReason = &v
	}
	return c, nil
}

func (r reader) LatestCRL(ctx context.Context, issuerID string) (store.CRL, error) {
	var c store.CRL
	var num string
	err := r.q.QueryRow(ctx, `SELECT number, this_update, next_update, der FROM crls
		WHERE issuer_id = $1 ORDER BY number DESC LIMIT 1`, issuerID).Scan(&num, &c.ThisUpdate, &c.NextUpdate, &c.DER)
	if err != nil {
		return store.CRL{}, notFound(err, "postgres: latest CRL of %s", issuerID)
	}
	if c.Number, err = parseHex(num); err != nil {
		return store.CRL{}, err
	}
	c.IssuerID, c.ThisUpdate, c.NextUpdate = issuerID, c.ThisUpdate.UTC(), c.NextUpdate.UTC()
	return c, nil
}

func (r reader) LatestSigner(ctx context.Context, role, caID string) (store.Signer, error) {
	s := store.Signer{Role: role, CAID: caID}
	var serial string
	err := r.q.QueryRow(ctx, `SELECT serial, key_label, cert_der, not_after FROM signers
		WHERE role = $1 AND ca_id = $2 ORDER BY not_after DESC, serial DESC LIMIT 1`, role, caID).
		Scan(&serial, &s.KeyLabel, &s.CertDER, &s.NotAfter)
	if err != nil {
		return store.Signer{}, notFound(err, "postgres: %s signer of %s", role, caID)
	}
	if s.Serial, err = parseHex(serial); err != nil {
		return store.Signer{}, err
	}
	s.NotAfter = s.NotAfter.UTC()
	return s, nil
}

// details is read as text: the exact bytes that were hashed.
const auditColumns = "seq, time, actor, action, object, details::text, prev_hash, hash"

func scanAudit(sc scanner) (store.AuditRecord, error) {
	var a store.AuditRecord
	var t time.Time
	var details string
	if err := sc.Scan(&a.Seq, &t, &a.Actor, &a.Action, &a.Object, &details, &a.PrevHash, &a.Hash); err != nil {
		return store.AuditRecord{}, err
	}
	a.Time, a.Details = t.UTC(), []byte(details)
	return a, nil
}

func (r reader) AuditRecords(ctx context.Context, afterSeq int64, limit int) ([]store.AuditRecord, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("postgres: audit records: limit %d must be positive", limit)
	}
	rows, err := r.q.Query(ctx, "SELECT "+auditColumns+" FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: audit records: %w", err)
	}
	defer rows.Close()
	var out []store.AuditRecord
	for rows.Next() {
		a, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: audit records: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: audit records: %w", err)
	}
	return out, nil
}
