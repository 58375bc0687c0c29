package ra_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/ra"
	"github.com/muhr-pki/muhr/ra/ratest"
	"github.com/muhr-pki/muhr/store"
)

func wantErr(t *testing.T, what string, err error, kind errkind.Kind, field, state string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %s", what, kind)
	}
	f, s := ra.Details(err)
	if errkind.Of(err) != kind || f != field || s != state {
		t.Fatalf("%s: %v (kind %s field %q state %q), want kind %s field %q state %q", what, err, errkind.Of(err), f, s, kind, field, state)
	}
}

func parseCert(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode([]byte(p))
	if blk == nil {
		t.Fatalf("no PEM certificate in %q", p)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// countIssued counts the qes-person certificates stored.
func countIssued(t *testing.T, st store.Store) int {
	t.Helper()
	n := 0
	var issuer string
	var serial *big.Int
	for {
		page, err := st.CertificatesAfter(context.Background(), issuer, serial, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return n
		}
		for _, c := range page {
			if strings.HasPrefix(c.Profile, "qes-person") {
				n++
			}
		}
		issuer, serial = page[len(page)-1].IssuerID, page[len(page)-1].Serial
	}
}

func hasPolicy(c *x509.Certificate, oid string) bool {
	for _, p := range c.Policies {
		if p.String() == oid {
			return true
		}
	}
	return false
}

func TestServiceFlow(t *testing.T) {
	for _, backend := range ratest.Backends {
		t.Run(backend, func(t *testing.T) { serviceFlow(t, backend) })
	}
}

func serviceFlow(t *testing.T, backend string) {
	c := ratest.New(t, backend, nil)
	ctx := context.Background()
	reg1, _ := c.Officer(t, "registrar1", "registrar")
	reg2, _ := c.Officer(t, "registrar2", "registrar", "approver")
	aud, _ := c.Officer(t, "auditor", "auditor")

	sub, err := c.Service.RegisterSubscriber(ctx, reg1, ratest.Person("123456789012"))
	if err != nil {
		t.Fatal(err)
	}
	if sub.Person.Surname != "Раҳимов" || !sub.HasPassphrase || sub.CreatedBy != "registrar1" {
		t.Fatalf("registered %+v", sub)
	}
	_, err = c.Service.RegisterSubscriber(ctx, reg1, ratest.Person("123456789012"))
	wantErr(t, "same person twice", err, errkind.Conflict, "personal_number", "")

	key := ratest.Key(t)
	req, err := c.Service.Submit(ctx, reg1, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, key)})
	if err != nil {
		t.Fatal(err)
	}
	if req.Status != "pending" || req.QSCD || req.SubmittedBy != "registrar1" {
		t.Fatalf("submitted %+v", req)
	}
	// registrar1 has no approver role; registrar2 has, but submitted nothing.
	_, err = c.Service.Approve(ctx, reg1, req.ID)
	wantErr(t, "registrar approves", err, errkind.Forbidden, "", "")
	own, err := c.Service.Submit(ctx, reg2, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Service.Approve(ctx, reg2, own.ID)
	wantErr(t, "approver approves own request", err, errkind.Forbidden, "", "")
	_, err = c.Service.Reject(ctx, reg2, own.ID, "mine")
	wantErr(t, "approver rejects own request", err, errkind.Forbidden, "", "")

	done, err := c.Service.Approve(ctx, reg2, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != "issued" || done.Serial == "" || done.DecidedBy != "registrar2" {
		t.Fatalf("approved %+v", done)
	}
	cert := parseCert(t, done.Certificate)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: c.Roots, Intermediates: c.Issuing, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("issued certificate does not verify: %v", err)
	}
	if cert.Subject.CommonName != "Раҳимов Фирӯз Ғафурович" || cert.Subject.SerialNumber != "PNOTJ-123456789012" {
		t.Errorf("subject = %s", cert.Subject)
	}
	if !hasPolicy(cert, "0.4.0.194112.1.0") || hasPolicy(cert, "0.4.0.194112.1.2") {
		t.Errorf("a CSR without QSCD evidence got policies %v", cert.Policies)
	}
	_, err = c.Service.Approve(ctx, reg2, req.ID)
	wantErr(t, "approve an issued request", err, errkind.Conflict, "", "issued")
	_, err = c.Service.Reject(ctx, reg2, req.ID, "late")
	wantErr(t, "reject an issued request", err, errkind.Conflict, "", "issued")

	other, err := c.Service.Submit(ctx, reg1, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t))})
	if err != nil {
		t.Fatal(err)
	}
	rej, err := c.Service.Reject(ctx, reg2, other.ID, "the photo does not match")
	if err != nil || rej.Status != "rejected" || rej.Reason != "the photo does not match" {
		t.Fatalf("reject = %+v, %v", rej, err)
	}
	_, err = c.Service.Approve(ctx, reg2, other.ID)
	wantErr(t, "approve a rejected request", err, errkind.Conflict, "", "rejected")

	// Renewal: same identity, new key; the old key is refused.
	_, err = c.Service.Submit(ctx, reg1, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, key), Kind: "renew", RenewsSerial: done.Serial})
	wantErr(t, "renew with the same key", err, errkind.Conflict, "csr", "")
	ren, err := c.Service.Submit(ctx, reg1, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t)),
		Kind: "renew", RenewsSerial: strings.ToLower(done.Serial)})
	if err != nil {
		t.Fatal(err)
	}
	ren, err = c.Service.Approve(ctx, reg2, ren.ID)
	if err != nil || ren.Status != "issued" || ren.RenewsSerial != done.Serial {
		t.Fatalf("renewal = %+v, %v", ren, err)
	}
	if got := parseCert(t, ren.Certificate).Subject.String(); got != cert.Subject.String() {
		t.Errorf("renewed subject %s, want %s", got, cert.Subject)
	}

	// Revocation through the revoker, and passphrase suspension.
	_, err = c.Service.Suspend(ctx, reg1, done.Serial, "wrong-passphrase")
	wantErr(t, "wrong passphrase", err, errkind.Forbidden, "", "")
	got, err := c.Service.Suspend(ctx, reg1, done.Serial, "сирри-ман-123")
	if err != nil || got.Status != "suspended" {
		t.Fatalf("suspend = %+v, %v", got, err)
	}
	_, err = c.Service.Suspend(ctx, reg1, done.Serial, "")
	wantErr(t, "suspend twice", err, errkind.Conflict, "", "suspended")
	if got, err = c.Service.Resume(ctx, reg1, done.Serial); err != nil || got.Status != "good" {
		t.Fatalf("resume = %+v, %v", got, err)
	}
	if got, err = c.Service.Revoke(ctx, reg1, done.Serial, "keyCompromise", nil); err != nil || got.Status != "revoked" || got.Revocation.Reason != "keyCompromise" {
		t.Fatalf("revoke = %+v, %v", got, err)
	}
	_, err = c.Service.Revoke(ctx, reg1, done.Serial, "superseded", nil)
	wantErr(t, "revoke twice", err, errkind.Conflict, "", "revoked")
	_, err = c.Service.Revoke(ctx, reg1, done.Serial, "certificateHold", nil)
	wantErr(t, "hold as a reason", err, errkind.Invalid, "reason", "")

	list, err := c.Service.ListCertificates(ctx, aud, sub.ID)
	if err != nil || len(list) != 2 {
		t.Errorf("certificates of the subscriber = %d, %v", len(list), err)
	}
	v, err := c.Service.VerifyAudit(ctx, aud)
	if err != nil || !v.OK {
		t.Fatalf("audit verify = %+v, %v", v, err)
	}
	page, err := c.Service.Audit(ctx, aud, sub.CreatedAt, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// Paging to the end stops although every page read is itself audited:
	// the last page says next_after_seq 0.
	var paged int
	after := int64(0)
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("paging the audit log in pages of 5 did not end after %d pages (%d records)", pages, paged)
		}
		p, err := c.Service.Audit(ctx, aud, time.Time{}, after, 5)
		if err != nil {
			t.Fatal(err)
		}
		paged += len(p.Records)
		if p.NextAfterSeq == 0 {
			break
		}
		after = p.NextAfterSeq
	}
	if paged < len(page.Records) {
		t.Errorf("paged %d records, one page of 1000 had %d", paged, len(page.Records))
	}
	actors := map[string]string{}
	for _, r := range page.Records {
		actors[r.Action] += r.Actor + " "
	}
	for action, actor := range map[string]string{"subscriber.register": "officer:registrar1", "request.submit": "officer:registrar1",
		"request.approve": "officer:registrar2", "cert.issue": "officer:registrar2", "request.reject": "officer:registrar2",
		"cert.passphrase.wrong": "officer:registrar1", "cert.suspend": "officer:registrar1", "cert.revoke": "officer:registrar1",
		"officer.forbidden": "officer:registrar1", "cert.read": "officer:auditor", "audit.verify": "officer:auditor"} {
		if !strings.Contains(actors[action], actor) {
			t.Errorf("audit %s by %q, want %s", action, actors[action], actor)
		}
	}
}

