package ca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
)

// center is a ceremony-made hierarchy on a SoftHSM token and a store.
type center struct {
	st    store.Store
	tok   testpki.SoftHSMToken
	keys  *pkcs11.Token
	made  map[string][]byte // role -> DER
	plan  *ca.Plan
	dir   string
	roots string // PEM of the root
	inter string // PEM of the issuing CA
}

func newCenter(t testing.TB, backend string) *center {
	t.Helper()
	return newCenterWith(t, backend, nil)
}

// newCenterWith runs the demo ceremony, first letting mod change the plan.
func newCenterWith(t testing.TB, backend string, mod func(*ca.Plan)) *center {
	t.Helper()
	return newCenterOn(t, backends(t)[backend](t), mod)
}

// newCenterOn runs the demo ceremony on st, first letting mod change the plan.
func newCenterOn(t testing.TB, st store.Store, mod func(*ca.Plan)) *center {
	t.Helper()
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tok := testpki.SoftHSM(t)
	keys, err := pkcs11.Open(ctx, tok.Config(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	plan := demoPlan(t)
	if mod != nil {
		mod(plan)
	}
	made, err := (&ca.Ceremony{Keys: keys, Store: st, PublicURL: "http://127.0.0.1:8080"}).Run(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	c := &center{st: st, tok: tok, keys: keys, made: map[string][]byte{}, plan: plan, dir: t.TempDir()}
	for _, m := range made {
		if m.Role != "crl" {
			c.made[m.Role] = m.DER
		}
	}
	c.roots = writePEM(t, c.dir, "root.pem", c.made["root"])
	c.inter = writePEM(t, c.dir, "issuing.pem", c.made["issuing"])
	return c
}

func settings() ca.ProfileSettings {
	oid, _ := x509.ParseOID("1.3.6.1.4.1.59999.1.1")
	return ca.ProfileSettings{PublicURL: "http://127.0.0.1:8080", CenterPolicy: oid, PDS: []policy.PDS{
		{URL: "https://muhr.example.tj/pds/en", Language: "en"},
		{URL: "https://muhr.example.tj/pds/tg", Language: "tg"},
		{URL: "https://muhr.example.tj/pds/ru", Language: "ru"}}}
}

func (c *center) issuer(t testing.TB, caID string, keys interface {
	Signer(context.Context, string) (crypto.Signer, error)
}, fp func(ca.Stage) error) *ca.Issuer {
	t.Helper()
	return c.issuerWith(t, caID, func(o *ca.IssuerOptions) {
		o.Keys = keys
		if fp != nil {
			ca.SetFailpoint(o, fp)
		}
	})
}

// issuerWith makes an issuer of caID with the center's keys and settings,
// first letting mod change the options; it is closed when the test ends.
func (c *center) issuerWith(t testing.TB, caID string, mod func(*ca.IssuerOptions)) *ca.Issuer {
	t.Helper()
	o := ca.IssuerOptions{CAID: caID, Store: c.st, Keys: c.keys, Settings: settings()}
	if mod != nil {
		mod(&o)
	}
	iss, err := ca.NewIssuer(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := iss.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return iss
}

func csrFor(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func identity(t testing.TB, js string) policy.Identity {
	t.Helper()
	id, err := policy.ParseIdentity([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

const (
	personJSON = `{"kind":"person","surname":"Раҳимов","given_name":"Ҷамшед","patronymic":"Ғафурович","personal_number":"123456789012","country":"TJ"}`
	orgJSON    = `{"kind":"organization","name":"Вазорати адлияи Ҷумҳурии Тоҷикистон","registration_number":"0123456789","tax_number":"123456789","country":"TJ"}`
	tlsJSON    = `{"kind":"organization","name":"Агентии алоқа","registration_number":"7654321","tax_number":"987654321","country":"TJ","dns_names":["e-gov.example.tj"]}`
)

func (c *center) openssl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(testpki.Tool(t, "openssl"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestIssueEachProfile(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			c := newCenter(t, backend)
			qca := c.issuer(t, "qca-demo", c.keys, nil)
			mgmt := c.issuer(t, "mgmt-demo", c.keys, nil)
			cases := []struct {
				name, profile, id string
				qscd              bool
				iss               *ca.Issuer
				policy            string
				text              []string
			}{
				{"qes", "qes-person", personJSON, false, qca, "0.4.0.194112.1.0", []string{"0.4.0.194112.1.0", "qcStatements", "TJ"}},
				{"qes-qscd", "qes-person", personJSON, true, qca, "0.4.0.194112.1.2", []string{"0.4.0.194112.1.2", "qcStatements"}},
				{"qseal", "qseal-org", orgJSON, false, qca, "0.4.0.194112.1.1", []string{"0.4.0.194112.1.1", "qcStatements"}},
				{"officer", "officer", personJSON, false, mgmt, "1.3.6.1.4.1.59999.1.1", []string{"TLS Web Client Authentication"}},
			}
			reqs := map[string]ca.Request{}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					// The CSR asks for CA:TRUE and extra SANs: issued without them.
					req := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "evil"}, DNSNames: []string{"attacker.example"},
						ExtraExtensions: []pkix.Extension{{Id: []int{2, 5, 29, 19}, Critical: true, Value: []byte{0x30, 0x03, 0x01, 0x01, 0xff}}}}
					r := ca.Request{ID: "req-" + tc.name, Profile: tc.profile,
						CSR: csrFor(t, newKey(t), req), Identity: identity(t, tc.id), QSCD: tc.qscd, Actor: "officer-a"}
					reqs[tc.name] = r
					cert, err := tc.iss.IssueRequest(ctx, r)
					if err != nil {
						t.Fatal(err)
					}
					if cert.IsCA || slices_contains(cert.DNSNames, "attacker.example") {
						t.Fatalf("CSR extensions copied: IsCA=%v DNS=%v", cert.IsCA, cert.DNSNames)
					}
					if cert.SerialNumber.BitLen() < 64 || cert.SerialNumber.Sign() <= 0 {
						t.Fatalf("serial %x", cert.SerialNumber)
					}
					res, err := policy.Lint(cert.Raw, lintKindOf(tc.profile))
					if err != nil {
						t.Fatal(err)
					}
					for _, f := range res.Problems() {
						if f.Accepted == "" {
							t.Errorf("lint: %v", f)
						}
					}
					leaf := writePEM(t, c.dir, tc.name+".pem", cert.Raw)
					if tc.profile == "officer" {
						mgmtPEM := writePEM(t, c.dir, "mgmt.pem", c.made["management"])
						c.openssl(t, "verify", "-CAfile", mgmtPEM, leaf)
					} else {
						c.openssl(t, "verify", "-CAfile", c.roots, "-untrusted", c.inter, "-policy_check", "-explicit_policy", "-policy", tc.policy, leaf)
					}
					text := c.openssl(t, "x509", "-in", leaf, "-noout", "-text", "-nameopt", "utf8")
					for _, w := range tc.text {
						if !strings.Contains(text, w) {
							t.Errorf("openssl x509 -text lacks %q", w)
						}
					}
					stored, err := c.st.GetCertificate(ctx, cert.Issuer.String()[0:0]+issuerID(tc.profile), cert.SerialNumber)
					if err != nil || !strings.HasPrefix(stored.Profile, tc.profile+"/v") {
						t.Fatalf("stored certificate: %+v, %v", stored.Profile, err)
					}
				})
			}
			// The Cyrillic name survives DER, openssl and Go (the repeat of the
			// same request returns the stored certificate).
			cert, err := qca.IssueRequest(ctx, reqs["qes"])
			if err != nil {
				t.Fatal(err)
			}
			if got := cert.Subject.CommonName; got != "Раҳимов Ҷамшед Ғафурович" {
				t.Fatalf("CN = %q", got)
			}
			subj := c.openssl(t, "x509", "-in", filepath.Join(c.dir, "qes.pem"), "-noout", "-subject", "-nameopt", "utf8,sep_comma_plus")
			for _, w := range []string{"Раҳимов", "Ҷамшед Ғафурович", "PNOTJ-123456789012"} {
				if !strings.Contains(subj, w) {
					t.Fatalf("openssl subject %q lacks %q", subj, w)
				}
			}
			if _, err := audit.Verify(ctx, c.st); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func slices_contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func issuerID(profile string) string {
	if profile == "officer" {
		return "mgmt-demo"
	}
	return "qca-demo"
}

func lintKindOf(profile string) policy.Kind {
	p, _ := policy.ProfileByName(profile)
	return p.Kind
}

func TestIssueRefusals(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	qca := c.issuer(t, "qca-demo", c.keys, nil)
	key := newKey(t)
	good := ca.Request{ID: "r", Profile: "qes-person", CSR: csrFor(t, key, nil), Identity: identity(t, personJSON), Actor: "a"}

	// An unknown profile, a profile this CA may not issue, a CSR that is
	// not one, a name with a bidi override.
	bad := good
	bad.Profile = "qes-robot"
	if _, err := qca.IssueRequest(ctx, bad); !errors.Is(err, ca.ErrRequest) || !errors.Is(err, policy.ErrUnknownProfile) {
		t.Errorf("unknown profile: %v", err)
	}
	bad = good
	bad.Profile = "officer"
	if _, err := qca.IssueRequest(ctx, bad); !errors.Is(err, ca.ErrWrongIssuer) {
		t.Errorf("officer from the qualified CA: %v", err)
	}
	bad = good
	bad.CSR = []byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
	if _, err := qca.IssueRequest(ctx, bad); !errors.Is(err, ca.ErrRequest) {
		t.Errorf("garbage CSR: %v", err)
	}
	bad = good
	bad.Identity.Person.Surname = "Раҳимов\u202e"
	if _, err := qca.IssueRequest(ctx, bad); err == nil || !strings.Contains(err.Error(), "surname") {
		t.Errorf("bidi override: %v", err)
	}
	// A CA's own key in a CSR.
	caKey, err := c.keys.Signer(ctx, "qca-demo")
	if err != nil {
		t.Fatal(err)
	}
	bad = good
	bad.ID = "r-ca-key"
	bad.CSR = csrFor(t, caKey, nil)
	if _, err := qca.IssueRequest(ctx, bad); !errors.Is(err, ca.ErrRequest) || !strings.Contains(err.Error(), "CA") {
		t.Errorf("CA key: %v", err)
	}
	// Nothing above reached the intents.
	if in, err := c.st.PendingIntents(ctx); err != nil || len(in) != 0 {
		t.Fatalf("refused requests left intents: %v %v", in, err)
	}

	// Same request twice: one certificate. Another request with the same key: refused.
	first, err := qca.IssueRequest(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	again, err := qca.IssueRequest(ctx, good)
	if err != nil || again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("second issuance of the same request: %v, serial %x vs %x", err, again.SerialNumber, first.SerialNumber)
	}
	other := good
	other.ID = "r2"
	if _, err := qca.IssueRequest(ctx, other); !errors.Is(err, ca.ErrKeyReused) {
		t.Fatalf("key reuse: %v", err)
	}
}

// countingKeys hands out the real signer, or one that fails as an HSM that
// went away does.
type failingKeys struct {
	inner interface {
		Signer(context.Context, string) (crypto.Signer, error)
	}
	fail *bool
}

type failingSigner struct {
	crypto.Signer
	fail *bool
}

func (s failingSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	if *s.fail {
		return nil, errors.New("hsm: token unavailable (CKR_DEVICE_REMOVED)")
	}
	return s.Signer.Sign(r, d, o)
}

func (k failingKeys) Signer(ctx context.Context, label string) (crypto.Signer, error) {
	s, err := k.inner.Signer(ctx, label)
	if err != nil {
		return nil, err
	}
	return failingSigner{s, k.fail}, nil
}

func TestHSMUnavailableAtSignTime(t *testing.T) {
	ctx := context.Background()
	c := newCenter(t, "sqlite")
	fail := true
	qca := c.issuer(t, "qca-demo", failingKeys{c.keys, &fail}, nil)
	req := ca.Request{ID: "r", Profile: "qes-person", CSR: csrFor(t, newKey(t), nil), Identity: identity(t, personJSON), Actor: "a"}
	_, err := qca.IssueRequest(ctx, req)
	if !errors.Is(err, ca.ErrSign) || !strings.Contains(err.Error(), "unavailable") {
		t.Fatalf("sign with the HSM away: %v", err)
	}
	if _, err := c.st.LiveIntent(ctx, "r"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("failed issuance left a live intent: %v", err)
	}
	fail = false
	cert, err := qca.IssueRequest(ctx, req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if _, err := c.st.GetCertificate(ctx, "qca-demo", cert.SerialNumber); err != nil {
		t.Fatal(err)
	}
}

// A crash between the HSM signature and the store: after restart the
// serial is burned, nothing was stored, and the request issues cleanly.
func TestCrashBetweenSignAndStore(t *testing.T) {
	for _, stage := range []ca.Stage{ca.StageIntentWritten, ca.StageSigned} {
		t.Run(string(stage), func(t *testing.T) {
			ctx := context.Background()
			c := newCenter(t, "sqlite")
			crash := errors.New("simulated crash")
			clk := newFakeClock()
			qca := c.issuerWith(t, "qca-demo", func(o *ca.IssuerOptions) {
				o.Clock = clk.Now
				ca.SetFailpoint(o, func(s ca.Stage) error {
					if s == stage {
						return crash
					}
					return nil
				})
			})
			req := ca.Request{ID: "r", Profile: "qes-person", CSR: csrFor(t, newKey(t), nil), Identity: identity(t, personJSON), Actor: "a"}
			p, err := qca.Prepare(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			burned := p.Serial()
			if _, err := qca.Issue(ctx, p); !errors.Is(err, crash) {
				t.Fatalf("Issue = %v", err)
			}
			if _, err := c.st.GetCertificate(ctx, "qca-demo", burned); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("certificate stored despite the crash: %v", err)
			}
			// While the intent is pending the request is not issued twice.
			if _, err := qca.IssueRequest(ctx, req); !errors.Is(err, ca.ErrInProgress) {
				t.Fatalf("issue during pending intent: %v", err)
			}

			// A second issuer while the first is alive leaves its intent alone.
			second := c.issuerWith(t, "qca-demo", func(o *ca.IssuerOptions) { o.Clock = clk.Now })
			if n, err := second.Recover(ctx); n != 0 || err != nil {
				t.Fatalf("Recover with the holder alive = %d, %v", n, err)
			}
			if in, _ := c.st.PendingIntents(ctx); len(in) != 1 {
				t.Fatalf("a second issuer abandoned a live holder's intent: pending %v", in)
			}

			// The first dies; once its lease ran out a restart resolves the intent.
			qca.Halt()
			clk.Advance(ca.DefaultLease + time.Second)
			restarted := c.issuerWith(t, "qca-demo", func(o *ca.IssuerOptions) { o.Clock = clk.Now })
			if in, _ := c.st.PendingIntents(ctx); len(in) != 0 {
				t.Fatalf("pending after restart: %v", in)
			}
			cert, err := restarted.IssueRequest(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if cert.SerialNumber.Cmp(burned) == 0 {
				t.Fatal("burned serial reused")
			}
			err = c.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				return tx.ReserveSerial(ctx, store.SerialReservation{IssuerID: "qca-demo", Serial: burned, Purpose: "x"})
			})
			if !errors.Is(err, store.ErrDuplicateSerial) {
				t.Fatalf("burned serial can be reserved again: %v", err)
			}
			again, err := restarted.IssueRequest(ctx, req)
			if err != nil || again.SerialNumber.Cmp(cert.SerialNumber) != 0 {
				t.Fatalf("request issued twice: %v", err)
			}
			recs, _ := c.st.AuditRecords(ctx, 0, 1000)
			var abandon int
			for _, r := range recs {
				if r.Action == "issuance.abandon" && strings.Contains(r.Object, fmt.Sprintf("%x", burned)) {
					abandon++
				}
			}
			if abandon != 1 {
				t.Fatalf("abandon audited %d times", abandon)
			}
		})
	}
}
