package policy

import (
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// acceptedWarnings is every zlint warning a ceremony certificate may carry,
// with the reason. It is empty: the profiles draw no warnings. A warning
// that appears must be fixed or argued for here (and in lintprofile.go).
var acceptedWarnings = map[string]string{}

func TestHierarchyLintsClean(t *testing.T) {
	h := buildHierarchy(t)
	l := NewLinter()
	for _, c := range h.all() {
		r, err := l.Lint(c.der, c.kind)
		if err != nil {
			t.Fatalf("%s: %v", c.kind, err)
		}
		if err := r.Err(); err != nil {
			t.Errorf("%s: %v", c.kind, err)
		}
		for _, f := range r.Findings {
			if _, ok := acceptedWarnings[f.Lint]; !ok {
				t.Errorf("%s: unexpected finding %s", c.kind, f)
			}
		}
	}
}

func TestPreIssueMatchesRealSignature(t *testing.T) {
	h := buildHierarchy(t)
	l := NewLinter()
	cases := []struct {
		c      issued
		parent *x509.Certificate
	}{{h.root, nil}, {h.mgmt, h.mgmt.tmpl}, {h.issuing, h.root.cert}, {h.ocsp, h.issuing.cert}, {h.tsa, h.issuing.cert}}
	for _, tc := range cases {
		r, err := l.PreIssue(tc.c.tmpl, tc.parent, tc.c.key.Public(), tc.c.kind)
		if err != nil {
			t.Fatalf("%s: %v", tc.c.kind, err)
		}
		if err := r.Err(); err != nil {
			t.Errorf("%s: %v", tc.c.kind, err)
		}
		// The throwaway key must give the same signature algorithm, issuer and
		// AKI as the real one, or the lint would judge another certificate.
		der, err := l.signThrowaway(tc.c.tmpl, tc.parent, tc.c.key.Public())
		if err != nil {
			t.Fatal(err)
		}
		fake, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		real := tc.c.cert
		if fake.SignatureAlgorithm != real.SignatureAlgorithm ||
			string(fake.RawIssuer) != string(real.RawIssuer) ||
			string(fake.AuthorityKeyId) != string(real.AuthorityKeyId) ||
			string(fake.RawSubjectPublicKeyInfo) != string(real.RawSubjectPublicKeyInfo) ||
			fake.SerialNumber.Cmp(real.SerialNumber) != 0 {
			t.Errorf("%s: throwaway cert differs: alg %v/%v", tc.c.kind, fake.SignatureAlgorithm, real.SignatureAlgorithm)
		}
		// What is linted is exactly what the CA key signs.
		if string(fake.RawTBSCertificate) != string(real.RawTBSCertificate) {
			t.Errorf("%s: throwaway to-be-signed bytes differ from the real ones", tc.c.kind)
		}
	}
	// One cached key per key type: P-384 for the self-signed roots, P-256
	// standing in for the P-384 issuers of subordinate certificates.
	if len(l.keys) != 2 {
		t.Errorf("linter holds %d throwaway keys, want 2", len(l.keys))
	}
}

func TestPreIssueRSAIssuer(t *testing.T) {
	// An RSA issuer: the throwaway key must be RSA of the same size so the
	// certificate says sha256WithRSAEncryption as the HSM's would.
	rsaKey := testRSAKey(t)
	tmpl, err := RootCA(CAParams{Subject: orgName("RSA Root"), Serial: mustSerial(t), PublicKey: rsaKey.Public(), NotBefore: testNow})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLinter()
	der, err := l.signThrowaway(tmpl, nil, rsaKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if c.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("signature algorithm %v", c.SignatureAlgorithm)
	}
	r, err := l.PreIssue(tmpl, nil, rsaKey.Public(), KindRootCA)
	if err != nil || r.Err() != nil {
		t.Errorf("RSA root: %v %v", err, r.Err())
	}
}

func TestBrokenCertificatesFailLint(t *testing.T) {
	h := buildHierarchy(t)
	l := NewLinter()

	// A TLS CA that cannot sign certificates (a CA/B lint, so the services CA).
	noCertSign := *h.services.tmpl
	noCertSign.KeyUsage = x509.KeyUsageCRLSign
	expectLintError(t, l, &noCertSign, h.root.cert, h.services.key.Public(), KindServicesCA, "e_ca_key_cert_sign_not_set")

	// A zero serial (Go refuses only negative ones).
	zero := *h.ocsp.tmpl
	zero.SerialNumber = big.NewInt(0)
	expectLintError(t, l, &zero, h.issuing.cert, h.ocsp.key.Public(), KindOCSPSigner, "e_serial_number_not_positive")

	// An OCSP signer without id-pkix-ocsp-nocheck.
	noCheck := *h.ocsp.tmpl
	noCheck.ExtraExtensions = nil
	noCheck.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning, x509.ExtKeyUsageServerAuth}
	expectLintError(t, l, &noCheck, h.issuing.cert, h.ocsp.key.Public(), KindOCSPSigner, "e_ocsp_id_pkix_ocsp_nocheck_ext_not_included_server_auth")

	// A negative serial cannot be made by Go: patch a signed certificate's
	// serial to 0xFF… in place. Go's parser refuses it, so Lint does too.
	der := append([]byte(nil), h.ocsp.der...)
	i := strings.Index(string(der), string(h.ocsp.cert.SerialNumber.Bytes()))
	if i < 1 || der[i-1] != 0 {
		t.Fatalf("serial not found in DER")
	}
	der[i-1] = 0xff
	if _, err := l.Lint(der, KindOCSPSigner); err == nil || !strings.Contains(err.Error(), "cannot parse") {
		t.Errorf("negative serial: Lint said %v", err)
	}
}

