package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"strings"

	"github.com/muhr-pki/muhr/store"
)

// Key-order walks and batched look-ups over certificates and the TSA
// ledger, for the audit's cross-check of the tables against the chain.

const certColumns = "issuer_id, serial, subject, profile, not_before, not_after, der, status, revoked_at, revocation_reason, invalidity_date"

func scanCert(sc scanner) (store.Certificate, error) {
	var c store.Certificate
	var reason sql.NullInt64
	err := sc.Scan(&c.IssuerID, hexInto{&c.Serial}, &c.Subject, &c.Profile, timeInto{&c.NotBefore}, timeInto{&c.NotAfter},
		&c.DER, &c.Status, nullTimeInto{&c.RevokedAt}, &reason, nullTimeInto{&c.InvalidityDate})
	if reason.Valid {
		v := int(reason.Int64)
		c.RevocationReason = &v
	}
	return c, err
}

func scanTSA(sc scanner) (store.TSAToken, error) {
	var tk store.TSAToken
	err := sc.Scan(hexInto{&tk.Serial}, timeInto{&tk.GenTime}, &tk.HashAlgorithm, &tk.MessageImprint, &tk.Policy, &tk.Requester,
		&tk.SignerCAID, hexInto{&tk.SignerSerial}, &tk.TokenDER, timeInto{&tk.IssuedAt})
	return tk, err
}

// serialList encodes serials for an IN list: "?, ?, ..." and the hex args.
func serialList(serials []*big.Int, args []any) (string, []any, error) {
	if len(serials) == 0 || len(serials) > store.MaxLookup {
		return "", nil, fmt.Errorf("store: look-up of %d serials: want 1 to %d", len(serials), store.MaxLookup)
	}
	for _, s := range serials {
		hex, err := serialText(s)
		if err != nil {
			return "", nil, err
		}
		args = append(args, hex)
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(serials)), ", "), args, nil
}

func pageLimit(d *Dialect, what string, limit int) error {
	if limit <= 0 {
		return fmt.Errorf("%s: %s: limit %d must be positive", d.Name, what, limit)
	}
	return nil
}

func (c conn) GetCertificates(ctx context.Context, issuerID string, serials []*big.Int) ([]store.Certificate, error) {
	in, args, err := serialList(serials, []any{issuerID})
	if err != nil {
		return nil, err
	}
	return list(ctx, c, "certificates of "+issuerID, scanCert,
		"SELECT "+certColumns+" FROM certificates WHERE issuer_id = ? AND serial IN ("+in+")", args...)
}

func (c conn) CertificatesAfter(ctx context.Context, issuerID string, serial *big.Int, limit int) ([]store.Certificate, error) {
	if err := pageLimit(c.d, "certificates", limit); err != nil {
		return nil, err
	}
	after := "" // every serial's text follows the empty string
	if serial != nil {
		var err error
		if after, err = serialText(serial); err != nil {
			return nil, err
		}
	}
	// A row-value comparison walks the primary key's index on both
	// databases.
	return list(ctx, c, "certificates", scanCert, "SELECT "+certColumns+
		" FROM certificates WHERE (issuer_id, serial) > (?, ?) ORDER BY issuer_id, serial LIMIT ?", issuerID, after, limit)
}

func (c conn) GetTSATokens(ctx context.Context, serials []*big.Int) ([]store.TSAToken, error) {
	in, args, err := serialList(serials, nil)
	if err != nil {
		return nil, err
	}
	return list(ctx, c, "TSA tokens", scanTSA, "SELECT "+tsaColumns+" FROM tsa_tokens WHERE serial IN ("+in+")", args...)
}

func (c conn) TSATokensAfter(ctx context.Context, serial *big.Int, limit int) ([]store.TSAToken, error) {
	if err := pageLimit(c.d, "TSA tokens", limit); err != nil {
		return nil, err
	}
	after := ""
	if serial != nil {
		var err error
		if after, err = serialText(serial); err != nil {
			return nil, err
		}
	}
	return list(ctx, c, "TSA tokens", scanTSA,
		"SELECT "+tsaColumns+" FROM tsa_tokens WHERE serial > ? ORDER BY serial LIMIT ?", after, limit)
}

func (c conn) CountTSATokens(ctx context.Context) (int64, error) {
	var n int64
	if err := c.row(ctx, "SELECT COUNT(*) FROM tsa_tokens").Scan(&n); err != nil {
		return 0, c.errorf(err, "count TSA tokens")
	}
	return n, nil
}

// ReadSnapshot runs fn in a read-only transaction: REPEATABLE READ on
// PostgreSQL; on SQLite the driver then issues a plain (deferred) BEGIN
// instead of BEGIN IMMEDIATE, which in WAL mode reads one snapshot and
// takes no write lock. While it lasts, SQLite cannot checkpoint past it
// (the WAL grows) and PostgreSQL's vacuum keeps the rows it may see.
func (s *Store) ReadSnapshot(ctx context.Context, fn func(ctx context.Context, r store.Reader) error) error {
	t, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("%s: begin snapshot: %w: %w", s.target, store.ErrUnavailable, err)
	}
	defer t.Rollback()
	if err := fn(ctx, conn{q: t, d: s.d}); err != nil {
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("%s: end snapshot: %w", s.target, err)
	}
	return nil
}
