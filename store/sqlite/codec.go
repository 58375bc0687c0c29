package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
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

// Times are microseconds since the epoch, UTC: PostgreSQL's precision, so
// both backends give back the same value.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

// Constraint violations, by the extended result code SQLite reports.
type violation int

const (
	noViolation violation = iota
	uniqueViolation
	foreignKeyViolation
)

func classify(err error) violation {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return noViolation
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return uniqueViolation
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return foreignKeyViolation
	}
	return noViolation
}
