package storetest

import (
	"context"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/store"
)

func revoke(s store.Store, t *testing.T, r store.Revocation) (store.StatusChange, error) {
	var ch store.StatusChange
	err := s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		var err error
		ch, err = tx.RevokeCertificate(ctx, r)
		return err
	})
	return ch, err
}

func statusTx(s store.Store, t *testing.T, fn func(ctx context.Context, tx store.Tx) (store.StatusChange, error)) (store.StatusChange, error) {
	var ch store.StatusChange
	err := s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		var err error
		ch, err = fn(ctx, tx)
		return err
	})
	return ch, err
}

func suspend(s store.Store, t *testing.T, issuer string, serial *big.Int, at time.Time) (store.StatusChange, error) {
	return statusTx(s, t, func(ctx context.Context, tx store.Tx) (store.StatusChange, error) {
		return tx.SuspendCertificate(ctx, issuer, serial, at)
	})
}

func resume(s store.Store, t *testing.T, issuer string, serial *big.Int, at time.Time) (store.StatusChange, error) {
	return statusTx(s, t, func(ctx context.Context, tx store.Tx) (store.StatusChange, error) {
		return tx.ResumeCertificate(ctx, issuer, serial, at)
	})
}

func feed(t *testing.T, s store.Store) []store.StatusChange {
	t.Helper()
	all, err := s.StatusChangesAfter(ctx(t), 0, 10_000)
	if err != nil {
		t.Fatalf("StatusChangesAfter: %v", err)
	}
	return all
}

func reasonOf(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// issueExpired stores a certificate whose notAfter is before base.
func issueExpired(t *testing.T, s store.Store, issuer string) store.Certificate {
	t.Helper()
	c := certificate(t, issuer, randSerial(t))
	c.NotBefore, c.NotAfter = base.AddDate(-2, 0, 0), base.Add(-time.Hour)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.ReserveSerial(ctx, reservation(issuer, c.Serial)); err != nil {
			return err
		}
		return tx.InsertCertificate(ctx, c)
	})
	return c
}

