package ca_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/store"
)

// Resume refuses a hold older than the maximum and, in the same
// transaction as its audit record, makes it the revocation the expiry job
// would have made (reason unspecified, revoked since the hold began), so
// what the officer is told is what OCSP and the CRL say. A hold younger
// than the maximum is lifted as before.
func TestResumeHoldPastMaximum(t *testing.T) {
	revokeBackends(t, func(t *testing.T, s store.Store, _ func() store.Store) {
		start := time.Now().UTC()
		now := start
		clock := func() time.Time { return now }
		seedCA(t, s, "qca")
		const maxHold = 30 * 24 * time.Hour
		r, err := ca.NewRevoker(ca.RevokerOptions{Store: s, Clock: clock, MaxHold: maxHold})
		if err != nil {
			t.Fatal(err)
		}
		young, old := seedCert(t, s, "qca", start, 90*24*time.Hour), seedCert(t, s, "qca", start, 90*24*time.Hour)
		for _, c := range []*big.Int{young, old} {
			if _, err := r.Suspend(t.Context(), "qca", c, "duty-officer"); err != nil {
				t.Fatal(err)
			}
		}
		now = start.Add(maxHold - time.Second)
		if ch, err := r.Resume(t.Context(), "qca", young, "officer"); err != nil || ch.Status != store.CertStatusValid {
			t.Fatalf("resume a hold just under the maximum: %+v, %v", ch, err)
		}
		feedBefore, _ := s.LatestStatusChangeSeq(t.Context())

		now = start.Add(maxHold + time.Second)
		_, err = r.Resume(t.Context(), "qca", old, "officer")
		wantErr(t, "resume a hold past the maximum", err, ca.ErrHoldExpired, errkind.Conflict)
		for _, want := range []string{"now revoked", "reason unspecified", "issue the subscriber a new certificate", "720h"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message lacks %q: %v", want, err)
			}
		}
		got, _ := s.GetCertificate(t.Context(), "qca", old)
		if got.Status != store.CertStatusRevoked || got.RevocationReason == nil || *got.RevocationReason != store.ReasonUnspecified ||
			!got.RevokedAt.Equal(start.Truncate(time.Microsecond)) {
			t.Fatalf("after the refused resume: %+v", got)
		}
		rec := lastRecord(t, s)
		var d map[string]any
		json.Unmarshal(rec.Details, &d)
		if rec.Action != ca.ActionRevoke || rec.Actor != ca.DefaultHoldActor || d["hold_expired"] != true ||
			d["resume_refused_for"] != "officer" || d["reason"] != "unspecified" {
			t.Fatalf("audit record %+v %s", rec, rec.Details)
		}
		if n, _ := s.LatestStatusChangeSeq(t.Context()); n != feedBefore+1 {
			t.Fatalf("feed %d → %d, want one change", feedBefore, n)
		}
		head := rec.Seq
		// Asked again: revoked, with the reason; nothing changes.
		_, err = r.Resume(t.Context(), "qca", old, "officer")
		wantErr(t, "resume again", err, ca.ErrAlreadyRevoked, errkind.Conflict)
		if !strings.Contains(err.Error(), "reason unspecified") {
			t.Errorf("message lacks the reason: %v", err)
		}
		if lastRecord(t, s).Seq != head {
			t.Fatal("the second refusal wrote an audit record")
		}
		// The expiry job has nothing left to do.
		if ch, err := r.ExpireHolds(t.Context(), now, maxHold); err != nil || len(ch) != 0 {
			t.Fatalf("ExpireHolds after: %+v, %v", ch, err)
		}
		if rep := checkAudit(t, s); rep.StatusChanges != 4 {
			t.Errorf("status changes %d, want 4", rep.StatusChanges)
		}
	})
}

// Resume and the expiry job, on their own pools as two processes would
// be, race on holds past the maximum: each hold becomes exactly one
// revocation with one audit record and one feed row, whoever wins, and
// every resume is refused (ErrHoldExpired when it won, ErrAlreadyRevoked
// when it lost).
func TestResumeRacesHoldExpiry(t *testing.T) {
	revokeBackends(t, func(t *testing.T, s store.Store, open func() store.Store) {
		start := time.Now().UTC()
		var mu sync.Mutex
		now := start
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		seedCA(t, s, "qca")
		const maxHold = time.Hour
		const n = 8
		r := newRevoker(t, s, clock)
		var held []*big.Int
		for range n {
			c := seedCert(t, s, "qca", start, 90*24*time.Hour)
			if _, err := r.Suspend(t.Context(), "qca", c, "duty"); err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		feedBefore, _ := s.LatestStatusChangeSeq(t.Context())
		mu.Lock()
		now = start.Add(2 * maxHold)
		mu.Unlock()
		resumer, err := ca.NewRevoker(ca.RevokerOptions{Store: open(), Clock: clock, MaxHold: maxHold})
		if err != nil {
			t.Fatal(err)
		}
		expirer := newRevoker(t, open(), clock)
		var wg sync.WaitGroup
		var expired []store.StatusChange
		var expErr error
		wg.Go(func() { expired, expErr = expirer.ExpireHolds(t.Context(), clock(), maxHold) })
		resumeWins := 0
		var resumeErrs []error
		var rmu sync.Mutex
		for i := len(held) - 1; i >= 0; i-- { // from the other end of the expiry job's walk
			wg.Go(func() {
				_, err := resumer.Resume(t.Context(), "qca", held[i], "officer")
				rmu.Lock()
				defer rmu.Unlock()
				switch {
				case errors.Is(err, ca.ErrHoldExpired):
					resumeWins++
				case errors.Is(err, ca.ErrAlreadyRevoked):
				default:
					resumeErrs = append(resumeErrs, err)
				}
			})
		}
		wg.Wait()
		if expErr != nil || len(resumeErrs) > 0 {
			t.Fatalf("expiry: %v; resumes: %v", expErr, resumeErrs)
		}
		if resumeWins+len(expired) != n {
			t.Fatalf("resume converted %d, expiry %d; want %d in all", resumeWins, len(expired), n)
		}
		t.Logf("resume converted %d, the expiry job %d", resumeWins, len(expired))
		if got, _ := s.LatestStatusChangeSeq(t.Context()); got-feedBefore != n {
			t.Fatalf("feed grew by %d, want %d", got-feedBefore, n)
		}
		revokes := map[string]int{}
		recs, err := s.AuditRecords(t.Context(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			if rec.Action == ca.ActionRevoke {
				revokes[rec.Object]++
			}
		}
		for _, c := range held {
			if got, _ := s.GetCertificate(t.Context(), "qca", c); got.Status != store.CertStatusRevoked {
				t.Errorf("%x is %s", c, got.Status)
			}
		}
		if len(revokes) != n {
			t.Errorf("revocation records for %d certificates, want %d", len(revokes), n)
		}
		for obj, k := range revokes {
			if k != 1 {
				t.Errorf("%s: %d revocation records", obj, k)
			}
		}
		checkAudit(t, s)
	})
}
