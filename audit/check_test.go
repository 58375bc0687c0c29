package audit_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/sqlite"
	"github.com/muhr-pki/muhr/store/sqlstore"
	"github.com/muhr-pki/muhr/tsa"
)

// A small center on a real SQLite store: a CA, certificates each stored
// with its cert.issue record (as ca does), a TSA signer, and tokens
// recorded through the TSA's ledgers (batch and single-row).
type center struct {
	st     *sqlstore.Store
	db     *sql.DB
	certs  []store.Certificate
	tokens []store.TSAToken
	signer store.Signer
}

var now = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

func randSerial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func newCenter(t *testing.T, nCerts, nTokens int) *center {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "muhr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	c := &center{st: st, db: st.DB()}
	if err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.InsertCA(ctx, store.CA{ID: "ca-a", Kind: store.CAKindRoot, KeyLabel: "k", CertDER: []byte{1},
			Status: store.CAStatusActive, CreatedAt: now})
	}); err != nil {
		t.Fatal(err)
	}
	for range nCerts {
		c.issue(t, "ca-a", true)
	}
	c.signer = store.Signer{Role: store.SignerRoleTSA, CAID: "ca-a", KeyLabel: "tsa", Serial: c.certs[0].Serial,
		CertDER: c.certs[0].DER, NotAfter: now.AddDate(1, 0, 0)}
	if err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.InsertSigner(ctx, c.signer) }); err != nil {
		t.Fatal(err)
	}
	c.stamp(t, nTokens)
	return c
}

// issue stores a certificate, with its cert.issue record when audited.
func (c *center) issue(t *testing.T, issuer string, audited bool) store.Certificate {
	t.Helper()
	cert := store.Certificate{IssuerID: issuer, Serial: randSerial(t), Subject: "CN=x", Profile: "qes-person",
		NotBefore: now, NotAfter: now.AddDate(1, 0, 0), DER: randBytes(200), Status: store.CertStatusValid}
	err := c.st.InTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		if err := tx.ReserveSerial(ctx, store.SerialReservation{IssuerID: issuer, Serial: cert.Serial, Purpose: "t", ReservedAt: now}); err != nil {
			return err
		}
		if err := tx.InsertCertificate(ctx, cert); err != nil {
			return err
		}
		if !audited {
			return nil
		}
		sum := sha256.Sum256(cert.DER)
		_, err := audit.Append(ctx, tx, now, audit.Entry{Actor: "t", Action: "cert.issue",
			Object: fmt.Sprintf("cert/%s/%x", issuer, cert.Serial), Details: map[string]any{"sha256": hex.EncodeToString(sum[:])}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c.certs = append(c.certs, cert)
	return cert
}

func (c *center) token(t *testing.T) store.TSAToken {
	return store.TSAToken{Serial: randSerial(t), GenTime: time.Now().Add(123 * time.Nanosecond), HashAlgorithm: "2.16.840.1.101.3.4.2.1",
		MessageImprint: randBytes(32), Policy: "0.4.0.2023.1.1", Requester: "192.0.2.1:1", SignerCAID: c.signer.CAID,
		SignerSerial: c.signer.Serial, TokenDER: randBytes(300), IssuedAt: time.Now()}
}

// stamp records n tokens through the batch ledger, concurrently so batches
// hold several rows, and one more through the single-row ledger.
func (c *center) stamp(t *testing.T, n int) {
	t.Helper()
	if n == 0 {
		return
	}
	l := tsa.NewBatchLedger(c.st, 0)
	defer l.Close()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n - 1 {
		tk := c.token(t)
		wg.Go(func() {
			if err := l.RecordToken(context.Background(), tk); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			c.tokens = append(c.tokens, tk)
			mu.Unlock()
		})
	}
	wg.Wait()
	tk := c.token(t)
	if err := tsa.StoreLedger(c.st).RecordToken(t.Context(), tk); err != nil {
		t.Fatal(err)
	}
	c.tokens = append(c.tokens, tk)
}

func (c *center) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	res, err := c.db.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s: no row changed", q)
	}
}

func (c *center) check(t *testing.T, o audit.Options) (audit.Report, error) {
	t.Helper()
	var rep audit.Report
	err := c.st.ReadSnapshot(t.Context(), func(ctx context.Context, r store.Reader) error {
		var err error
		rep, err = audit.Check(ctx, r, o)
		return err
	})
	return rep, err
}

