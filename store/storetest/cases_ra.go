package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/store"
)

func fp(n int) string { return fmt.Sprintf("%064x", n) }

func testOfficers(t *testing.T, s store.Store) {
	o := store.Officer{ID: "o-1", Name: "registrar1", CertSHA256: strings.ToUpper(fp(1)), Roles: []string{"approver", "registrar"},
		Active: true, CreatedAt: base, CreatedBy: "bootstrap"}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertOfficer(ctx, o) })
	got, err := s.OfficerByFingerprint(ctx(t), fp(1))
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "registrar1" || !got.Active || strings.Join(got.Roles, ",") != "approver,registrar" || got.CertSHA256 != fp(1) {
		t.Errorf("officer = %+v", got)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, base)
	dupName := o
	dupName.ID, dupName.CertSHA256 = "o-2", fp(2)
	wantKind(t, "same name", s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error { return tx.InsertOfficer(ctx, dupName) }), store.ErrExists)
	dupCert := o
	dupCert.ID, dupCert.Name = "o-3", "other"
	wantKind(t, "same certificate", s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error { return tx.InsertOfficer(ctx, dupCert) }), store.ErrExists)

	deact := func(id string) error {
		return s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
			return tx.DeactivateOfficer(ctx, id, "admin", base.Add(time.Hour))
		})
	}
	if err := deact("o-1"); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "deactivate twice", deact("o-1"), store.ErrStateChanged)
	wantKind(t, "deactivate nobody", deact("o-none"), store.ErrNotFound)
	got, err = s.GetOfficer(ctx(t), "o-1")
	if err != nil || got.Active || got.DeactivatedBy != "admin" || got.DeactivatedAt == nil {
		t.Errorf("after deactivation: %+v, %v", got, err)
	}
	all, err := s.ListOfficers(ctx(t))
	if err != nil || len(all) != 1 {
		t.Errorf("ListOfficers = %d, %v", len(all), err)
	}
	_, err = s.OfficerByFingerprint(ctx(t), fp(9))
	wantKind(t, "unknown fingerprint", err, store.ErrNotFound)
}

func person(id, surname, number string) store.Subscriber {
	return store.Subscriber{ID: id, Kind: store.SubscriberPerson, Surname: surname, GivenName: "Фирӯз", PersonalNumber: number,
		Country: "TJ", AgreementVersion: "1.0", AgreementAt: base, PDSVersion: "1.0", PDSAt: base, CreatedAt: base, CreatedBy: "registrar1"}
}

func insertSubscriber(s store.Store, sub store.Subscriber) error {
	return s.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		return tx.InsertSubscriber(ctx, sub, sub.Surname+" "+sub.GivenName+" "+sub.PersonalNumber+" "+sub.OrgName)
	})
}