func expectLintError(t *testing.T, l *Linter, tmpl, parent *x509.Certificate, pub any, kind Kind, lintName string) {
	t.Helper()
	r, err := l.PreIssue(tmpl, parent, pub, kind)
	if err != nil {
		t.Fatalf("%s: %v", lintName, err)
	}
	err = r.Err()
	if !errors.Is(err, ErrLint) || !strings.Contains(err.Error(), lintName) {
		t.Errorf("want %s to fail, got %v", lintName, err)
	}
}

func TestCRLLint(t *testing.T) {
	h := buildHierarchy(t)
	l := NewLinter()
	this := testNow.Add(time.Hour)
	// The root's first CRL is empty; the issuing CA's lists every reason we use,
	// including certificateHold (suspension) and an omitted (unspecified) one.
	rootCRL, err := CRL(CRLParams{Number: big.NewInt(1), ThisUpdate: this})
	if err != nil {
		t.Fatal(err)
	}
	var entries []x509.RevocationListEntry
	for i, reason := range []int{0, 1, 2, 3, 4, 5, 6, 9} {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: big.NewInt(int64(1000 + i)), RevocationTime: testNow, ReasonCode: reason})
	}
	issCRL, err := CRL(CRLParams{Number: big.NewInt(42), ThisUpdate: this, Revoked: entries})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		tmpl *x509.RevocationList
		iss  issued
	}{{"root", rootCRL, h.root}, {"issuing", issCRL, h.issuing}} {
		der, err := x509.CreateRevocationList(rand.Reader, c.tmpl, c.iss.cert, c.iss.key)
		if err != nil {
			t.Fatal(err)
		}
		r, err := l.LintCRL(der)
		if err != nil || r.Err() != nil || len(r.Findings) != 0 {
			t.Errorf("%s CRL: %v %v %v", c.name, err, r.Err(), r.Findings)
		}
		r, err = l.PreIssueCRL(c.tmpl, c.iss.cert)
		if err != nil || r.Err() != nil {
			t.Errorf("%s CRL pre-issue: %v %v", c.name, err, r.Err())
		}
	}

	// A 30-day CRL (which CRL() refuses to build, so the template is edited
	// by hand) draws CA/B's 10-day error: proves the CRL lints run.
	bad := *issCRL
	bad.NextUpdate = this.Add(30 * 24 * time.Hour)
	r, err := l.PreIssueCRL(&bad, h.issuing.cert)
	if err != nil {
		t.Fatal(err)
	}
	if e := r.Err(); !errors.Is(e, ErrLint) || !strings.Contains(e.Error(), "e_crl_next_update_invalid") {
		t.Errorf("30-day CRL: %v", e)
	}
}

func TestLintRefusesUnknownKindAndGarbage(t *testing.T) {
	h := buildHierarchy(t)
	if _, err := Lint(h.root.der, Kind("no-such-kind")); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := Lint(h.root.der, KindCRL); err == nil {
		t.Error("certificate linted as CRL")
	}
	if _, err := Lint(h.root.der[:100], KindRootCA); err == nil {
		t.Error("truncated DER accepted")
	}
	if _, err := PreIssue(h.ocsp.tmpl, h.issuing.tmpl, h.ocsp.key.Public(), KindOCSPSigner); err == nil {
		t.Error("parent without public key accepted")
	}
}

func TestLinterConcurrent(t *testing.T) {
	h := buildHierarchy(t)
	l := NewLinter()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := newKey(t, elliptic.P256())
			tmpl, err := OCSPSigner(signerParams(h, "OCSP"))
			if err != nil {
				errs <- err
				return
			}
			r, err := l.PreIssue(tmpl, h.issuing.cert, k.Public(), KindOCSPSigner)
			if err == nil {
				err = r.Err()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkPreIssue measures one pre-issuance lint (throwaway signature,
// both parsers, zlint) of an OCSP signer template: the cost the issuer pays
// per certificate before the HSM signs.
func BenchmarkPreIssue(b *testing.B) {
	h := buildHierarchy(b)
	l := NewLinter()
	for b.Loop() {
		r, err := l.PreIssue(h.ocsp.tmpl, h.issuing.cert, h.ocsp.key.Public(), KindOCSPSigner)
		if err != nil || r.Err() != nil {
			b.Fatal(err, r.Err())
		}
	}
}

// The officer API's listener certificate (management root, loopback IP
// SAN) lints clean as internal TLS, where the CA/B lints would refuse the
// reserved address; and the RFC lints still run on it.
func TestInternalTLSLint(t *testing.T) {
	h := buildHierarchy(t)
	l := NewLinter()
	key := newKey(t, elliptic.P256())
	ski, err := KeyID(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: mustSerial(t), Subject: pkix.Name{Country: []string{"TJ"}, CommonName: "Muhr officer API"},
		NotBefore: testNow, NotAfter: testNow.Add(90 * 24 * time.Hour), SubjectKeyId: ski,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	r, err := l.PreIssue(tmpl, h.mgmt.cert, key.Public(), KindInternalTLS)
	if err != nil || r.Err() != nil {
		t.Fatalf("internal TLS: %v %v", err, r.Err())
	}
	if r, err := l.PreIssue(tmpl, h.mgmt.cert, key.Public(), KindTLSServer); err != nil || r.Err() == nil {
		t.Errorf("as a public TLS certificate the loopback SAN should be refused: %v", err)
	}
	zero := *tmpl
	zero.SerialNumber = big.NewInt(0)
	expectLintError(t, l, &zero, h.mgmt.cert, key.Public(), KindInternalTLS, "e_serial_number_not_positive")
}