func testRevoke(t *testing.T, s store.Store) {
	addCA(t, s, "ca-a")
	c := issue(t, s, "ca-a", randSerial(t))
	at, compromised := base.Add(3*time.Hour+5*time.Nanosecond), base.Add(time.Hour)
	ch, err := revoke(s, t, store.Revocation{IssuerID: "ca-a", Serial: c.Serial, Reason: store.ReasonKeyCompromise, At: at, InvalidityDate: &compromised})
	if err != nil {
		t.Fatalf("RevokeCertificate: %v", err)
	}
	if ch.Seq <= 0 || ch.Status != store.CertStatusRevoked || reasonOf(ch.RevocationReason) != store.ReasonKeyCompromise ||
		ch.IssuerID != "ca-a" || ch.Serial.Cmp(c.Serial) != 0 || ch.RevokedAt == nil || ch.InvalidityDate == nil {
		t.Fatalf("change = %+v", ch)
	}
	sameTime(t, "change RevokedAt", *ch.RevokedAt, at)
	sameTime(t, "change InvalidityDate", *ch.InvalidityDate, compromised)
	sameTime(t, "change ChangedAt", ch.ChangedAt, at)
	got, err := s.GetCertificate(ctx(t), "ca-a", c.Serial)
	if err != nil {
		t.Fatal(err)
	}
	want := c
	want.Status, want.RevokedAt, want.RevocationReason = store.CertStatusRevoked, &at, ch.RevocationReason
	sameCert(t, got, want)
	if got.InvalidityDate == nil {
		t.Fatal("invalidity date not stored")
	}
	sameTime(t, "InvalidityDate", *got.InvalidityDate, compromised)
	// The walk reads the same columns.
	page, err := s.CertificatesAfter(ctx(t), "", nil, 10)
	if err != nil || len(page) != 1 || page[0].InvalidityDate == nil || reasonOf(page[0].RevocationReason) != store.ReasonKeyCompromise {
		t.Fatalf("CertificatesAfter = %+v, %v", page, err)
	}

	// A revocation is final: a second one, with any reason, is refused and
	// changes nothing.
	_, err = revoke(s, t, store.Revocation{IssuerID: "ca-a", Serial: c.Serial, Reason: store.ReasonSuperseded, At: at.Add(time.Hour)})
	wantKind(t, "second revocation", err, store.ErrCertRevoked)
	_, err = suspend(s, t, "ca-a", c.Serial, at.Add(time.Hour))
	wantKind(t, "suspend a revoked certificate", err, store.ErrCertRevoked)
	_, err = resume(s, t, "ca-a", c.Serial, at.Add(time.Hour))
	wantKind(t, "resume a revoked certificate", err, store.ErrCertRevoked)
	if again, _ := s.GetCertificate(ctx(t), "ca-a", c.Serial); reasonOf(again.RevocationReason) != store.ReasonKeyCompromise {
		t.Errorf("refused changes altered the row: %+v", again)
	}

	// Unknown serials, and serials reserved but never stored.
	_, err = revoke(s, t, store.Revocation{IssuerID: "ca-a", Serial: randSerial(t), Reason: store.ReasonUnspecified, At: at})
	wantKind(t, "revoke an unknown serial", err, store.ErrNotFound)
	reserved := randSerial(t)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.ReserveSerial(ctx, reservation("ca-a", reserved))
	})
	_, err = suspend(s, t, "ca-a", reserved, at)
	wantKind(t, "suspend a reserved serial", err, store.ErrNotFound)
	_, err = resume(s, t, "no-such-ca", c.Serial, at)
	wantKind(t, "resume under an unknown issuer", err, store.ErrNotFound)

	// An expired certificate is neither revoked nor suspended.
	old := issueExpired(t, s, "ca-a")
	_, err = revoke(s, t, store.Revocation{IssuerID: "ca-a", Serial: old.Serial, Reason: store.ReasonKeyCompromise, At: base})
	wantKind(t, "revoke an expired certificate", err, store.ErrCertExpired)
	_, err = suspend(s, t, "ca-a", old.Serial, base)
	wantKind(t, "suspend an expired certificate", err, store.ErrCertExpired)
	// notAfter itself is still inside the validity period for RFC 5280, but
	// a revocation at that instant is refused too: nothing relies on it after.
	_, err = revoke(s, t, store.Revocation{IssuerID: "ca-a", Serial: old.Serial, Reason: store.ReasonKeyCompromise, At: old.NotAfter})
	wantKind(t, "revoke at notAfter", err, store.ErrCertExpired)
	if got, _ := s.GetCertificate(ctx(t), "ca-a", old.Serial); got.Status != store.CertStatusValid {
		t.Errorf("expired certificate changed to %s", got.Status)
	}

	// Reasons that are not revocations.
	fresh := issue(t, s, "ca-a", randSerial(t))
	for _, bad := range []int{store.ReasonCertificateHold, 7, 8, 11, -1} {
		_, err = revoke(s, t, store.Revocation{IssuerID: "ca-a", Serial: fresh.Serial, Reason: bad, At: at})
		wantKind(t, "reason", err, store.ErrBadReason)
	}
	if all := feed(t, s); len(all) != 1 || all[0].Seq != ch.Seq {
		t.Errorf("feed after one revocation and refusals = %+v", all)
	}
}