func TestSubmitRefusals(t *testing.T) {
	c := ratest.New(t, "sqlite", nil)
	ctx := context.Background()
	reg, _ := c.Officer(t, "registrar1", "registrar")
	sub, err := c.Service.RegisterSubscriber(ctx, reg, ratest.Person("223456789012"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	openssl := testpki.Tool(t, "openssl")
	key := filepath.Join(dir, "k.pem")
	csr := filepath.Join(dir, "sha1.csr")
	for _, args := range [][]string{{"genrsa", "-out", key, "2048"}, {"req", "-new", "-sha1", "-key", key, "-subj", "/CN=x", "-out", csr}} {
		if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	sha1, err := os.ReadFile(csr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Service.Submit(ctx, reg, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: string(sha1)})
	wantErr(t, "SHA-1 CSR", err, errkind.Invalid, "csr", "")
	if !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("SHA-1 refusal does not say what to use: %v", err)
	}
	for name, in := range map[string]struct {
		in    ra.RequestInput
		field string
	}{
		"no csr":             {ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person"}, "csr"},
		"garbage csr":        {ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: "hello"}, "csr"},
		"bad profile":        {ra.RequestInput{SubscriberID: sub.ID, Profile: "officer", CSR: ratest.CSR(t, ratest.Key(t))}, "profile"},
		"seal for a person":  {ra.RequestInput{SubscriberID: sub.ID, Profile: "qseal-org", CSR: ratest.CSR(t, ratest.Key(t))}, "profile"},
		"unknown subscriber": {ra.RequestInput{SubscriberID: "s-none", Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t))}, "subscriber_id"},
		"extractable qscd": {ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t)),
			QSCD: &ra.QSCDEvidence{TokenSerial: "1", Sensitive: true, Extractable: true, Local: true}}, "qscd"},
		"renew nothing": {ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t)), Kind: "renew", RenewsSerial: "abcdef"}, "renews_serial"},
	} {
		_, err := c.Service.Submit(ctx, reg, in.in)
		wantErr(t, name, err, errkind.Invalid, in.field, "")
	}
}