func testSubscribers(t *testing.T, s store.Store) {
	a := person("s-1", "Раҳимов", "123456789")
	a.Patronymic, a.Email, a.PassphraseHash = "Ғафурович", "a@example.tj", "$argon2id$v=19$m=65536,t=1,p=2$c2FsdA$aGFzaA"
	if err := insertSubscriber(s, a); err != nil {
		t.Fatal(err)
	}
	if err := insertSubscriber(s, person("s-2", "100%_Ali", "223456789")); err != nil {
		t.Fatal(err)
	}
	org := store.Subscriber{ID: "s-3", Kind: store.SubscriberOrganization, OrgName: "Вазорати адлия", RegistrationNumber: "0123456",
		TaxNumber: "123456789", RepresentativeID: "s-1", Country: "TJ", AgreementVersion: "1.0", AgreementAt: base,
		PDSVersion: "1.0", PDSAt: base, CreatedAt: base.Add(time.Second), CreatedBy: "registrar1"}
	if err := insertSubscriber(s, org); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "same personal number", insertSubscriber(s, person("s-4", "Другой", "123456789")), store.ErrExists)
	bad := person("s-5", "X", "323456789")
	bad.RepresentativeID = "s-none"
	wantKind(t, "unknown representative", insertSubscriber(s, bad), store.ErrNotFound)

	got, err := s.GetSubscriber(ctx(t), "s-1")
	if err != nil || got.Surname != "Раҳимов" || got.Patronymic != "Ғафурович" || got.PassphraseHash != a.PassphraseHash || got.Email != a.Email {
		t.Errorf("GetSubscriber = %+v, %v", got, err)
	}
	search := func(text string) []string {
		t.Helper()
		list, err := s.SearchSubscribers(ctx(t), text, 100)
		if err != nil {
			t.Fatalf("search %q: %v", text, err)
		}
		var ids []string
		for _, x := range list {
			ids = append(ids, x.ID)
		}
		return ids
	}
	for text, want := range map[string]string{
		"раҳимов":                        "s-1", // case-insensitive in Cyrillic
		"РАҲИМОВ":                        "s-1",
		"%":                              "s-2", // metacharacters are text
		"_":                              "s-2",
		"0%_a":                           "s-2",
		"адлия":                          "s-3",
		"'; DROP TABLE certificates; --": "",
		`\`:                              "",
		"2345678":                        "s-1,s-2",
	} {
		if got := strings.Join(search(text), ","); got != want {
			t.Errorf("search %q = %q, want %q", text, got, want)
		}
	}
	if _, err := s.CertificatesAfter(ctx(t), "", nil, 1); err != nil {
		t.Errorf("certificates table after the search: %v", err)
	}
	ev := store.Evidence{ID: "e-1", SubscriberID: "s-1", Type: "passport", Number: "A1234567", FileSHA256: fp(5), RecordedAt: base, RecordedBy: "registrar1"}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertEvidence(ctx, ev) })
	evs, err := s.ListEvidence(ctx(t), "s-1")
	if err != nil || len(evs) != 1 || evs[0].Number != "A1234567" || evs[0].FileSHA256 != fp(5) {
		t.Errorf("ListEvidence = %+v, %v", evs, err)
	}
}

func newRequest(id, sub string) store.CertRequest {
	return store.CertRequest{ID: id, SubscriberID: sub, Profile: "qes-person", Kind: store.RequestNew, CSRDER: []byte{0x30, 1, 2},
		CAID: "ca-ra", SubmittedBy: "registrar1", SubmittedAt: base}
}

func testRequests(t *testing.T, s store.Store) {
	addCA(t, s, "ca-ra")
	if err := insertSubscriber(s, person("s-1", "Раҳимов", "123456789")); err != nil {
		t.Fatal(err)
	}
	r := newRequest("r-1", "s-1")
	r.QSCD, r.QSCDEvidence, r.DNSNames = true, []byte(`{"token_serial":"42"}`), []string{"a.example.tj"}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertRequest(ctx, r) })
	got, err := s.GetRequest(ctx(t), "r-1")
	if err != nil || got.Status != store.RequestPending || !got.QSCD || string(got.QSCDEvidence) != `{"token_serial":"42"}` ||
		len(got.DNSNames) != 1 || got.DecidedBy != "" {
		t.Fatalf("GetRequest = %+v, %v", got, err)
	}
	do := func(fn func(ctx context.Context, tx store.Tx) error) error { return s.InTx(ctx(t), fn) }
	at := base.Add(time.Minute)
	// The submitter cannot decide.
	wantKind(t, "submitter approves", do(func(ctx context.Context, tx store.Tx) error { return tx.ClaimRequest(ctx, "r-1", "registrar1", at) }), store.ErrStateChanged)
	wantKind(t, "submitter rejects", do(func(ctx context.Context, tx store.Tx) error {
		return tx.RejectRequest(ctx, "r-1", "registrar1", "no", at)
	}), store.ErrStateChanged)
	wantKind(t, "no such request", do(func(ctx context.Context, tx store.Tx) error { return tx.ClaimRequest(ctx, "r-none", "a", at) }), store.ErrNotFound)
	if err := do(func(ctx context.Context, tx store.Tx) error { return tx.ClaimRequest(ctx, "r-1", "registrar2", at) }); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "second claim", do(func(ctx context.Context, tx store.Tx) error { return tx.ClaimRequest(ctx, "r-1", "approver3", at) }), store.ErrStateChanged)
	wantKind(t, "reject while issuing", do(func(ctx context.Context, tx store.Tx) error {
		return tx.RejectRequest(ctx, "r-1", "approver3", "x", at)
	}), store.ErrStateChanged)
	if err := do(func(ctx context.Context, tx store.Tx) error { return tx.FailRequest(ctx, "r-1", "HSM away", at) }); err != nil {
		t.Fatal(err)
	}
	// A failed request may be approved again.
	if err := do(func(ctx context.Context, tx store.Tx) error { return tx.ClaimRequest(ctx, "r-1", "approver3", at) }); err != nil {
		t.Fatalf("retry a failed request: %v", err)
	}
	c := issue(t, s, "ca-ra", randSerial(t))
	if err := do(func(ctx context.Context, tx store.Tx) error {
		return tx.IssueRequest(ctx, "r-1", "ca-ra", c.Serial, at)
	}); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetRequest(ctx(t), "r-1")
	if err != nil || got.Status != store.RequestIssued || got.Serial.Cmp(c.Serial) != 0 || got.DecidedBy != "approver3" {
		t.Fatalf("issued request = %+v, %v", got, err)
	}
	byCert, err := s.RequestByCertificate(ctx(t), "ca-ra", c.Serial)
	if err != nil || byCert.ID != "r-1" {
		t.Errorf("RequestByCertificate = %+v, %v", byCert, err)
	}
	certs, err := s.CertificatesBySerial(ctx(t), c.Serial)
	if err != nil || len(certs) != 1 || certs[0].IssuerID != "ca-ra" {
		t.Errorf("CertificatesBySerial = %+v, %v", certs, err)
	}
	// Final: nothing changes an issued request, and its certificate
	// belongs to no other.
	for name, fn := range map[string]func(ctx context.Context, tx store.Tx) error{
		"claim":  func(ctx context.Context, tx store.Tx) error { return tx.ClaimRequest(ctx, "r-1", "x", at) },
		"reject": func(ctx context.Context, tx store.Tx) error { return tx.RejectRequest(ctx, "r-1", "x", "late", at) },
		"fail":   func(ctx context.Context, tx store.Tx) error { return tx.FailRequest(ctx, "r-1", "late", at) },
		"issue": func(ctx context.Context, tx store.Tx) error {
			return tx.IssueRequest(ctx, "r-1", "ca-ra", randSerial(t), at)
		},
	} {
		wantKind(t, name+" after issue", do(fn), store.ErrStateChanged)
	}
	r2 := newRequest("r-2", "s-1")
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertRequest(ctx, r2) })
	if err := do(func(ctx context.Context, tx store.Tx) error { return tx.ClaimRequest(ctx, "r-2", "registrar2", at) }); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "one certificate, two requests", do(func(ctx context.Context, tx store.Tx) error {
		return tx.IssueRequest(ctx, "r-2", "ca-ra", c.Serial, at)
	}), store.ErrExists)
	r3 := newRequest("r-3", "s-1")
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertRequest(ctx, r3) })
	if err := do(func(ctx context.Context, tx store.Tx) error {
		return tx.RejectRequest(ctx, "r-3", "registrar2", "photo does not match", at)
	}); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "approve after reject", do(func(ctx context.Context, tx store.Tx) error { return tx.ClaimRequest(ctx, "r-3", "approver3", at) }), store.ErrStateChanged)
	pending, err := s.ListRequests(ctx(t), store.RequestFilter{Status: store.RequestPending})
	if err != nil || len(pending) != 1 || pending[0].ID != "r-2" {
		t.Errorf("pending = %+v, %v", pending, err)
	}
	all, err := s.ListRequests(ctx(t), store.RequestFilter{SubscriberID: "s-1"})
	if err != nil || len(all) != 3 {
		t.Errorf("requests of s-1 = %d, %v", len(all), err)
	}
}

func testConcurrentClaims(t *testing.T, s store.Store) {
	addCA(t, s, "ca-ra")
	if err := insertSubscriber(s, person("s-1", "Раҳимов", "123456789")); err != nil {
		t.Fatal(err)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertRequest(ctx, newRequest("r-1", "s-1")) })
	var won, lost atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			err := s.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
				return tx.ClaimRequest(ctx, "r-1", fmt.Sprintf("approver%d", i), base)
			})
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, store.ErrStateChanged):
				lost.Add(1)
			default:
				t.Errorf("claim %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 || lost.Load() != 19 {
		t.Errorf("claims: %d won, %d lost; want 1 and 19", won.Load(), lost.Load())
	}
}

func testPassphraseAttempts(t *testing.T, s store.Store) {
	addCA(t, s, "ca-ra")
	c := issue(t, s, "ca-ra", randSerial(t))
	for i := range 3 {
		inTx(t, s, func(ctx context.Context, tx store.Tx) error {
			if err := tx.LockCertificate(ctx, "ca-ra", c.Serial); err != nil {
				return err
			}
			return tx.InsertPassphraseAttempt(ctx, "ca-ra", c.Serial, "registrar1", i == 2, base.Add(time.Duration(i)*time.Minute))
		})
	}
	n, err := s.PassphraseFailures(ctx(t), "ca-ra", c.Serial, base)
	if err != nil || n != 2 {
		t.Errorf("failures since base = %d, %v; want 2", n, err)
	}
	n, err = s.PassphraseFailures(ctx(t), "ca-ra", c.Serial, base.Add(30*time.Second))
	if err != nil || n != 1 {
		t.Errorf("failures since base+30s = %d, %v; want 1", n, err)
	}
	wantKind(t, "lock unknown certificate", s.InTx(ctx(t), func(ctx context.Context, tx store.Tx) error {
		return tx.LockCertificate(ctx, "ca-ra", randSerial(t))
	}), store.ErrNotFound)
}

func testListenerCert(t *testing.T, s store.Store) {
	addCA(t, s, "ca-ra")
	_, err := s.LatestListenerCert(ctx(t), "officer")
	wantKind(t, "no listener cert", err, store.ErrNotFound)
	a, b := issue(t, s, "ca-ra", randSerial(t)), issue(t, s, "ca-ra", randSerial(t))
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.InsertListenerCert(ctx, store.ListenerCert{Name: "officer", IssuerID: "ca-ra", Serial: a.Serial, KeyLabel: "k1", NotAfter: base.AddDate(1, 0, 0)}); err != nil {
			return err
		}
		return tx.InsertListenerCert(ctx, store.ListenerCert{Name: "officer", IssuerID: "ca-ra", Serial: b.Serial, KeyLabel: "k2", NotAfter: base.AddDate(2, 0, 0)})
	})
	l, err := s.LatestListenerCert(ctx(t), "officer")
	if err != nil || l.KeyLabel != "k2" || l.Serial.Cmp(b.Serial) != 0 {
		t.Errorf("LatestListenerCert = %+v, %v", l, err)
	}
}

// testSchemaFourEyes: what must never happen is refused by the database
// even behind the store's back.
func testSchemaFourEyes(t *testing.T, s store.Store, exec Exec) {
	addCA(t, s, "ca-ra")
	if err := insertSubscriber(s, person("s-1", "Раҳимов", "123456789")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"r-1", "r-2"} {
		inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertRequest(ctx, newRequest(id, "s-1")) })
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.RejectRequest(ctx, "r-2", "registrar2", "no", base)
	})
	for _, q := range []string{
		// the submitter decides
		"UPDATE cert_requests SET decided_by = submitted_by, decided_at = submitted_at WHERE id = 'r-1'",
		// issued without a certificate
		"UPDATE cert_requests SET status = 'issued', decided_by = 'x', decided_at = submitted_at WHERE id = 'r-1'",
		// rejected without a reason
		"UPDATE cert_requests SET status = 'rejected', reason = '', decided_by = 'x', decided_at = submitted_at WHERE id = 'r-1'",
		// a decided request is final
		"UPDATE cert_requests SET status = 'pending', reason = '', decided_by = NULL, decided_at = NULL WHERE id = 'r-2'",
		"UPDATE cert_requests SET decided_by = 'someone-else' WHERE id = 'r-2'",
	} {
		if err := exec(ctx(t), q); err == nil {
			t.Errorf("the database took %s", q)
		}
	}
	got, err := s.GetRequest(ctx(t), "r-2")
	if err != nil || got.Status != store.RequestRejected || got.DecidedBy != "registrar2" {
		t.Errorf("r-2 = %+v, %v", got, err)
	}
}