func testSuspendResume(t *testing.T, s store.Store) {
	addCA(t, s, "ca-a")
	c := issue(t, s, "ca-a", randSerial(t))
	held := base.Add(time.Hour)
	ch, err := suspend(s, t, "ca-a", c.Serial, held)
	if err != nil {
		t.Fatalf("SuspendCertificate: %v", err)
	}
	if ch.Status != store.CertStatusOnHold || reasonOf(ch.RevocationReason) != store.ReasonCertificateHold || ch.RevokedAt == nil {
		t.Fatalf("suspend change = %+v", ch)
	}
	_, err = suspend(s, t, "ca-a", c.Serial, held.Add(time.Minute))
	wantKind(t, "suspend twice", err, store.ErrCertOnHold)
	holds, err := s.HoldsBefore(ctx(t), held.Add(time.Microsecond), 10)
	if err != nil || len(holds) != 1 || holds[0].Serial.Cmp(c.Serial) != 0 {
		t.Fatalf("HoldsBefore = %+v, %v", holds, err)
	}
	if holds, _ := s.HoldsBefore(ctx(t), held, 10); len(holds) != 0 {
		t.Errorf("HoldsBefore the hold time lists %+v", holds)
	}

	ch2, err := resume(s, t, "ca-a", c.Serial, held.Add(time.Hour))
	if err != nil {
		t.Fatalf("ResumeCertificate: %v", err)
	}
	if ch2.Seq <= ch.Seq || ch2.Status != store.CertStatusValid || ch2.RevokedAt != nil || ch2.RevocationReason != nil {
		t.Fatalf("resume change = %+v after %+v", ch2, ch)
	}
	got, _ := s.GetCertificate(ctx(t), "ca-a", c.Serial)
	sameCert(t, got, c)
	_, err = resume(s, t, "ca-a", c.Serial, held.Add(2*time.Hour))
	wantKind(t, "resume a valid certificate", err, store.ErrCertNotOnHold)

	// Revoking a held certificate keeps the hold time as the revocation time.
	held2 := held.Add(3 * time.Hour)
	if _, err := suspend(s, t, "ca-a", c.Serial, held2); err != nil {
		t.Fatal(err)
	}
	rv, err := revoke(s, t, store.Revocation{IssuerID: "ca-a", Serial: c.Serial, Reason: store.ReasonCessationOfOperation, At: held2.Add(time.Hour)})
	if err != nil {
		t.Fatalf("revoke a held certificate: %v", err)
	}
	sameTime(t, "revocation time of a held certificate", *rv.RevokedAt, held2)
	if reasonOf(rv.RevocationReason) != store.ReasonCessationOfOperation {
		t.Errorf("reason = %v", rv.RevocationReason)
	}
	_, err = resume(s, t, "ca-a", c.Serial, held2.Add(2*time.Hour))
	wantKind(t, "resume after the hold became a revocation", err, store.ErrCertRevoked)
	if n := len(feed(t, s)); n != 4 {
		t.Errorf("feed holds %d changes, want 4", n)
	}
}

func testRevokeHold(t *testing.T, s store.Store) {
	addCA(t, s, "ca-a")
	c := issue(t, s, "ca-a", randSerial(t))
	held := base.Add(time.Hour)
	if _, err := suspend(s, t, "ca-a", c.Serial, held); err != nil {
		t.Fatal(err)
	}
	rh := func(serial *big.Int, reason int, before, at time.Time) (store.StatusChange, error) {
		return statusTx(s, t, func(ctx context.Context, tx store.Tx) (store.StatusChange, error) {
			return tx.RevokeHold(ctx, "ca-a", serial, reason, before, at)
		})
	}
	_, err := rh(c.Serial, store.ReasonUnspecified, held, held.Add(time.Hour))
	wantKind(t, "a hold that began at the cutoff", err, store.ErrCertNotOnHold)
	_, err = rh(c.Serial, store.ReasonCertificateHold, held.Add(time.Hour), held.Add(time.Hour))
	wantKind(t, "certificateHold as the final reason", err, store.ErrBadReason)
	valid := issue(t, s, "ca-a", randSerial(t))
	_, err = rh(valid.Serial, store.ReasonUnspecified, held.Add(time.Hour), held.Add(time.Hour))
	wantKind(t, "a valid certificate", err, store.ErrCertNotOnHold)
	_, err = rh(randSerial(t), store.ReasonUnspecified, held.Add(time.Hour), held.Add(time.Hour))
	wantKind(t, "an unknown serial", err, store.ErrNotFound)

	// Long after the certificate expired, the hold still becomes final.
	late := c.NotAfter.Add(24 * time.Hour)
	ch, err := rh(c.Serial, store.ReasonUnspecified, held.Add(time.Second), late)
	if err != nil {
		t.Fatalf("RevokeHold: %v", err)
	}
	if ch.Status != store.CertStatusRevoked || reasonOf(ch.RevocationReason) != store.ReasonUnspecified {
		t.Fatalf("change = %+v", ch)
	}
	sameTime(t, "revocation time", *ch.RevokedAt, held)
	sameTime(t, "changed at", ch.ChangedAt, late)
	_, err = rh(c.Serial, store.ReasonUnspecified, late, late)
	wantKind(t, "RevokeHold twice", err, store.ErrCertRevoked)
}