// Small pages and a tiny key bound exercise paging, look-up groups and
// the rounds the way a large store would.
var optionSets = []audit.Options{{}, {PageSize: 3, MaxKeys: 2}, {PageSize: 1, MaxKeys: 1}}

func wantMismatch(t *testing.T, c *center, item, reason string) {
	t.Helper()
	for _, o := range optionSets {
		_, err := c.check(t, o)
		var me *audit.MismatchError
		if !errors.As(err, &me) || !errors.Is(err, audit.ErrMismatch) {
			t.Fatalf("Check(%+v) = %v; want a mismatch", o, err)
		}
		if !strings.Contains(me.Item, item) || !strings.Contains(me.Reason, reason) {
			t.Fatalf("Check(%+v) = %v; want item %q, reason with %q", o, err, item, reason)
		}
	}
}

func certKey(c store.Certificate) string { return fmt.Sprintf("%s/%x", c.IssuerID, c.Serial) }

func TestCheckHealthyCenter(t *testing.T) {
	c := newCenter(t, 6, 40)
	for _, o := range optionSets {
		rep, err := c.check(t, o)
		if err != nil {
			t.Fatalf("Check(%+v) of a healthy center: %v", o, err)
		}
		if rep.Certificates != 6 || rep.TSATokens != 40 || rep.LedgerBatches < 2 || rep.LedgerBatches > 40 || rep.Records != 6+rep.LedgerBatches {
			t.Fatalf("Check(%+v) = %+v", o, rep)
		}
	}
	// The single-row ledger wrote one record for its one row, and the
	// batch ledger one per transaction: fewer records than tokens when
	// requests overlapped is what keeps it cheap; at least not one per row
	// unless they never did.
	recs, err := c.st.AuditRecords(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if last.Action != audit.ActionLedgerBatch || !strings.Contains(string(last.Details), `"count":1,`) ||
		!strings.Contains(string(last.Details), c.tokens[len(c.tokens)-1].Serial.Text(16)) || last.Actor != "muhr-tsa" {
		t.Errorf("single-row ledger's record: %+v %s", last, last.Details)
	}
}

func TestCheckDeletedCertificateRow(t *testing.T) {
	c := newCenter(t, 4, 0)
	victim := c.certs[2]
	c.exec(t, "DELETE FROM certificates WHERE issuer_id = ? AND serial = ?", victim.IssuerID, victim.Serial.Text(16))
	wantMismatch(t, c, "certificate "+certKey(victim), "no row for it")
}

func TestCheckChangedCertificateRow(t *testing.T) {
	c := newCenter(t, 3, 0)
	victim := c.certs[1]
	c.exec(t, "UPDATE certificates SET der = X'3000' WHERE serial = ?", victim.Serial.Text(16))
	wantMismatch(t, c, "certificate "+certKey(victim), "the row was changed")
}

func TestCheckCertificateWithoutRecord(t *testing.T) {
	c := newCenter(t, 3, 0)
	extra := c.issue(t, "ca-a", false)
	wantMismatch(t, c, "certificate "+certKey(extra), "no record of its issue")
}

// Of several rows without records the first in key order is named, also
// when the rounds split the keys.
func TestCheckNamesFirstUnrecordedRow(t *testing.T) {
	c := newCenter(t, 2, 0)
	var first string
	for range 5 {
		k := certKey(c.issue(t, "ca-a", false))
		if first == "" || hexLess(k, first) {
			first = k
		}
	}
	wantMismatch(t, c, "certificate "+first, "no record of its issue")
}

func hexLess(a, b string) bool { return a < b } // same issuer: text order of the serials

func TestCheckRevokedWithoutRecord(t *testing.T) {
	c := newCenter(t, 4, 0)
	victim := c.certs[3]
	c.exec(t, "UPDATE certificates SET status = 'revoked', revoked_at = 1, revocation_reason = 1 WHERE serial = ?", victim.Serial.Text(16))
	wantMismatch(t, c, "certificate "+certKey(victim), "no record in the chain changes its status")
	// A hold is no different.
	c.exec(t, "UPDATE certificates SET status = 'hold', revocation_reason = NULL WHERE serial = ?", victim.Serial.Text(16))
	wantMismatch(t, c, "certificate "+certKey(victim), "the row says hold")
}

// With the status-change record the revocation issue will write, a revoked
// row passes; undoing the revocation in the table alone does not.
func TestCheckStatusChangeRecords(t *testing.T) {
	c := newCenter(t, 4, 0)
	victim := c.certs[1]
	obj := fmt.Sprintf("cert/%s/%x", victim.IssuerID, victim.Serial)
	if err := c.st.InTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		for _, a := range []string{"cert.suspend", "cert.unsuspend", "cert.revoke"} {
			if _, err := audit.Append(ctx, tx, now, audit.Entry{Actor: "t", Action: a, Object: obj}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	wantMismatch(t, c, "certificate "+certKey(victim), "the chain's last status change says revoked")
	c.exec(t, "UPDATE certificates SET status = 'revoked', revoked_at = 1, revocation_reason = 1 WHERE serial = ?", victim.Serial.Text(16))
	for _, o := range optionSets {
		if rep, err := c.check(t, o); err != nil || rep.StatusChanges != 3 {
			t.Fatalf("Check(%+v) with the revocation recorded = %+v, %v", o, rep, err)
		}
	}
	// A status change for a certificate that is not stored.
	if err := c.st.InTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		_, err := audit.Append(ctx, tx, now, audit.Entry{Actor: "t", Action: "cert.revoke", Object: "cert/ca-a/abc"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	wantMismatch(t, c, "certificate ca-a/abc", "no row for it")
}

func TestCheckDeletedLedgerRow(t *testing.T) {
	c := newCenter(t, 2, 12)
	victim := c.tokens[5]
	c.exec(t, "DELETE FROM tsa_tokens WHERE serial = ?", victim.Serial.Text(16))
	wantMismatch(t, c, "TSA token "+victim.Serial.Text(16), "the ledger has no row for it")
}

func TestCheckChangedLedgerRow(t *testing.T) {
	for _, col := range []string{"token_der = X'3000'", "requester = 'elsewhere'", "gen_time = gen_time + 1"} {
		t.Run(col, func(t *testing.T) {
			// Batches of several rows: the row tags name the changed one.
			c := newCenter(t, 2, 16)
			victim := c.tokens[7].Serial.Text(16)
			c.exec(t, "UPDATE tsa_tokens SET "+col+" WHERE serial = ?", victim)
			wantMismatch(t, c, "TSA token "+victim, "a row was changed")
		})
	}
}

func TestCheckLedgerRowWithoutBatch(t *testing.T) {
	c := newCenter(t, 2, 5)
	tk := c.token(t)
	if err := c.st.InTx(t.Context(), func(ctx context.Context, tx store.Tx) error { return tx.InsertTSAToken(ctx, tk) }); err != nil {
		t.Fatal(err)
	}
	wantMismatch(t, c, "TSA token "+tk.Serial.Text(16), "no record of its issue")
}

// Deleting the newest records leaves a valid, shorter chain: only the kept
// head shows it. Rewriting them (hashes recomputed) shows the same way.
func TestCheckExpectHead(t *testing.T) {
	c := newCenter(t, 3, 0)
	rep, err := c.check(t, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	head := rep.Newest()
	if head.Seq != 3 || len(head.Hash) != 32 {
		t.Fatalf("head %v", head)
	}
	if _, err := c.check(t, audit.Options{Expect: &head}); err != nil {
		t.Fatalf("Check against its own head: %v", err)
	}
	// A later record does not disturb the kept head.
	if err := c.st.InTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		_, err := audit.Append(ctx, tx, now, audit.Entry{Actor: "t", Action: "note"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.check(t, audit.Options{Expect: &head}); err != nil {
		t.Fatalf("Check after one more record: %v", err)
	}
	c.exec(t, "DELETE FROM audit_log WHERE seq >= 3")
	// The chain and tables alone cannot tell, here, because the removed
	// cert.issue record took its row along.
	c.exec(t, "DELETE FROM certificates WHERE serial = ?", c.certs[2].Serial.Text(16))
	if _, err := c.check(t, audit.Options{}); err != nil {
		t.Fatalf("Check without a head: %v (expected to pass: this is what the head is for)", err)
	}
	_, err = c.check(t, audit.Options{Expect: &head})
	var he *audit.HeadError
	if !errors.As(err, &he) || !errors.Is(err, audit.ErrHeadMismatch) || !strings.Contains(err.Error(), "chain ends at record 2") {
		t.Fatalf("Check with the kept head after deleting the newest records: %v", err)
	}
	// Rewritten: another record 3, properly chained.
	if err := c.st.InTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		_, err := audit.Append(ctx, tx, now, audit.Entry{Actor: "mallory", Action: "note"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_, err = c.check(t, audit.Options{Expect: &head})
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "record 3 has hash") {
		t.Fatalf("Check with the kept head after rewriting record 3: %v", err)
	}
}

func TestParseHead(t *testing.T) {
	h := audit.Head{Seq: 42, Hash: make([]byte, 32)}
	h.Hash[0] = 0xab
	got, err := audit.ParseHead(h.String())
	if err != nil || got.Seq != 42 || hex.EncodeToString(got.Hash) != hex.EncodeToString(h.Hash) {
		t.Fatalf("ParseHead(%q) = %v, %v", h.String(), got, err)
	}
	for _, bad := range []string{"", "42", "0:" + strings.Repeat("00", 32), "-1:" + strings.Repeat("00", 32), "x:00",
		"42:" + strings.Repeat("00", 31), "42:" + strings.Repeat("zz", 32)} {
		if _, err := audit.ParseHead(bad); !errors.Is(err, audit.ErrBadHead) {
			t.Errorf("ParseHead(%q) = %v; want ErrBadHead", bad, err)
		}
	}
}

// The digest covers every stored column, and only what is stored: a
// sub-microsecond difference (the stores drop it) does not count.
func TestLedgerDigestCoversEveryColumn(t *testing.T) {
	base := store.TSAToken{Serial: big.NewInt(0x1234), GenTime: now, HashAlgorithm: "2.16.840.1.101.3.4.2.1", MessageImprint: []byte{1, 2},
		Policy: "1.2.3", Requester: "r", SignerCAID: "ca", SignerSerial: big.NewInt(7), TokenDER: []byte{3}, IssuedAt: now}
	d := hex.EncodeToString(audit.LedgerDigest([]store.TSAToken{base}))
	for name, change := range map[string]func(*store.TSAToken){
		"serial":    func(t *store.TSAToken) { t.Serial = big.NewInt(0x1235) },
		"gen_time":  func(t *store.TSAToken) { t.GenTime = t.GenTime.Add(time.Microsecond) },
		"hash_alg":  func(t *store.TSAToken) { t.HashAlgorithm = "2.16.840.1.101.3.4.2.2" },
		"imprint":   func(t *store.TSAToken) { t.MessageImprint = []byte{1, 3} },
		"policy":    func(t *store.TSAToken) { t.Policy = "1.2.4" },
		"requester": func(t *store.TSAToken) { t.Requester = "s" },
		"signer_ca": func(t *store.TSAToken) { t.SignerCAID = "cb" },
		"signer":    func(t *store.TSAToken) { t.SignerSerial = big.NewInt(8) },
		"token":     func(t *store.TSAToken) { t.TokenDER = []byte{4} },
		"issued_at": func(t *store.TSAToken) { t.IssuedAt = t.IssuedAt.Add(time.Microsecond) },
		"boundary":  func(t *store.TSAToken) { t.Policy, t.Requester = "1.2.3r", "" },
	} {
		c := base
		change(&c)
		if hex.EncodeToString(audit.LedgerDigest([]store.TSAToken{c})) == d {
			t.Errorf("changing %s leaves the digest unchanged", name)
		}
	}
	c := base
	c.GenTime = c.GenTime.Add(999 * time.Nanosecond)
	if hex.EncodeToString(audit.LedgerDigest([]store.TSAToken{c})) != d {
		t.Error("digest depends on nanoseconds the stores drop")
	}
	if hex.EncodeToString(audit.LedgerDigest([]store.TSAToken{base, base})) == d {
		t.Error("digest does not cover the row count")
	}
	other := base
	other.Serial = big.NewInt(99)
	if hex.EncodeToString(audit.LedgerDigest([]store.TSAToken{base, other})) == hex.EncodeToString(audit.LedgerDigest([]store.TSAToken{other, base})) {
		t.Error("digest does not cover the rows' order")
	}
}
