package ca_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/store"
)

// Two expirers on their own pools, as two muhrd would be: the lease
// holder revokes the hold past the maximum, audited; the other does
// nothing while the lease lasts and takes over once it lapses.
func TestHoldExpirerLease(t *testing.T) {
	revokeBackends(t, func(t *testing.T, s store.Store, open func() store.Store) {
		start := time.Now().UTC()
		now := start
		clock := func() time.Time { return now }
		seedCA(t, s, "qca")
		r := newRevoker(t, s, clock)
		first, second := seedCert(t, s, "qca", start, 90*24*time.Hour), seedCert(t, s, "qca", start, 90*24*time.Hour)
		if _, err := r.Suspend(t.Context(), "qca", first, "duty-officer"); err != nil {
			t.Fatal(err)
		}
		other := open()
		mk := func(st store.Store, holder string) *ca.HoldExpirer {
			return &ca.HoldExpirer{Revoker: newRevoker(t, st, clock), Leases: st, MaxHold: 30 * 24 * time.Hour,
				Holder: holder, LeaseTTL: time.Minute, Now: clock}
		}
		a, b := mk(s, "a"), mk(other, "b")
		if ch, err := a.Tick(t.Context()); err != nil || len(ch) != 0 {
			t.Fatalf("hold of 0 days: %+v, %v", ch, err)
		}
		now = start.Add(29 * 24 * time.Hour)
		if _, err := r.Suspend(t.Context(), "qca", second, "duty-officer"); err != nil {
			t.Fatal(err)
		}
		now = start.Add(30*24*time.Hour + time.Second)
		// b: a's lease (taken at day 0) has lapsed, so b takes it now, for
		// long enough to cover the next check.
		b.LeaseTTL = 40 * 24 * time.Hour
		ch, err := b.Tick(t.Context())
		if err != nil || len(ch) != 1 || ch[0].Serial.Cmp(first) != 0 || ch[0].Status != store.CertStatusRevoked {
			t.Fatalf("after 30 days: %+v, %v; want %x revoked", ch, err, first)
		}
		rec := lastRecord(t, s)
		if rec.Action != "cert.revoke" || rec.Actor != ca.DefaultHoldActor {
			t.Fatalf("audit %+v", rec)
		}
		// a is refused while b holds the lease, even with a hold due.
		now = start.Add(59*24*time.Hour + time.Second)
		if ch, err := a.Tick(t.Context()); err != nil || len(ch) != 0 {
			t.Fatalf("a without the lease: %+v, %v", ch, err)
		}
		if c, _ := s.GetCertificate(t.Context(), "qca", second); c.Status != store.CertStatusOnHold {
			t.Fatalf("second is %s", c.Status)
		}
		now = start.Add(70*24*time.Hour + time.Second)
		if ch, err := a.Tick(t.Context()); err != nil || len(ch) != 1 || ch[0].Serial.Cmp(second) != 0 {
			t.Fatalf("a after b's lease lapsed: %+v, %v", ch, err)
		}
		for _, c := range []*big.Int{first, second} {
			if got, _ := s.GetCertificate(t.Context(), "qca", c); got.Status != store.CertStatusRevoked {
				t.Errorf("%x is %s", c, got.Status)
			}
		}
		checkAudit(t, s)
	})
}
