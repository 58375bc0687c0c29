package policy

import (
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/internal/testpki"
)

// writePEM writes the hierarchy's certificates as PEM files into a temp dir.
func writePEM(t *testing.T, h *hierarchy) string {
	t.Helper()
	dir := t.TempDir()
	for _, c := range h.all() {
		b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der})
		if err := os.WriteFile(filepath.Join(dir, string(c.kind)+".pem"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, string(c.kind)+".der"), c.der, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runOpenSSL(t *testing.T, bin, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestOpenSSLText(t *testing.T) {
	bin := testpki.Tool(t, "openssl")
	h := buildHierarchy(t)
	dir := writePEM(t, h)
	text := func(k Kind) string {
		return runOpenSSL(t, bin, dir, "x509", "-inform", "DER", "-in", string(k)+".der", "-text", "-noout")
	}
	// Each pattern must match the openssl 3 text of that certificate.
	want := map[Kind][]string{
		KindRootCA: {
			`X509v3 Basic Constraints: critical\s+CA:TRUE\n`,
			`X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\n`,
			`organizationIdentifier ?= ?NTRTJ-0123456`,
		},
		KindIssuingCA: {
			`CA:TRUE, pathlen:0`,
			`X509v3 Extended Key Usage: \n\s+E-mail Protection, Time Stamping, 1\.3\.6\.1\.5\.5\.7\.3\.36\n`,
			`Policy: 0\.4\.0\.194112\.1\.0\n`, `Policy: 0\.4\.0\.194112\.1\.1\n`,
			`Policy: 0\.4\.0\.194112\.1\.2\n`, `Policy: 0\.4\.0\.194112\.1\.3\n`,
			`Policy: 0\.4\.0\.2042\.1\.2\n`, `Policy: 1\.3\.6\.1\.4\.1\.99999\.1\.1\n`,
			`CA Issuers - URI:http://127\.0\.0\.1:8080/ca/root\.crt`,
			`URI:http://127\.0\.0\.1:8080/crl/root\.crl`,
			`X509v3 Authority Key Identifier:`,
		},
		KindServicesCA: {
			`CA:TRUE, pathlen:0`,
			`X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication\n`,
			`X509v3 Name Constraints: critical\n\s+Permitted:\n\s+DNS:minfin\.tj\n\s+DNS:gov\.tj\n\s+Excluded:\n\s+IP:0\.0\.0\.0/0\.0\.0\.0\n\s+IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0\n`,
			`Policy: X509v3 Any Policy\n`,
			`CA Issuers - URI:http://127\.0\.0\.1:8080/ca/root\.crt`,
		},
		KindOCSPSigner: {
			`X509v3 Extended Key Usage: \n\s+OCSP Signing\n`,
			`OCSP No Check: ?\n`,
			`X509v3 Key Usage: critical\s+Digital Signature\n`,
			`CA Issuers - URI:http://127\.0\.0\.1:8080/ca/issuing-1\.crt`,
		},
		KindTSAUnit: {
			`X509v3 Extended Key Usage: critical\s+Time Stamping\n`,
			`X509v3 Key Usage: critical\s+Digital Signature\n`,
			`Policy: 0\.4\.0\.2023\.1\.1\n`, `Policy: 0\.4\.0\.2042\.1\.2\n`,
			`OCSP - URI:http://127\.0\.0\.1:8080/ocsp`,
			`URI:http://127\.0\.0\.1:8080/crl/issuing-1\.crl`,
		},
	}
	for kind, patterns := range want {
		out := text(kind)
		for _, p := range patterns {
			if !regexp.MustCompile(p).MatchString(out) {
				t.Errorf("%s: openssl text lacks %q:\n%s", kind, p, out)
			}
		}
	}
	if out := text(KindOCSPSigner); strings.Contains(out, "CRL Distribution") || strings.Contains(out, "OCSP - URI") || strings.Contains(out, "Certificate Policies") {
		t.Errorf("OCSP signer has status URLs:\n%s", out)
	}
	if out := text(KindRootCA); strings.Contains(out, "Certificate Policies") {
		t.Errorf("root has certificatePolicies:\n%s", out)
	}
}

func TestOpenSSLSubjectUTF8(t *testing.T) {
	bin := testpki.Tool(t, "openssl")
	h := buildHierarchy(t)
	dir := writePEM(t, h)
	out := runOpenSSL(t, bin, dir, "x509", "-inform", "DER", "-in", "issuing-ca.der", "-noout", "-subject", "-nameopt", "utf8,sep_comma_plus")
	want := "subject=C=TJ,O=" + tajikOrg + ",organizationIdentifier=NTRTJ-0123456,CN=Muhr Qualified CA 1\n"
	if out != want {
		t.Errorf("openssl subject\n got %q\nwant %q", out, want)
	}
}

func TestOpenSSLVerify(t *testing.T) {
	bin := testpki.Tool(t, "openssl")
	h := buildHierarchy(t)
	dir := writePEM(t, h)
	// -x509_strict adds RFC 5280 profile checks (SKI/AKI, critical
	// basicConstraints and keyUsage in CAs); the fixed -attime keeps the
	// test independent of the machine's clock.
	at := []string{"-x509_strict", "-attime", "1772409600"} // 2026-03-02
	verify := func(args ...string) {
		t.Helper()
		out := runOpenSSL(t, bin, dir, append(append([]string{"verify"}, at...), args...)...)
		if !strings.HasSuffix(strings.TrimSpace(out), ": OK") {
			t.Errorf("openssl verify %v: %s", args, out)
		}
	}
	verify("-CAfile", "root-ca.pem", "issuing-ca.pem")
	verify("-CAfile", "root-ca.pem", "services-ca.pem")
	verify("-CAfile", "management-ca.pem", "management-ca.pem")
	verify("-CAfile", "root-ca.pem", "-untrusted", "issuing-ca.pem", "ocsp-signer.pem")
	verify("-CAfile", "root-ca.pem", "-untrusted", "issuing-ca.pem", "-purpose", "ocsphelper", "ocsp-signer.pem")
	verify("-CAfile", "root-ca.pem", "-untrusted", "issuing-ca.pem", "tsa-unit.pem")
	// OpenSSL's timestampsign purpose wants EKU timeStamping alone and critical.
	verify("-CAfile", "root-ca.pem", "-untrusted", "issuing-ca.pem", "-purpose", "timestampsign", "tsa-unit.pem")
	// Policy processing: each signer's policies are valid along the path.
	for _, c := range []struct{ leaf, policy string }{
		{"tsa-unit.pem", "0.4.0.2042.1.2"},
		{"tsa-unit.pem", "0.4.0.2023.1.1"},
		{"tsa-unit.pem", "1.3.6.1.4.1.99999.1.1"},
	} {
		verify("-CAfile", "root-ca.pem", "-untrusted", "issuing-ca.pem",
			"-policy_check", "-explicit_policy", "-policy", c.policy, c.leaf)
	}
}

func TestOpenSSLCRL(t *testing.T) {
	bin := testpki.Tool(t, "openssl")
	h := buildHierarchy(t)
	dir := writePEM(t, h)
	tmpl, err := CRL(CRLParams{Number: mustSerial(t), ThisUpdate: testNow.Add(60 * 1e9)})
	if err != nil {
		t.Fatal(err)
	}
	der, err := createCRL(tmpl, h.root)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root.crl"), der, 0o600); err != nil {
		t.Fatal(err)
	}
	out := runOpenSSL(t, bin, dir, "crl", "-inform", "DER", "-in", "root.crl", "-noout", "-text", "-CAfile", "root-ca.pem")
	for _, w := range []string{"verify OK", "X509v3 CRL Number", "X509v3 Authority Key Identifier", "No Revoked Certificates"} {
		if !strings.Contains(out, w) {
			t.Errorf("openssl crl lacks %q:\n%s", w, out)
		}
	}
}