func TestRegistrationValidation(t *testing.T) {
	c := ratest.New(t, "sqlite", nil)
	ctx := context.Background()
	reg, _ := c.Officer(t, "registrar1", "registrar")
	p := func(mod func(*ra.PersonInput)) ra.SubscriberInput {
		in := ratest.Person("323456789012")
		mod(in.Person)
		return in
	}
	org := func(mod func(*ra.OrganizationInput)) ra.SubscriberInput {
		o := &ra.OrganizationInput{Name: "Вазорати адлия", RegistrationNumber: "0123456", TaxNumber: "123456789", Country: "TJ"}
		mod(o)
		return ra.SubscriberInput{Kind: "organization", Organization: o}
	}
	for name, tc := range map[string]struct {
		in    ra.SubscriberInput
		field string
	}{
		"personal number letters": {p(func(x *ra.PersonInput) { x.PersonalNumber = "12345678A" }), "personal_number"},
		"personal number short":   {p(func(x *ra.PersonInput) { x.PersonalNumber = "1234" }), "personal_number"},
		"country":                 {p(func(x *ra.PersonInput) { x.Country = "tj" }), "country"},
		"email":                   {p(func(x *ra.PersonInput) { x.Email = "not an address" }), "email"},
		"mixed script surname":    {p(func(x *ra.PersonInput) { x.Surname = "Раҳимоv" }), "surname"},
		"no given name":           {p(func(x *ra.PersonInput) { x.GivenName = "" }), "given_name"},
		"registration number":     {org(func(x *ra.OrganizationInput) { x.RegistrationNumber = "12-34" }), "registration_number"},
		"tax number":              {org(func(x *ra.OrganizationInput) { x.TaxNumber = "12345" }), "tax_number"},
		"kind":                    {ra.SubscriberInput{Kind: "robot"}, "kind"},
		"short passphrase":        {func() ra.SubscriberInput { in := ratest.Person("423456789012"); in.Passphrase = "123"; return in }(), "passphrase"},
	} {
		_, err := c.Service.RegisterSubscriber(ctx, reg, tc.in)
		wantErr(t, name, err, errkind.Invalid, tc.field, "")
	}
}

