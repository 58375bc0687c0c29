package tsa_test

import (
	"context"
	"math/big"
	"sync"
	"testing"
	"testing/cryptotest"

	"github.com/digitorus/timestamp"

	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/tsa"
	"github.com/muhr-pki/muhr/tsa/tsatest"
)

// parseMu serialises the library's parser: digitorus/pkcs7's BER
// converter writes a package-level variable.
var parseMu sync.Mutex

// serialOf parses a granted reply with the library's own client code.
func serialOf(t testing.TB, reply []byte) *big.Int {
	t.Helper()
	parseMu.Lock()
	ts, err := timestamp.ParseResponse(reply)
	parseMu.Unlock()
	if err != nil {
		t.Fatalf("reply: %v", err)
	}
	return ts.SerialNumber
}

// issueMany sends n requests at once to each env and returns every serial.
func issueMany(t *testing.T, n int, envs ...*env) []*big.Int {
	t.Helper()
	var mu sync.Mutex
	var serials []*big.Int
	var wg sync.WaitGroup
	for _, e := range envs {
		for range n {
			wg.Go(func() {
				s := serialOf(t, e.post(t, request(t, nil)))
				mu.Lock()
				serials = append(serials, s)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return serials
}

func checkDistinct(t *testing.T, st store.Reader, seen map[string]bool, serials []*big.Int) {
	t.Helper()
	for _, s := range serials {
		k := s.Text(16)
		if seen[k] {
			t.Fatalf("serial %s issued twice", k)
		}
		seen[k] = true
		if _, err := st.GetTSAToken(t.Context(), s); err != nil {
			t.Fatalf("serial %s not in the ledger: %v", k, err)
		}
	}
}

// 200 concurrent requests get 200 distinct serials, every one in the
// ledger; a restarted TSA (new token session, new server) never repeats one.
func TestConcurrentSerialsAndRestart(t *testing.T) {
	e := newEnv(t, nil, nil)
	seen := map[string]bool{}
	first := issueMany(t, 200, e)
	if len(first) != 200 {
		t.Fatalf("%d serials", len(first))
	}
	checkDistinct(t, e.pki.Store, seen, first)

	// Restart: a new session on the same token and a new Server on the
	// same database.
	tok, err := pkcs11.Open(t.Context(), e.pki.SoftHSM.Config(2))
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	pki2 := *e.pki
	pki2.Token = tok
	e2 := newEnv(t, &pki2, nil)
	checkDistinct(t, e.pki.Store, seen, issueMany(t, 50, e2))
}

// The group-commit ledger: concurrent tokens share transactions, every one
// is committed before release, and a reused serial inside a batch fails
// only its own token, which is signed again.
func TestBatchLedger(t *testing.T) {
	pki := tsatest.NewPKI(t, nil)
	var e *env
	e = newEnv(t, pki, func(o *tsa.Options) {
		o.Ledger = &countingLedger{Ledger: newBatchLedger(t, pki.Store)}
	})
	seen := map[string]bool{}
	checkDistinct(t, pki.Store, seen, issueMany(t, 200, e))
	cryptotest.SetGlobalRandom(t, 9)
	a := serialOf(t, e.post(t, request(t, nil)))
	cryptotest.SetGlobalRandom(t, 9)
	b := serialOf(t, e.post(t, request(t, nil)))
	checkDistinct(t, pki.Store, seen, []*big.Int{a, b})
}

// A serial that is already in the ledger is never released: the TSA signs
// again with a fresh one. The collision is forced by replaying the random
// stream the serials are drawn from.
func TestSerialCollisionResigned(t *testing.T) {
	e := newEnv(t, nil, nil)
	cryptotest.SetGlobalRandom(t, 42)
	a := serialOf(t, e.post(t, request(t, nil)))
	cryptotest.SetGlobalRandom(t, 42)
	b := serialOf(t, e.post(t, request(t, nil)))
	if a.Cmp(b) == 0 {
		t.Fatalf("serial %x released twice", a)
	}
	if n, d := e.ledger.n.Load(), e.ledger.dups.Load(); n != 2 || d != 1 {
		t.Fatalf("%d ledger rows and %d refused duplicates, want 2 and 1", n, d)
	}
}

// Two TSA instances (separate processes in production: own token session,
// own connection pool) on one PostgreSQL database never share a serial,
// even when their random streams collide.
func TestTwoServersSharePostgres(t *testing.T) {
	st1, dsn := tsatest.Postgres(t)
	pki1 := tsatest.NewPKI(t, st1)
	st2 := tsatest.OpenPostgres(t, dsn)
	tok2, err := pkcs11.Open(t.Context(), pki1.SoftHSM.Config(2))
	if err != nil {
		t.Fatal(err)
	}
	defer tok2.Close()
	pki2 := *pki1
	pki2.Store, pki2.Token = st2, tok2
	e1, e2 := newEnv(t, pki1, nil), newEnv(t, &pki2, nil)

	seen := map[string]bool{}
	checkDistinct(t, st1, seen, issueMany(t, 100, e1, e2))

	cryptotest.SetGlobalRandom(t, 7)
	a := serialOf(t, e1.post(t, request(t, nil)))
	cryptotest.SetGlobalRandom(t, 7)
	b := serialOf(t, e2.post(t, request(t, nil)))
	checkDistinct(t, st2, seen, []*big.Int{a, b})
	if d := e2.ledger.dups.Load(); d != 1 {
		t.Fatalf("%d refused duplicates, want the forced one", d)
	}
}

// A collision on every attempt ends
// in systemFailure, never in a released duplicate.
func TestDuplicateEveryTimeRefused(t *testing.T) {
	ossl := openssl(t)
	e := newEnv(t, nil, func(o *tsa.Options) { o.Ledger = dupLedger{} })
	wantRejected(t, ossl, e.post(t, request(t, nil)), tsa.SystemFailure)
}

type dupLedger struct{}

func (dupLedger) RecordToken(context.Context, store.TSAToken) error { return store.ErrDuplicateSerial }

// Several batch writers on PostgreSQL commit side by side; every token is
// still in the ledger before release and serials stay distinct, and a
// forced collision is still signed again.
func TestBatchLedgerWritersPostgres(t *testing.T) {
	st, _ := tsatest.Postgres(t)
	pki := tsatest.NewPKI(t, st)
	l := tsa.NewBatchLedgerWriters(st, 0, 4)
	t.Cleanup(func() { _ = l.Close() })
	counted := &countingLedger{Ledger: l}
	e := newEnv(t, pki, func(o *tsa.Options) { o.Ledger = counted })
	seen := map[string]bool{}
	checkDistinct(t, st, seen, issueMany(t, 200, e))
	cryptotest.SetGlobalRandom(t, 11)
	a := serialOf(t, e.post(t, request(t, nil)))
	cryptotest.SetGlobalRandom(t, 11)
	b := serialOf(t, e.post(t, request(t, nil)))
	checkDistinct(t, st, seen, []*big.Int{a, b})
	if n := counted.n.Load(); n != 202 {
		t.Fatalf("%d tokens recorded, want 202", n)
	}
}