func testFeed(t *testing.T, s store.Store) {
	addCA(t, s, "ca-a")
	if n, err := s.LatestStatusChangeSeq(ctx(t)); err != nil || n != 0 {
		t.Fatalf("LatestStatusChangeSeq of an empty feed = %d, %v", n, err)
	}
	var serials []*big.Int
	for range 5 {
		serials = append(serials, issue(t, s, "ca-a", randSerial(t)).Serial)
	}
	// A change rolled back leaves no row in the feed.
	boom := errors.New("boom")
	err := s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		if _, err := tx.SuspendCertificate(ctx, "ca-a", serials[0], base); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if all := feed(t, s); len(all) != 0 {
		t.Fatalf("rolled-back change is in the feed: %+v", all)
	}
	if got, _ := s.GetCertificate(ctx(t), "ca-a", serials[0]); got.Status != store.CertStatusValid {
		t.Fatalf("rolled-back change stayed: %s", got.Status)
	}
	// Several changes in one transaction each get their number.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, sr := range serials[:3] {
			if _, err := tx.SuspendCertificate(ctx, "ca-a", sr, base); err != nil {
				return err
			}
		}
		return nil
	})
	for _, sr := range serials[3:] {
		if _, err := revoke(s, t, store.Revocation{IssuerID: "ca-a", Serial: sr, Reason: store.ReasonSuperseded, At: base}); err != nil {
			t.Fatal(err)
		}
	}
	all := feed(t, s)
	if len(all) != 5 {
		t.Fatalf("feed holds %d changes, want 5", len(all))
	}
	for i, ch := range all {
		if i > 0 && ch.Seq <= all[i-1].Seq {
			t.Errorf("feed seq %d after %d", ch.Seq, all[i-1].Seq)
		}
		if ch.Serial.Cmp(serials[i]) != 0 {
			t.Errorf("feed row %d names %x, want %x", i, ch.Serial, serials[i])
		}
	}
	// Paging from any point.
	page, err := s.StatusChangesAfter(ctx(t), all[1].Seq, 2)
	if err != nil || len(page) != 2 || page[0].Seq != all[2].Seq || page[1].Seq != all[3].Seq {
		t.Fatalf("StatusChangesAfter(%d, 2) = %+v, %v", all[1].Seq, page, err)
	}
	if n, err := s.LatestStatusChangeSeq(ctx(t)); err != nil || n != all[4].Seq {
		t.Fatalf("LatestStatusChangeSeq = %d, %v; want %d", n, err, all[4].Seq)
	}
	if _, err := s.StatusChangesAfter(ctx(t), 0, 0); err == nil {
		t.Error("limit 0 accepted")
	}
}

// Many writers on one certificate: exactly one changes it, the others get
// the typed refusal.
func testConcurrentStatus(t *testing.T, s store.Store) {
	addCA(t, s, "ca-a")
	const n = 8
	race := func(op func() error) (wins int, errs []error) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				err := op()
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
	c := issue(t, s, "ca-a", randSerial(t))
	wins, errs := race(func() error {
		_, err := suspend(s, t, "ca-a", c.Serial, base)
		return err
	})
	if wins != 1 {
		t.Fatalf("%d suspensions won (%v)", wins, errs)
	}
	for _, err := range errs {
		wantKind(t, "losing suspension", err, store.ErrCertOnHold)
	}
	wins, errs = race(func() error {
		_, err := revoke(s, t, store.Revocation{IssuerID: "ca-a", Serial: c.Serial, Reason: store.ReasonKeyCompromise, At: base})
		return err
	})
	if wins != 1 {
		t.Fatalf("%d revocations won (%v)", wins, errs)
	}
	for _, err := range errs {
		wantKind(t, "losing revocation", err, store.ErrCertRevoked)
	}
	if all := feed(t, s); len(all) != 2 {
		t.Fatalf("feed holds %d changes, want 2", len(all))
	}
}