// TestQSCDOnlyWithEvidence: the -qscd policy and QcSSCD need the device's
// evidence.
func TestQSCDOnlyWithEvidence(t *testing.T) {
	c := ratest.New(t, "sqlite", nil)
	ctx := context.Background()
	reg, _ := c.Officer(t, "registrar1", "registrar")
	app, _ := c.Officer(t, "approver1", "approver")
	sub, err := c.Service.RegisterSubscriber(ctx, reg, ratest.Person("523456789012"))
	if err != nil {
		t.Fatal(err)
	}
	ev := &ra.QSCDEvidence{TokenSerial: "0042", TokenLabel: "card", Manufacturer: "SoftHSM", KeyLabel: "sig", Sensitive: true,
		AlwaysSensitive: true, NeverExtractable: true, Local: true}
	req, err := c.Service.Submit(ctx, reg, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t)), QSCD: ev})
	if err != nil {
		t.Fatal(err)
	}
	var back ra.QSCDEvidence
	if err := json.Unmarshal(req.QSCDEvidence, &back); err != nil || back != *ev || !req.QSCD {
		t.Fatalf("recorded evidence %s (%v)", req.QSCDEvidence, err)
	}
	done, err := c.Service.Approve(ctx, app, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	cert := parseCert(t, done.Certificate)
	if !hasPolicy(cert, "0.4.0.194112.1.2") {
		t.Errorf("QSCD request got policies %v", cert.Policies)
	}
	if !hasQcSSCD(t, cert) {
		t.Error("QSCD certificate lacks QcSSCD")
	}
}

func hasQcSSCD(t *testing.T, c *x509.Certificate) bool {
	sscd := asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 4}
	for _, e := range c.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 3}) {
			var stmts []struct {
				ID   asn1.ObjectIdentifier
				Rest asn1.RawValue `asn1:"optional"`
			}
			if _, err := asn1.Unmarshal(e.Value, &stmts); err != nil {
				t.Fatal(err)
			}
			for _, s := range stmts {
				if s.ID.Equal(sscd) {
					return true
				}
			}
		}
	}
	return false
}

// TestFiftyApprovals: fifty concurrent approvals of one request issue one
// certificate; each gets it or a conflict, none an error of its own.
func TestFiftyApprovals(t *testing.T) {
	for _, backend := range ratest.Backends {
		t.Run(backend, func(t *testing.T) {
			c := ratest.New(t, backend, nil)
			ctx := context.Background()
			reg, _ := c.Officer(t, "registrar1", "registrar")
			var apps []store.Officer
			for i := range 5 {
				o, _ := c.Officer(t, fmt.Sprintf("approver%d", i), "approver")
				apps = append(apps, o)
			}
			sub, err := c.Service.RegisterSubscriber(ctx, reg, ratest.Person("623456789012"))
			if err != nil {
				t.Fatal(err)
			}
			req, err := c.Service.Submit(ctx, reg, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t))})
			if err != nil {
				t.Fatal(err)
			}
			// One approval alone, for the figure.
			single, err := c.Service.Submit(ctx, reg, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t))})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if _, err := c.Service.Approve(ctx, apps[0], single.ID); err != nil {
				t.Fatal(err)
			}
			one := time.Since(start)
			var wg sync.WaitGroup
			var mu sync.Mutex
			serials := map[string]int{}
			conflicts := 0
			start = time.Now()
			for i := range 50 {
				wg.Go(func() {
					v, err := c.Service.Approve(ctx, apps[i%len(apps)], req.ID)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						serials[v.Serial]++
					case errkind.Of(err) == errkind.Conflict:
						conflicts++
					default:
						t.Errorf("approval %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			all := time.Since(start)
			if len(serials) != 1 || countIssued(t, c.Store) != 2 {
				t.Fatalf("serials %v, %d certificates stored; want one for the request (and the single one)", serials, countIssued(t, c.Store))
			}
			t.Logf("one approval (submit excluded) %v; 50 concurrent approvals of one request %v: %v ok, %d conflicts", one.Round(time.Millisecond), all.Round(time.Millisecond), serials, conflicts)
		})
	}
}

