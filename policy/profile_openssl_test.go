package policy

import (
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/internal/testpki"
)

// writeCert writes c as name.pem and name.der into dir.
func writeCert(t *testing.T, dir, name string, der []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name+".der"), der, 0o600); err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Every profile's certificate verifies with openssl against the root (or
// the management root), and its policies survive RFC 5280 policy
// processing with -explicit_policy.
func TestProfilesOpenSSLVerify(t *testing.T) {
	bin := testpki.Tool(t, "openssl")
	h := buildHierarchy(t)
	dir := writePEM(t, h)
	at := []string{"-x509_strict", "-attime", "1772409600"} // 2026-03-02
	for _, c := range profileCases(t) {
		t.Run(c.name, func(t *testing.T) {
			got := issueProfile(t, h, c)
			writeCert(t, dir, c.name, got.der)
			args := append([]string{"verify"}, at...)
			switch c.caKind {
			case CAKindManagement:
				args = append(args, "-CAfile", "management-ca.pem")
			case CAKindServices:
				args = append(args, "-CAfile", "root-ca.pem", "-untrusted", "services-ca.pem")
			default:
				args = append(args, "-CAfile", "root-ca.pem", "-untrusted", "issuing-ca.pem")
			}
			switch c.profile {
			case ProfileTLSServer:
				args = append(args, "-purpose", "sslserver", "-verify_hostname", c.id.DNSNames[1])
			case ProfileOfficer:
				args = append(args, "-purpose", "sslclient")
			}
			for _, pol := range got.cert.Policies {
				args = append(args, "-policy", pol.String())
			}
			if len(got.cert.Policies) > 0 { // all but the OCSP responder
				args = append(args, "-policy_check", "-explicit_policy")
			}
			args = append(args, c.name+".pem")
			out := runOpenSSL(t, bin, dir, args...)
			if !strings.HasSuffix(strings.TrimSpace(out), ": OK") {
				t.Errorf("openssl %v: %s", args, out)
			}
		})
	}
}

// openssl 3.0 has no printer for qcStatements: -text shows the extension
// by name with a dump of its value, printable bytes as text, others as '.'. The test checks that header, the
// policies and key usage, and asn1parse of the extension value for the
// statements themselves (OIDs, PDS URLs and languages, TJ).
func TestProfilesOpenSSLText(t *testing.T) {
	bin := testpki.Tool(t, "openssl")
	h := buildHierarchy(t)
	dir := t.TempDir()
	cases := profileCases(t)
	for _, c := range []profileCase{cases[0], cases[2]} { // qes-qscd, qseal-qscd
		got := issueProfile(t, h, c)
		writeCert(t, dir, c.name, got.der)
		text := runOpenSSL(t, bin, dir, "x509", "-inform", "DER", "-in", c.name+".der", "-text", "-noout")
		qcp, typ, sem := `0\.4\.0\.194112\.1\.2`, `0\.4\.0\.1862\.1\.6\.1`, `0\.4\.0\.194121\.1\.1`
		if c.profile == ProfileQSealOrg {
			qcp, typ, sem = `0\.4\.0\.194112\.1\.3`, `0\.4\.0\.1862\.1\.6\.2`, `0\.4\.0\.194121\.1\.2`
		}
		for _, p := range []string{
			`X509v3 Key Usage: critical\s+Non Repudiation\n`,
			`Policy: ` + qcp + `\n`, `Policy: 1\.3\.6\.1\.4\.1\.99999\.1\.1\n`,
			// openssl 3.0 dumps the value as text: the printable bytes show.
			`qcStatements: ?\n\s+0\..*TJ.*https://muhr\.tj/pds/en\.pdf\.\.en0.*https://muhr\.tj/pds/ru\.pdf\.\.ru\n`,
			`CA Issuers - URI:http://127\.0\.0\.1:8080/ca/issuing-1\.crt`,
			`OCSP - URI:http://127\.0\.0\.1:8080/ocsp`,
			`URI:http://127\.0\.0\.1:8080/crl/issuing-1\.crl`,
			`X509v3 Subject Key Identifier:`, `X509v3 Authority Key Identifier:`,
		} {
			if !regexp.MustCompile(p).MatchString(text) {
				t.Errorf("%s: openssl -text lacks %q:\n%s", c.name, p, text)
			}
		}
		if strings.Contains(text, "Extended Key Usage") || strings.Contains(text, "Basic Constraints") {
			t.Errorf("%s: unexpected EKU or basicConstraints:\n%s", c.name, text)
		}

		ext := findExtension(got.cert, oidExtQCStatements)
		if ext == nil || ext.critical {
			t.Fatalf("%s: qcStatements missing or critical", c.name)
		}
		if err := os.WriteFile(filepath.Join(dir, c.name+".qc"), ext.value, 0o600); err != nil {
			t.Fatal(err)
		}
		parsed := runOpenSSL(t, bin, dir, "asn1parse", "-inform", "DER", "-in", c.name+".qc")
		for _, p := range []string{
			`OBJECT\s+:0\.4\.0\.1862\.1\.1\n`, // QcCompliance
			`OBJECT\s+:0\.4\.0\.1862\.1\.4\n`, // QcSSCD
			`OBJECT\s+:0\.4\.0\.1862\.1\.6\n`, `OBJECT\s+:` + typ + `\n`,
			`OBJECT\s+:0\.4\.0\.1862\.1\.7\n`, `PRINTABLESTRING\s+:TJ\n`,
			`OBJECT\s+:0\.4\.0\.1862\.1\.5\n`,
			`IA5STRING\s+:https://muhr\.tj/pds/en\.pdf\n\s.*PRINTABLESTRING\s+:en\n`,
			`IA5STRING\s+:https://muhr\.tj/pds/tg\.pdf\n\s.*PRINTABLESTRING\s+:tg\n`,
			`OBJECT\s+:(1\.3\.6\.1\.5\.5\.7\.11\.2|qcStatements|id-qcs-pkixQCSyntax-v2)\n`, `OBJECT\s+:` + sem + `\n`,
		} {
			if !regexp.MustCompile(p).MatchString(parsed) {
				t.Errorf("%s: asn1parse of qcStatements lacks %q:\n%s", c.name, p, parsed)
			}
		}
	}
}

