package sqlstore

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/muhr-pki/muhr/migrations"
)

// Violation is the kind of constraint a failed statement broke.
type Violation int

// Violations the store maps to its error kinds.
const (
	NoViolation Violation = iota
	UniqueViolation
	ForeignKeyViolation
)

// Dialect is everything that differs between the databases: the queries are
// written once, with ? placeholders, in SQL both accept.
type Dialect struct {
	// Name prefixes error messages ("sqlite", "postgres").
	Name string
	// Migrations names the dialect's schema directory.
	Migrations migrations.Dialect
	// DollarPlaceholders rewrites ? to $1, $2, ... (PostgreSQL).
	DollarPlaceholders bool
	// MicrosecondTimes stores times as INTEGER microseconds since the epoch
	// (SQLite); otherwise as timestamptz (PostgreSQL).
	MicrosecondTimes bool
	// JSONArg is the placeholder expression for a JSON column's text.
	JSONArg string
	// AuditLock, when set, is run (with AuditLockKey) before reading the
	// audit chain's head; it holds the chain until the transaction ends. It
	// is empty where every transaction already holds the only write lock
	// (SQLite's BEGIN IMMEDIATE).
	AuditLock    string
	AuditLockKey int64
	// Classify says which constraint, if any, err broke.
	Classify func(err error) Violation
	// UniqueTarget names what a unique violation hit: PostgreSQL's
	// constraint name, SQLite's "table.column" list (it names no index).
	UniqueTarget func(err error) string
	// ForUpdate is appended to a SELECT that must lock its rows until the
	// transaction ends (" FOR UPDATE"); empty where transactions already
	// hold the only write lock (SQLite).
	ForUpdate string
}

// rebind writes the dialect's placeholders into q.
func (d *Dialect) rebind(q string) string {
	if !d.DollarPlaceholders || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// time encodes t as the schema keeps it: microseconds, UTC. Truncating here
// (PostgreSQL would round) makes both dialects give back the same value.
func (d *Dialect) time(t time.Time) any {
	if d.MicrosecondTimes {
		return t.UnixMicro()
	}
	return t.UTC().Truncate(time.Microsecond)
}

func (d *Dialect) nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.time(*t)
}

// timeInto scans either encoding of a time into *p, in UTC.
type timeInto struct{ p *time.Time }

func (s timeInto) Scan(v any) error {
	switch v := v.(type) {
	case int64:
		*s.p = time.UnixMicro(v).UTC()
	case time.Time:
		*s.p = v.UTC()
	default:
		return fmt.Errorf("store: time column holds %T", v)
	}
	return nil
}

// nullTimeInto scans a nullable time into *p (nil for NULL).
type nullTimeInto struct{ p **time.Time }

func (s nullTimeInto) Scan(v any) error {
	if v == nil {
		*s.p = nil
		return nil
	}
	var t time.Time
	if err := (timeInto{&t}).Scan(v); err != nil {
		return err
	}
	*s.p = &t
	return nil
}

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

// hexInto scans a hex TEXT column (serial or CRL number) into *p.
type hexInto struct{ p **big.Int }

func (s hexInto) Scan(v any) error {
	var str string
	switch v := v.(type) {
	case string:
		str = v
	case []byte:
		str = string(v)
	default:
		return fmt.Errorf("store: hex column holds %T", v)
	}
	n, ok := new(big.Int).SetString(str, 16)
	if !ok {
		return fmt.Errorf("store: bad hex number %q in database", str)
	}
	*s.p = n
	return nil
}
