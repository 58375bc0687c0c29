package storetest

import (
	"context"
	"errors"
	"math/big"
	"testing"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/store"
)

// Exec runs one SQL statement on the database under test, behind the
// store's back, as an intruder or a buggy tool would.
type Exec func(ctx context.Context, query string) error

// runRaw runs the cases that need to bypass the store: tampering with the
// audit log, and constraints the schema (not Go code) must enforce. The
// statements are plain SQL both dialects accept.
func runRaw(t *testing.T, open func(t *testing.T) (store.Store, Exec)) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s store.Store, exec Exec)
	}{
		{"AuditTamperDetails", testTamperDetails},
		{"AuditTamperLast", testTamperLast},
		{"AuditDeleteRecord", testDeleteRecord},
		{"SchemaEnforcesSerials", testSchemaSerials},
		{"StatusFeedGap", testFeedGap},
		{"SchemaEnforcesStatus", testSchemaStatus},
		{"SchemaEnforcesFourEyes", testSchemaFourEyes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, exec := open(t)
			t.Cleanup(func() { s.Close() })
			if err := s.Migrate(ctx(t)); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			c.fn(t, s, exec)
		})
	}
}

func appendN(t *testing.T, s store.Store, n int) []store.AuditRecord {
	t.Helper()
	var out []store.AuditRecord
	for i := range n {
		out = append(out, appendOne(t, s, i))
	}
	rep, err := audit.Verify(ctx(t), s)
	if err != nil || rep.Records != int64(n) {
		t.Fatalf("Verify of an untouched chain = %+v, %v", rep, err)
	}
	return out
}

func mustExec(t *testing.T, exec Exec, q string) {
	t.Helper()
	if err := exec(ctx(t), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// wantBrokenAt checks that Verify names record seq.
func wantBrokenAt(t *testing.T, s store.Store, seq int64) {
	t.Helper()
	_, err := audit.Verify(ctx(t), s)
	var ce *audit.ChainError
	if !errors.As(err, &ce) || !errors.Is(err, audit.ErrChainBroken) {
		t.Fatalf("Verify = %v, want a *audit.ChainError", err)
	}
	if ce.Seq != seq {
		t.Fatalf("Verify named record %d (%v), want %d", ce.Seq, err, seq)
	}
	t.Logf("Verify: %v", err)
}

func testTamperDetails(t *testing.T, s store.Store, exec Exec) {
	appendN(t, s, 6)
	mustExec(t, exec, `UPDATE audit_log SET details = '{"i":99}' WHERE seq = 3`)
	wantBrokenAt(t, s, 3)
}

func testTamperLast(t *testing.T, s store.Store, exec Exec) {
	appendN(t, s, 6)
	mustExec(t, exec, `UPDATE audit_log SET actor = 'someone-else' WHERE seq = 6`)
	wantBrokenAt(t, s, 6)
}

func testDeleteRecord(t *testing.T, s store.Store, exec Exec) {
	appendN(t, s, 6)
	mustExec(t, exec, `DELETE FROM audit_log WHERE seq = 4`)
	wantBrokenAt(t, s, 5)
}

func testSchemaSerials(t *testing.T, s store.Store, exec Exec) {
	addCA(t, s, "ca-a")
	ins := func(serial string) error {
		// created_at has reserved_at's type in both dialects.
		return exec(ctx(t), `INSERT INTO serial_reservations (issuer_id, serial, purpose, reserved_at) `+
			`SELECT 'ca-a', '`+serial+`', 'raw', created_at FROM cas WHERE id = 'ca-a'`)
	}
	if err := ins("abc123"); err != nil {
		t.Fatalf("raw insert of a well-formed serial: %v", err)
	}
	if err := ins("abc123"); err == nil {
		t.Error("the database accepted a duplicate serial")
	}
	for _, bad := range []string{"ABC123", "0abc123", "", "-1", "xyz", "1234567890123456789012345678901234567890a"} {
		if err := ins(bad); err == nil {
			t.Errorf("the database accepted serial %q", bad)
		}
	}
	// The store sees the raw row as taken.
	err := s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		return tx.ReserveSerial(ctx, reservation("ca-a", big.NewInt(0xabc123)))
	})
	wantKind(t, "serial reserved by raw SQL", err, store.ErrDuplicateSerial)
}

// The feed's numbers may skip (a counter moved by hand, a restored backup):
// a poller that remembers the last number it read still gets the next
// change.
func testFeedGap(t *testing.T, s store.Store, exec Exec) {
	addCA(t, s, "ca-a")
	a, b := issue(t, s, "ca-a", randSerial(t)), issue(t, s, "ca-a", randSerial(t))
	first, err := suspend(s, t, "ca-a", a.Serial, base)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, exec, `UPDATE cert_status_seq SET last_seq = last_seq + 100`)
	second, err := suspend(s, t, "ca-a", b.Serial, base)
	if err != nil {
		t.Fatal(err)
	}
	if second.Seq != first.Seq+101 {
		t.Fatalf("seq %d after %d and a skip of 100", second.Seq, first.Seq)
	}
	page, err := s.StatusChangesAfter(ctx(t), first.Seq, 10)
	if err != nil || len(page) != 1 || page[0].Seq != second.Seq || page[0].Serial.Cmp(b.Serial) != 0 {
		t.Fatalf("StatusChangesAfter across the gap = %+v, %v", page, err)
	}
}

// The schema keeps an invalidity date to revoked certificates.
func testSchemaStatus(t *testing.T, s store.Store, exec Exec) {
	addCA(t, s, "ca-a")
	c := issue(t, s, "ca-a", randSerial(t))
	if err := exec(ctx(t), `UPDATE certificates SET invalidity_date = not_before`); err == nil {
		t.Error("the database accepted an invalidity date on a valid certificate")
	}
	if _, err := suspend(s, t, "ca-a", c.Serial, base); err != nil {
		t.Fatal(err)
	}
	if err := exec(ctx(t), `UPDATE certificates SET invalidity_date = not_before`); err == nil {
		t.Error("the database accepted an invalidity date on a held certificate")
	}
}