// The Cyrillic names come back from openssl exactly, and from Go's parser.
func TestProfilesOpenSSLCyrillicSubject(t *testing.T) {
	bin := testpki.Tool(t, "openssl")
	h := buildHierarchy(t)
	dir := t.TempDir()
	for i, p := range testPersons {
		c := profileCase{name: "person", profile: ProfileQESPerson, id: personID(p), key: newKey(t, elliptic.P256()), caKind: CAKindIssuing}
		got := issueProfile(t, h, c)
		name := "p" + string(rune('0'+i))
		writeCert(t, dir, name, got.der)
		out := runOpenSSL(t, bin, dir, "x509", "-inform", "DER", "-in", name+".der", "-noout", "-subject", "-nameopt", "utf8,sep_comma_plus")
		want := "subject=C=TJ,SN=" + p.Surname + ",GN=" + p.GivenNames() + ",serialNumber=PNOTJ-" + p.PersonalNumber +
			",CN=" + p.CommonName() + "\n"
		if out != want {
			t.Errorf("openssl subject\n got %q\nwant %q", out, want)
		}
	}
}

// A document signed with a qualified signature or seal certificate
// verifies with `openssl cms -verify`, whose default S/MIME purpose refuses
// a chain whose CA has an EKU without emailProtection: the check on the
// qualified CA's EKU (QualifiedCAUsages).
func TestQualifiedCMSVerifies(t *testing.T) {
	bin := testpki.Tool(t, "openssl")
	h := buildHierarchy(t)
	dir := writePEM(t, h)
	at := []string{"-attime", "1772409600"} // 2026-03-02
	for _, i := range []int{0, 3} {         // qes-person (ECDSA), qseal-org
		c := profileCases(t)[i]
		got := issueProfile(t, h, c)
		writeCert(t, dir, c.name, got.der)
		keyDER, err := x509.MarshalPKCS8PrivateKey(c.key)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "doc.txt"), []byte("Ҳуҷҷат\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		runOpenSSL(t, bin, dir, "cms", "-sign", "-binary", "-in", "doc.txt", "-signer", c.name+".pem", "-inkey", c.name+".key",
			"-certfile", "issuing-ca.pem", "-outform", "DER", "-out", c.name+".p7s")
		out := runOpenSSL(t, bin, dir, append([]string{"cms", "-verify", "-binary", "-inform", "DER", "-in", c.name + ".p7s",
			"-content", "doc.txt", "-CAfile", "root-ca.pem", "-out", "/dev/null"}, at...)...)
		if !strings.Contains(out, "Verification successful") {
			t.Errorf("%s: openssl cms -verify: %s", c.name, out)
		}
	}
}
