package ca_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/postgres"
	"github.com/muhr-pki/muhr/store/sqlite"
	"github.com/muhr-pki/muhr/store/sqlstore"
)

// revokeBackends runs fn on a fresh migrated SQLite file and PostgreSQL
// database; open opens another store on the same database (another pool,
// as another process would have).
func revokeBackends(t *testing.T, fn func(t *testing.T, s store.Store, open func() store.Store)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			var loc string
			if name == "sqlite" {
				loc = filepath.Join(t.TempDir(), "muhr.db")
			} else {
				loc = testpki.PostgresDSN(t)
			}
			open := func() store.Store {
				var s *sqlstore.Store
				var err error
				if name == "sqlite" {
					s, err = sqlite.Open(t.Context(), loc)
				} else {
					s, err = postgres.Open(t.Context(), loc)
				}
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			s := open()
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			fn(t, s, open)
		})
	}
}

// seedCA stores a CA and, as the issuer does (row and cert.issue record in
// one transaction), certificates valid from an hour ago for notAfter-now.
func seedCA(t *testing.T, s store.Store, id string) {
	t.Helper()
	err := s.InTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		return tx.InsertCA(ctx, store.CA{ID: id, Kind: store.CAKindIssuing, KeyLabel: id + "-key", CertDER: []byte{1},
			Status: store.CAStatusActive, CreatedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func seedCert(t *testing.T, s store.Store, issuer string, now time.Time, validFor time.Duration) *big.Int {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		t.Fatal(err)
	}
	serial.Add(serial, big.NewInt(1))
	der := make([]byte, 200)
	rand.Read(der)
	sum := sha256.Sum256(der)
	nb := now.Add(-time.Hour)
	if validFor < 0 {
		nb = now.Add(validFor - time.Hour)
	}
	err = s.InTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		if err := tx.ReserveSerial(ctx, store.SerialReservation{IssuerID: issuer, Serial: serial, Purpose: "test", ReservedAt: nb}); err != nil {
			return err
		}
		if err := tx.InsertCertificate(ctx, store.Certificate{IssuerID: issuer, Serial: serial, Subject: "CN=x", Profile: "qes-person",
			NotBefore: nb, NotAfter: now.Add(validFor), DER: der, Status: store.CertStatusValid}); err != nil {
			return err
		}
		_, err := audit.Append(ctx, tx, nb, audit.Entry{Actor: "test-issuer", Action: audit.ActionCertIssue,
			Object: fmt.Sprintf("cert/%s/%x", issuer, serial), Details: map[string]any{"sha256": hex.EncodeToString(sum[:])}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return serial
}

// checkAudit runs the audit's cross-check of the chain and the tables.
func checkAudit(t *testing.T, s store.Store) audit.Report {
	t.Helper()
	rep, err := audit.Check(t.Context(), s, audit.Options{})
	if err != nil {
		t.Fatalf("audit check: %v", err)
	}
	return rep
}

func newRevoker(t *testing.T, s store.Store, clock func() time.Time) *ca.Revoker {
	t.Helper()
	r, err := ca.NewRevoker(ca.RevokerOptions{Store: s, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantErr(t *testing.T, what string, err, want error, kind errkind.Kind) {
	t.Helper()
	if !errors.Is(err, want) || errkind.Of(err) != kind {
		t.Fatalf("%s: %v (kind %v), want %v of kind %v", what, err, errkind.Of(err), want, kind)
	}
	t.Logf("%s: %v", what, err)
}

func lastRecord(t *testing.T, s store.Store) store.AuditRecord {
	t.Helper()
	var last store.AuditRecord
	for after := int64(0); ; {
		recs, err := s.AuditRecords(t.Context(), after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return last
		}
		last = recs[len(recs)-1]
		after = last.Seq
	}
}

func TestRevokeRules(t *testing.T) {
	revokeBackends(t, func(t *testing.T, s store.Store, _ func() store.Store) {
		now := time.Now().UTC()
		seedCA(t, s, "qca")
		r := newRevoker(t, s, func() time.Time { return now })
		live := seedCert(t, s, "qca", now, 365*24*time.Hour)
		expired := seedCert(t, s, "qca", now, -time.Minute)
		head := lastRecord(t, s).Seq

		_, err := r.Revoke(t.Context(), "no-such-ca", live, ca.ReasonKeyCompromise, nil, "officer")
		wantErr(t, "unknown CA", err, ca.ErrUnknownCA, errkind.NotFound)
		_, err = r.Revoke(t.Context(), "qca", big.NewInt(0xdead), ca.ReasonKeyCompromise, nil, "officer")
		wantErr(t, "unknown serial", err, ca.ErrUnknownCertificate, errkind.NotFound)
		_, err = r.Revoke(t.Context(), "qca", live, ca.Reason(store.ReasonCertificateHold), nil, "officer")
		wantErr(t, "certificateHold as a reason", err, ca.ErrReason, errkind.Invalid)
		future := now.Add(time.Hour)
		_, err = r.Revoke(t.Context(), "qca", live, ca.ReasonKeyCompromise, &future, "officer")
		wantErr(t, "compromise in the future", err, ca.ErrCompromiseTime, errkind.Invalid)
		_, err = r.Revoke(t.Context(), "qca", live, ca.ReasonKeyCompromise, nil, "")
		wantErr(t, "no actor", err, ca.ErrRevokeRequest, errkind.Invalid)
		_, err = r.Revoke(t.Context(), "qca", expired, ca.ReasonKeyCompromise, nil, "officer")
		wantErr(t, "expired", err, ca.ErrExpired, errkind.Conflict)
		_, err = r.Suspend(t.Context(), "qca", expired, "officer")
		wantErr(t, "suspend expired", err, ca.ErrExpired, errkind.Conflict)
		_, err = r.Resume(t.Context(), "qca", live, "officer")
		wantErr(t, "resume a valid certificate", err, ca.ErrNotOnHold, errkind.Conflict)
		if got := lastRecord(t, s).Seq; got != head {
			t.Fatalf("refusals wrote audit records (%d → %d)", head, got)
		}
		if n, _ := s.LatestStatusChangeSeq(t.Context()); n != 0 {
			t.Fatalf("refusals wrote the feed up to %d", n)
		}

		compromised := now.Add(-30 * time.Minute)
		ch, err := r.Revoke(t.Context(), "qca", live, ca.ReasonKeyCompromise, &compromised, "officer")
		if err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		got, _ := s.GetCertificate(t.Context(), "qca", live)
		if got.Status != store.CertStatusRevoked || *got.RevocationReason != store.ReasonKeyCompromise ||
			!got.InvalidityDate.Equal(compromised.Truncate(time.Microsecond)) || ch.Seq != 1 {
			t.Fatalf("after Revoke: %+v (change %+v)", got, ch)
		}
		rec := lastRecord(t, s)
		var d map[string]any
		json.Unmarshal(rec.Details, &d)
		if rec.Action != "cert.revoke" || rec.Actor != "officer" || rec.Object != fmt.Sprintf("cert/qca/%x", live) ||
			d["reason"] != "keyCompromise" || d["invalidity_date"] == nil {
			t.Fatalf("audit record = %+v %s", rec, rec.Details)
		}
		head = rec.Seq
		_, err = r.Revoke(t.Context(), "qca", live, ca.ReasonSuperseded, nil, "officer")
		wantErr(t, "already revoked", err, ca.ErrAlreadyRevoked, errkind.Conflict)
		_, err = r.Suspend(t.Context(), "qca", live, "officer")
		wantErr(t, "suspend revoked", err, ca.ErrAlreadyRevoked, errkind.Conflict)
		_, err = r.Resume(t.Context(), "qca", live, "officer")
		wantErr(t, "resume revoked", err, ca.ErrAlreadyRevoked, errkind.Conflict)
		if got := lastRecord(t, s).Seq; got != head {
			t.Fatal("refusals after the revocation wrote audit records")
		}
		rep := checkAudit(t, s)
		if rep.StatusChanges != 1 {
			t.Errorf("audit check counted %d status changes, want 1", rep.StatusChanges)
		}
	})
}

func TestSuspendResumeRevoke(t *testing.T) {
	revokeBackends(t, func(t *testing.T, s store.Store, _ func() store.Store) {
		now := time.Now().UTC()
		seedCA(t, s, "qca")
		r := newRevoker(t, s, func() time.Time { return now })
		c := seedCert(t, s, "qca", now, 24*time.Hour)
		if _, err := r.Suspend(t.Context(), "qca", c, "duty-officer"); err != nil {
			t.Fatalf("Suspend: %v", err)
		}
		if rec := lastRecord(t, s); rec.Action != "cert.suspend" {
			t.Fatalf("audit action %s", rec.Action)
		}
		_, err := r.Suspend(t.Context(), "qca", c, "duty-officer")
		wantErr(t, "suspend twice", err, ca.ErrAlreadyOnHold, errkind.Conflict)
		checkAudit(t, s)
		if _, err := r.Resume(t.Context(), "qca", c, "officer"); err != nil {
			t.Fatalf("Resume: %v", err)
		}
		if rec := lastRecord(t, s); rec.Action != "cert.unsuspend" {
			t.Fatalf("audit action %s", rec.Action)
		}
		if got, _ := s.GetCertificate(t.Context(), "qca", c); got.Status != store.CertStatusValid || got.RevokedAt != nil {
			t.Fatalf("after Resume: %+v", got)
		}
		checkAudit(t, s)
		held := now
		r.Suspend(t.Context(), "qca", c, "duty-officer")
		now = now.Add(time.Hour)
		ch, err := r.Revoke(t.Context(), "qca", c, ca.ReasonCessationOfOperation, nil, "officer")
		if err != nil || !ch.RevokedAt.Equal(held.Truncate(time.Microsecond)) {
			t.Fatalf("revoke a hold: %+v, %v", ch, err)
		}
		_, err = r.Resume(t.Context(), "qca", c, "officer")
		wantErr(t, "resume after revocation", err, ca.ErrAlreadyRevoked, errkind.Conflict)
		if rep := checkAudit(t, s); rep.StatusChanges != 4 {
			t.Errorf("status changes %d, want 4", rep.StatusChanges)
		}
	})
}

func TestExpireHolds(t *testing.T) {
	revokeBackends(t, func(t *testing.T, s store.Store, _ func() store.Store) {
		start := time.Now().UTC()
		now := start
		seedCA(t, s, "qca")
		r := newRevoker(t, s, func() time.Time { return now })
		old, recent, lifted := seedCert(t, s, "qca", start, 30*24*time.Hour), seedCert(t, s, "qca", start, 30*24*time.Hour),
			seedCert(t, s, "qca", start, 30*24*time.Hour)
		for _, c := range []*big.Int{old, lifted} {
			if _, err := r.Suspend(t.Context(), "qca", c, "duty-officer"); err != nil {
				t.Fatal(err)
			}
		}
		now = start.Add(3 * 24 * time.Hour)
		if _, err := r.Suspend(t.Context(), "qca", recent, "duty-officer"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Resume(t.Context(), "qca", lifted, "officer"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ExpireHolds(t.Context(), now, 0); !errors.Is(err, ca.ErrRevokeRequest) {
			t.Fatalf("maxHold 0: %v", err)
		}
		changes, err := r.ExpireHolds(t.Context(), now, 48*time.Hour)
		if err != nil {
			t.Fatalf("ExpireHolds: %v", err)
		}
		if len(changes) != 1 || changes[0].Serial.Cmp(old) != 0 || changes[0].Status != store.CertStatusRevoked ||
			!changes[0].RevokedAt.Equal(start.Truncate(time.Microsecond)) {
			t.Fatalf("ExpireHolds changed %+v", changes)
		}
		rec := lastRecord(t, s)
		var d map[string]any
		json.Unmarshal(rec.Details, &d)
		if rec.Action != "cert.revoke" || rec.Actor != ca.DefaultHoldActor || d["hold_expired"] != true {
			t.Fatalf("audit record %+v %s", rec, rec.Details)
		}
		for c, want := range map[*big.Int]string{recent: store.CertStatusOnHold, lifted: store.CertStatusValid} {
			if got, _ := s.GetCertificate(t.Context(), "qca", c); got.Status != want {
				t.Errorf("%x is %s, want %s", c, got.Status, want)
			}
		}
		if again, err := r.ExpireHolds(t.Context(), now, 48*time.Hour); err != nil || len(again) != 0 {
			t.Fatalf("second ExpireHolds: %+v, %v", again, err)
		}
		checkAudit(t, s)
	})
}

// Several revokers, each on its own connection pool as separate processes
// would be, act on one certificate at once: exactly one wins, the others
// get the typed error, and the chain and tables still agree.
func TestConcurrentRevokers(t *testing.T) {
	revokeBackends(t, func(t *testing.T, s store.Store, open func() store.Store) {
		now := time.Now().UTC()
		seedCA(t, s, "qca")
		const n = 6
		revokers := make([]*ca.Revoker, n)
		for i := range revokers {
			revokers[i] = newRevoker(t, open(), time.Now)
		}
		race := func(op func(r *ca.Revoker) error) (wins int, errs []error) {
			var mu sync.Mutex
			var wg sync.WaitGroup
			for _, r := range revokers {
				wg.Go(func() {
					err := op(r)
					mu.Lock()
					defer mu.Unlock()
					if err == nil {
						wins++
					} else {
						errs = append(errs, err)
					}
				})
			}
			wg.Wait()
			return wins, errs
		}
		c := seedCert(t, s, "qca", now, 24*time.Hour)
		wins, errs := race(func(r *ca.Revoker) error { _, err := r.Suspend(t.Context(), "qca", c, "duty"); return err })
		if wins != 1 {
			t.Fatalf("%d suspensions won: %v", wins, errs)
		}
		for _, err := range errs {
			wantErr(t, "lost suspension", err, ca.ErrAlreadyOnHold, errkind.Conflict)
		}
		wins, errs = race(func(r *ca.Revoker) error {
			_, err := r.Revoke(t.Context(), "qca", c, ca.ReasonKeyCompromise, nil, "officer")
			return err
		})
		if wins != 1 {
			t.Fatalf("%d revocations won: %v", wins, errs)
		}
		for _, err := range errs {
			wantErr(t, "lost revocation", err, ca.ErrAlreadyRevoked, errkind.Conflict)
		}
		// Suspensions and revocations of one certificate at once: it ends
		// revoked, whoever came first.
		d := seedCert(t, s, "qca", now, 24*time.Hour)
		var i int
		var mu sync.Mutex
		race(func(r *ca.Revoker) error {
			mu.Lock()
			i++
			odd := i%2 == 1
			mu.Unlock()
			if odd {
				_, err := r.Suspend(t.Context(), "qca", d, "duty")
				return err
			}
			_, err := r.Revoke(t.Context(), "qca", d, ca.ReasonSuperseded, nil, "officer")
			return err
		})
		if got, _ := s.GetCertificate(t.Context(), "qca", d); got.Status != store.CertStatusRevoked {
			t.Fatalf("after mixed changes: %s", got.Status)
		}
		checkAudit(t, s)
	})
}
