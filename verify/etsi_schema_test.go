package verify_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/verify"
)

// etsiSchema is the TS 119 102-2 V1.2.1 schema written from the standard
// (see its header for provenance); xmllint resolves its imports beside it.
const etsiSchema = "schema/ts119102-2-v1.2.1.xsd"

// xmllintSchema validates doc against the TS 119 102-2 schema with
// libxml2's xmllint and returns its complaint, nil when doc is valid.
func xmllintSchema(t *testing.T, name string, doc []byte) error {
	t.Helper()
	xmllint := testpki.Tool(t, "xmllint")
	f := filepath.Join(t.TempDir(), name+".xml")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", etsiSchema, f).CombinedOutput()
	if err != nil {
		return &schemaError{string(out)}
	}
	if !strings.Contains(string(out), "validates") {
		t.Fatalf("xmllint said: %s", out)
	}
	return nil
}

type schemaError struct{ out string }

func (e *schemaError) Error() string { return e.out }

// Every kind of verdict, with a chain and the revocation data used, writes
// a report that validates against the TS 119 102-2 schema.
func TestETSIReportValidatesAgainstSchema(t *testing.T) {
	p := newSoftPKI(t)
	ctx := context.Background()
	v := p.validator(t, nil)
	type tc struct {
		name string
		rep  *verify.Report
		ind  verify.Indication
		sub  verify.SubIndication
		// what the report must hold beside the status
		must []string
	}
	var cases []tc
	add := func(name string, rep *verify.Report, ind verify.Indication, sub verify.SubIndication, must ...string) {
		cases = append(cases, tc{name, rep, ind, sub, must})
	}
	chain := []string{"<CertificateChain>", "<IntermediateCertificate ", "<TrustAnchor "}
	ocspUsed := "validationObject:OCSPResponse"

	cert, key := p.signer(t, nil)
	add("passed-cades-t", v.Signature(ctx, p.sign(t, doc, cert, key, true, false), doc, nil), verify.Passed, "",
		append(chain, ocspUsed, "<SignatureTimeStamp", "<TimeStampValue>", "<POEObject ", "<SignersDocument>")...)
	add("passed-cades-b-attached", v.Signature(ctx, p.sign(t, doc, cert, key, false, true), nil, nil), verify.Passed, "",
		append(chain, ocspUsed, "<BestSignatureTime>")...)

	// The signer revoked before the timestamp: failed, with the revocation.
	revoked, rk := p.signer(t, nil)
	p.revoke(revoked, time.Now().Add(-time.Hour))
	add("failed-revoked", v.Signature(ctx, p.sign(t, doc, revoked, rk, true, false), doc, nil), verify.Failed, verify.Revoked,
		append(chain, ocspUsed, "<RevocationStatusInformation>", "<RevocationTime>", "revocationReason:keyCompromise")...)
	// Revoked, no timestamp: indeterminate.
	add("indeterminate-revoked-no-poe", v.Signature(ctx, p.sign(t, doc, revoked, rk, false, false), doc, nil),
		verify.Indeterminate, verify.RevokedNoPOE, append(chain, "<RevocationStatusInformation>")...)
	// The signature over other content, and a tampered signature value.
	sig := p.sign(t, doc, cert, key, false, false)
	add("failed-hash", v.Signature(ctx, sig, []byte("another document"), nil), verify.Failed, verify.HashFailure)
	bad := bytes.Clone(sig)
	bad[len(bad)-3] ^= 0x01 // inside the ECDSA signature value, the last field
	add("failed-sig-crypto", v.Signature(ctx, bad, doc, nil), verify.Failed, verify.SigCryptoFailure)
	// No revocation source answers: TRY_LATER, the chain still reported.
	hung, hk := p.signer(t, func(c *x509.Certificate) {
		c.OCSPServer = []string{p.url + "/down"}
		c.CRLDistributionPoints = []string{p.url + "/down"}
	})
	add("indeterminate-try-later", v.Signature(ctx, p.sign(t, doc, hung, hk, false, false), doc, nil),
		verify.Indeterminate, verify.TryLater, chain...)
	// A signer from another CA: no chain.
	other := newSoftPKI(t)
	oc, ok := other.signer(t, nil)
	add("indeterminate-no-chain", v.Signature(ctx, other.sign(t, doc, oc, ok, false, false), doc, nil),
		verify.Indeterminate, verify.NoCertificateChainFound)
	// Not a signature at all.
	add("failed-format", v.Signature(ctx, []byte("not CMS"), doc, nil), verify.Failed, verify.FormatFailure)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want(t, c.rep.Status, c.ind, c.sub)
			b, err := verify.ETSIReport(c.rep)
			if err != nil {
				t.Fatal(err)
			}
			if err := xmllintSchema(t, c.name, b); err != nil {
				t.Fatalf("the report does not validate against %s:\n%v\n%s", etsiSchema, err, b)
			}
			main := "urn:etsi:019102:mainindication:" + strings.ToLower(string(c.ind))
			if !bytes.Contains(b, []byte("<MainIndication>"+main+"</MainIndication>")) {
				t.Errorf("no main indication %s", main)
			}
			if c.sub != "" && !bytes.Contains(b, []byte("urn:etsi:019102:subindication:"+string(c.sub))) {
				t.Errorf("no sub-indication %s", c.sub)
			}
			for _, m := range c.must {
				if !bytes.Contains(b, []byte(m)) {
					t.Errorf("no %s in\n%s", m, b)
				}
			}
		})
	}
}