// TestReplayAfterRestart: a crash between the decision and the stored
// request, or between the certificate and the request's update, is finished
// by the next approval with no second certificate.
func TestReplayAfterRestart(t *testing.T) {
	c := ratest.New(t, "sqlite", nil)
	ctx := context.Background()
	reg, _ := c.Officer(t, "registrar1", "registrar")
	app, _ := c.Officer(t, "approver1", "approver")
	sub, err := c.Service.RegisterSubscriber(ctx, reg, ratest.Person("723456789012"))
	if err != nil {
		t.Fatal(err)
	}
	subRow, err := c.Store.GetSubscriber(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	key := ratest.Key(t)
	req, err := c.Service.Submit(ctx, reg, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, key)})
	if err != nil {
		t.Fatal(err)
	}
	row, err := c.Store.GetRequest(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The approval was decided and the certificate issued; the process died
	// before the request was marked issued.
	if err := c.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.ClaimRequest(ctx, req.ID, app.Name, row.SubmittedAt)
	}); err != nil {
		t.Fatal(err)
	}
	first, err := c.Issuers[row.CAID].IssueRequest(ctx, ca.Request{ID: req.ID, Profile: row.Profile, CSR: row.CSRDER, Actor: "officer:approver1",
		Identity: policy.Identity{Kind: policy.IdentityPerson, Person: policy.Person{Surname: subRow.Surname, GivenName: subRow.GivenName,
			Patronymic: subRow.Patronymic, PersonalNumber: subRow.PersonalNumber, Country: subRow.Country}}})
	if err != nil {
		t.Fatal(err)
	}
	// Restart: new issuers, new service, same database.
	issuers := map[string]ra.Issuer{}
	for id := range c.Issuers {
		iss, err := ca.NewIssuer(ctx, ca.IssuerOptions{CAID: id, Store: c.Store, Keys: c.Keys, Settings: ratest.Settings()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { iss.Close() })
		issuers[id] = iss
	}
	o := c.Opts
	o.Issuers = issuers
	svc, err := ra.New(o)
	if err != nil {
		t.Fatal(err)
	}
	done, err := svc.Approve(ctx, app, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != "issued" || done.Serial != ra.SerialHex(first.SerialNumber) {
		t.Fatalf("after restart: %+v, want serial %s", done, ra.SerialHex(first.SerialNumber))
	}
	_, err = svc.Approve(ctx, app, req.ID)
	wantErr(t, "replayed approval", err, errkind.Conflict, "", "issued")
	if n := countIssued(t, c.Store); n != 1 {
		t.Fatalf("%d certificates after the replay, want 1", n)
	}
	if err := c.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.FailRequest(ctx, req.ID, "x", row.SubmittedAt) }); !errors.Is(err, store.ErrStateChanged) {
		t.Fatalf("an issued request changed: %v", err)
	}
}

