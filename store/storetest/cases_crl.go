package storetest

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/store"
)

// What a CRL is made from, and the lease that lets one process make it.

// issueWith stores a certificate with the given status (and revocation data).
func issueWith(t *testing.T, s store.Store, issuer string, serial *big.Int, status string, at time.Time, reason *int) {
	t.Helper()
	c := certificate(t, issuer, serial)
	c.Status = status
	if status != store.CertStatusValid {
		c.RevokedAt, c.RevocationReason = &at, reason
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.ReserveSerial(ctx, reservation(issuer, serial)); err != nil {
			return err
		}
		return tx.InsertCertificate(ctx, c)
	})
}

func intp(v int) *int { return &v }

func testRevokedAfter(t *testing.T, s store.Store) {
	addCA(t, s, "a")
	addCA(t, s, "b")
	want := map[string]store.RevokedEntry{}
	for i := int64(1); i <= 40; i++ {
		n := big.NewInt(i * 7)
		at := base.Add(time.Duration(i) * time.Minute)
		switch i % 4 {
		case 0:
			issueWith(t, s, "a", n, store.CertStatusRevoked, at, intp(int(i%3)))
			want[n.Text(16)] = store.RevokedEntry{Serial: n, Status: store.CertStatusRevoked, RevokedAt: micro(at), Reason: intp(int(i % 3))}
		case 1:
			issueWith(t, s, "a", n, store.CertStatusOnHold, at, intp(6))
			want[n.Text(16)] = store.RevokedEntry{Serial: n, Status: store.CertStatusOnHold, RevokedAt: micro(at), Reason: intp(6)}
		case 2:
			issueWith(t, s, "a", n, store.CertStatusRevoked, at, nil)
			want[n.Text(16)] = store.RevokedEntry{Serial: n, Status: store.CertStatusRevoked, RevokedAt: micro(at)}
		default:
			issueWith(t, s, "a", n, store.CertStatusValid, at, nil)
		}
		// The other issuer's revocations never show under a.
		issueWith(t, s, "b", n, store.CertStatusRevoked, at, intp(1))
	}
	for _, page := range []int{1, 3, 100} {
		var got []store.RevokedEntry
		var after *big.Int
		for {
			p, err := s.RevokedAfter(ctx(t), "a", after, page)
			if err != nil {
				t.Fatalf("RevokedAfter(a, %v, %d): %v", after, page, err)
			}
			if len(p) > page {
				t.Fatalf("page of %d for limit %d", len(p), page)
			}
			got = append(got, p...)
			if len(p) < page {
				break
			}
			after = p[len(p)-1].Serial
		}
		if len(got) != len(want) {
			t.Fatalf("page %d: %d entries, want %d", page, len(got), len(want))
		}
		for i, e := range got {
			w, ok := want[e.Serial.Text(16)]
			if !ok {
				t.Fatalf("serial %x listed but valid", e.Serial)
			}
			if e.Status != w.Status || !e.RevokedAt.Equal(w.RevokedAt) || (e.Reason == nil) != (w.Reason == nil) ||
				e.Reason != nil && *e.Reason != *w.Reason || e.NotAfter.IsZero() {
				t.Fatalf("entry %x = %+v, want %+v", e.Serial, e, w)
			}
			if i > 0 && got[i-1].Serial.Text(16) >= e.Serial.Text(16) {
				t.Fatalf("%x walked before %x", got[i-1].Serial, e.Serial)
			}
		}
	}
	if p, err := s.RevokedAfter(ctx(t), "none", nil, 10); err != nil || len(p) != 0 {
		t.Fatalf("unknown issuer: %v, %v", p, err)
	}
	if _, err := s.RevokedAfter(ctx(t), "a", nil, 0); err == nil {
		t.Fatal("limit 0 accepted")
	}
}

func testRevocationState(t *testing.T, s store.Store) {
	addCA(t, s, "a")
	st, err := s.RevocationState(ctx(t), "a")
	if err != nil || st.Count != 0 || !st.LatestAt.IsZero() {
		t.Fatalf("empty: %+v, %v", st, err)
	}
	issueWith(t, s, "a", big.NewInt(1), store.CertStatusValid, base, nil)
	issueWith(t, s, "a", big.NewInt(2), store.CertStatusRevoked, base, intp(1))
	issueWith(t, s, "a", big.NewInt(3), store.CertStatusOnHold, base.Add(time.Hour), intp(6))
	st, err = s.RevocationState(ctx(t), "a")
	if err != nil || st.Count != 2 || !st.LatestAt.Equal(micro(base.Add(time.Hour))) {
		t.Fatalf("got %+v, %v; want 2 and %v", st, err, micro(base.Add(time.Hour)))
	}
}