// The schema constrains: a report with a required element missing, in
// another namespace, with a misspelt indication, a malformed reference or
// elements out of order fails xmllint.
func TestETSISchemaRejectsBrokenReports(t *testing.T) {
	p := newSoftPKI(t)
	cert, key := p.signer(t, nil)
	rep := p.validator(t, nil).Signature(context.Background(), p.sign(t, doc, cert, key, true, false), doc, nil)
	want(t, rep.Status, verify.Passed, "")
	good, err := verify.ETSIReport(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := xmllintSchema(t, "good", good); err != nil {
		t.Fatalf("the unbroken report fails: %v", err)
	}
	s := string(good)
	firstVORef := regexp.MustCompile(`VOReference="[^"]+"`)
	for _, b := range []struct{ name, doc, complaint string }{
		{"no-main-indication", regexp.MustCompile(`\s*<MainIndication>[^<]*</MainIndication>`).ReplaceAllString(s, ""), "MainIndication"},
		{"wrong-namespace", strings.Replace(s, verify.ETSINamespace, "http://uri.etsi.org/19102/v1.1.1#", 1), "ValidationReport"},
		{"misspelt-indication", strings.Replace(s, "mainindication:total-passed", "mainindication:passed", 1), "MainIndication"},
		{"no-validation-time", regexp.MustCompile(`\s*<ValidationTime>[^<]*</ValidationTime>`).ReplaceAllString(s, ""), "BestSignatureTime"},
		// xmllint checks that a reference is an IDREFS, not that it
		// resolves; TestETSIReportStructure checks that each does.
		{"reference-not-an-id", firstVORef.ReplaceAllString(s, `VOReference="#C-1"`), "IDREFS"},
		{"out-of-order", moveFirst(s, "SignersDocument", "ValidationTimeInfo"), "ValidationTimeInfo"},
		{"revocation-time-missing", strings.Replace(s, "</CertificateChain>",
			`</CertificateChain><RevocationStatusInformation><ValidationObjectId VOReference="C-1"/></RevocationStatusInformation>`, 1), "RevocationTime"},
	} {
		t.Run(b.name, func(t *testing.T) {
			if b.doc == s {
				t.Fatal("the break changed nothing")
			}
			err := xmllintSchema(t, b.name, []byte(b.doc))
			if err == nil {
				t.Fatalf("a broken report validates:\n%s", b.doc)
			}
			if !strings.Contains(err.Error(), b.complaint) {
				t.Fatalf("xmllint's complaint does not name %s:\n%v", b.complaint, err)
			}
		})
	}
}

// moveFirst moves the first <a>...</a> element of s before the first <b ...>.
func moveFirst(s, a, b string) string {
	i := strings.Index(s, "<"+a+">")
	j := strings.Index(s, "</"+a+">")
	k := strings.Index(s, "<"+b)
	if i < 0 || j < 0 || k < 0 || k > i {
		return s
	}
	el := s[i : j+len(a)+3]
	s = s[:i] + s[j+len(a)+3:]
	return s[:k] + el + s[k:]
}