// TestPassphraseRateLimit: five wrong passphrases per certificate in the
// window, then even the right one is refused until the window has passed;
// every attempt is audited.
func TestPassphraseRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Now().UTC()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := ratest.New(t, "sqlite", func(o *ra.Options) { o.Clock = clock })
	ctx := context.Background()
	reg, _ := c.Officer(t, "registrar1", "registrar")
	app, _ := c.Officer(t, "approver1", "approver")
	sub, err := c.Service.RegisterSubscriber(ctx, reg, ratest.Person("143456789012"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := c.Service.Submit(ctx, reg, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t))})
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.Service.Approve(ctx, app, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		_, err := c.Service.Suspend(ctx, reg, done.Serial, fmt.Sprintf("wrong-%d-passphrase", i))
		wantErr(t, "wrong passphrase", err, errkind.Forbidden, "", "")
		if !strings.Contains(err.Error(), "does not match") {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	_, err = c.Service.Suspend(ctx, reg, done.Serial, "сирри-ман-123")
	wantErr(t, "right passphrase over the limit", err, errkind.Forbidden, "", "")
	if !strings.Contains(err.Error(), "too many attempts; wait 15 minutes") {
		t.Fatalf("over the limit: %v", err)
	}
	mu.Lock()
	now = now.Add(16 * time.Minute)
	mu.Unlock()
	got, err := c.Service.Suspend(ctx, reg, done.Serial, "сирри-ман-123")
	if err != nil || got.Status != "suspended" {
		t.Fatalf("after the window: %+v, %v", got, err)
	}
	counts := map[string]int{}
	recs, err := c.Store.AuditRecords(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if strings.HasPrefix(r.Action, "cert.passphrase.") {
			counts[r.Action]++
		}
	}
	if counts["cert.passphrase.wrong"] != 5 || counts["cert.passphrase.refused"] != 1 || counts["cert.passphrase.ok"] != 1 {
		t.Fatalf("passphrase audit records: %v", counts)
	}
}

// TestEvidenceKept: a scan sent at registration is kept in the evidence
// directory under its SHA-256, and a hash that does not match is refused.
func TestEvidenceKept(t *testing.T) {
	dir := t.TempDir()
	c := ratest.New(t, "sqlite", func(o *ra.Options) { o.EvidenceDir = dir })
	ctx := context.Background()
	reg, _ := c.Officer(t, "registrar1", "registrar")
	scan := []byte("%PDF-1.4 passport scan")
	sum := sha256.Sum256(scan)
	in := ratest.Person("153456789012")
	in.Evidence = &ra.EvidenceInput{Type: "passport", Number: "A1234567", FileName: "scan.pdf", FileBase64: base64.StdEncoding.EncodeToString(scan)}
	sub, err := c.Service.RegisterSubscriber(ctx, reg, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.Evidence) != 1 || sub.Evidence[0].FileSHA256 != hex.EncodeToString(sum[:]) || !sub.Evidence[0].Kept {
		t.Fatalf("evidence %+v", sub.Evidence)
	}
	kept, err := os.ReadFile(filepath.Join(dir, sub.ID, hex.EncodeToString(sum[:])+".pdf"))
	if err != nil || string(kept) != string(scan) {
		t.Fatalf("kept scan: %q, %v", kept, err)
	}
	in = ratest.Person("163456789012")
	in.Evidence = &ra.EvidenceInput{Type: "passport", Number: "B1", FileSHA256: strings.Repeat("0", 64), FileBase64: base64.StdEncoding.EncodeToString(scan)}
	_, err = c.Service.RegisterSubscriber(ctx, reg, in)
	wantErr(t, "hash of another file", err, errkind.Invalid, "evidence.file_sha256", "")
	// A refused CSR leaves no request behind.
	_, err = c.Service.Submit(ctx, reg, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"})
	wantErr(t, "malformed CSR", err, errkind.Invalid, "csr", "")
	if list, err := c.Store.ListRequests(ctx, store.RequestFilter{SubscriberID: sub.ID}); err != nil || len(list) != 0 {
		t.Fatalf("requests after a refused submit: %d, %v", len(list), err)
	}
}

// flakyIssuer fails its first issuance as an HSM gone away would.
type flakyIssuer struct {
	ra.Issuer
	failed bool
}

func (f *flakyIssuer) IssueRequest(ctx context.Context, req ca.Request) (*x509.Certificate, error) {
	if !f.failed {
		f.failed = true
		return nil, fmt.Errorf("%w: token removed", ca.ErrSign)
	}
	return f.Issuer.IssueRequest(ctx, req)
}

// TestFailedIsRetryable: an issuance that fails leaves the request failed
// with the reason; approving again issues it.
func TestFailedIsRetryable(t *testing.T) {
	c := ratest.New(t, "sqlite", func(o *ra.Options) {
		for id, iss := range o.Issuers {
			if id != "mgmt-demo" { // officers' certificates still issue
				o.Issuers[id] = &flakyIssuer{Issuer: iss}
			}
		}
	})
	ctx := context.Background()
	reg, _ := c.Officer(t, "registrar1", "registrar")
	app, _ := c.Officer(t, "approver1", "approver")
	sub, err := c.Service.RegisterSubscriber(ctx, reg, ratest.Person("173456789012"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := c.Service.Submit(ctx, reg, ra.RequestInput{SubscriberID: sub.ID, Profile: "qes-person", CSR: ratest.CSR(t, ratest.Key(t))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Service.Approve(ctx, app, req.ID)
	if err == nil || errkind.Of(err) != errkind.Unavailable || !strings.Contains(err.Error(), "approve it again") {
		t.Fatalf("failed issuance: %v", err)
	}
	got, err := c.Service.GetRequest(ctx, app, req.ID)
	if err != nil || got.Status != "failed" || !strings.Contains(got.Reason, "token removed") {
		t.Fatalf("after the failure: %+v, %v", got, err)
	}
	done, err := c.Service.Approve(ctx, app, req.ID)
	if err != nil || done.Status != "issued" || done.Reason != "" {
		t.Fatalf("retry: %+v, %v", done, err)
	}
}