func testNextCRLNumber(t *testing.T, s store.Store) {
	addCA(t, s, "a")
	addCA(t, s, "b")
	n, err := s.NextCRLNumber(ctx(t), "a")
	if err != nil || n.Cmp(big.NewInt(1)) != 0 {
		t.Fatalf("first: %v, %v", n, err)
	}
	for _, num := range []int64{1, 2, 0x100} {
		inTx(t, s, func(ctx context.Context, tx store.Tx) error {
			return tx.InsertCRL(ctx, store.CRL{IssuerID: "a", Number: big.NewInt(num), ThisUpdate: base, NextUpdate: base.Add(time.Hour), DER: []byte{1}})
		})
	}
	if n, err = s.NextCRLNumber(ctx(t), "a"); err != nil || n.Cmp(big.NewInt(0x101)) != 0 {
		t.Fatalf("after 0x100: %v, %v", n, err)
	}
	if n, err = s.NextCRLNumber(ctx(t), "b"); err != nil || n.Cmp(big.NewInt(1)) != 0 {
		t.Fatalf("other issuer: %v, %v", n, err)
	}
	// A second producer that drew the same number is refused, not stored.
	err = s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		return tx.InsertCRL(ctx, store.CRL{IssuerID: "a", Number: big.NewInt(0x100), ThisUpdate: base, NextUpdate: base.Add(time.Hour), DER: []byte{2}})
	})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("reused number: %v, want ErrExists", err)
	}
}

func testLease(t *testing.T, s store.Store) {
	acq := func(holder string, now time.Time) bool {
		t.Helper()
		ok, err := s.AcquireLease(ctx(t), "crl", holder, now, time.Minute)
		if err != nil {
			t.Fatalf("AcquireLease(%s): %v", holder, err)
		}
		return ok
	}
	if !acq("p1", base) {
		t.Fatal("free lease not taken")
	}
	if acq("p2", base.Add(30*time.Second)) {
		t.Fatal("p2 took p1's live lease")
	}
	if !acq("p1", base.Add(50*time.Second)) {
		t.Fatal("p1 could not renew")
	}
	// The renewal moved the expiry: at base+70s p1 still holds it.
	if acq("p2", base.Add(70*time.Second)) {
		t.Fatal("p2 took the renewed lease")
	}
	// p1 stops renewing (killed): after expiry p2 takes over, and p1 is
	// then refused.
	if !acq("p2", base.Add(111*time.Second)) {
		t.Fatal("p2 could not take the expired lease")
	}
	if acq("p1", base.Add(112*time.Second)) {
		t.Fatal("p1 took back p2's lease")
	}
	// Another lease name is independent.
	if ok, err := s.AcquireLease(ctx(t), "other", "p1", base, time.Minute); err != nil || !ok {
		t.Fatalf("other lease: %v, %v", ok, err)
	}
	if err := s.ReleaseLease(ctx(t), "crl", "p1"); err != nil { // not p1's: no-op
		t.Fatal(err)
	}
	if acq("p1", base.Add(113*time.Second)) {
		t.Fatal("release by a non-holder freed the lease")
	}
	if err := s.ReleaseLease(ctx(t), "crl", "p2"); err != nil {
		t.Fatal(err)
	}
	if !acq("p1", base.Add(114*time.Second)) {
		t.Fatal("released lease not free")
	}
	if _, err := s.AcquireLease(ctx(t), "crl", "", base, time.Minute); err == nil {
		t.Fatal("empty holder accepted")
	}
}

// testLeaseRace: many goroutines (each its own connection) race for a free
// lease; exactly one gets it.
func testLeaseRace(t *testing.T, s store.Store) {
	const n = 8
	res := make(chan bool, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			ok, err := s.AcquireLease(ctx(t), "race", string(rune('a'+i))+"-holder", base, time.Minute)
			res <- ok
			errs <- err
		}()
	}
	won := 0
	for range n {
		if <-res {
			won++
		}
		if err := <-errs; err != nil {
			t.Errorf("AcquireLease: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d holders got the lease, want 1", won)
	}
}
