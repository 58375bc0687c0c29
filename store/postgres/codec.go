package postgres

import (
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Serials are canonical lowercase hex, which the schema checks, so the
// primary key compares numbers, not spellings.
func serialText(n *big.Int) (string, error) {
	if n == nil || n.Sign() <= 0 || n.BitLen() > 160 {
		return "", fmt.Errorf("store: serial %v must be positive and at most 20 octets", n)
	}
	return n.Text(16), nil
}

// CRL numbers are zero-padded so that text order is numeric order.
func crlNumberText(n *big.Int) (string, error) {
	if n == nil || n.Sign() < 0 || n.BitLen() > 160 {
		return "", fmt.Errorf("store: CRL number %v must be non-negative and at most 20 octets", n)
	}
	return fmt.Sprintf("%040x", n), nil
}

func parseHex(s string) (*big.Int, error) {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		return nil, fmt.Errorf("store: bad hex number %q in database", s)
	}
	return n, nil
}

// ts is what timestamptz keeps: microseconds, UTC. Truncating here (rather
// than leaving it to the driver) keeps both backends identical.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func tsPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// PostgreSQL SQLSTATEs for constraint violations.
const (
	foreignKeyViolation = "23503"
	uniqueViolation     = "23505"
)

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
