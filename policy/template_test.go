package policy

import (
	"bytes"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

func hasPolicy(c *x509.Certificate, oid string) bool {
	return slices.ContainsFunc(c.Policies, func(o x509.OID) bool { return o.String() == oid })
}

func findExt(c *x509.Certificate, oid asn1.ObjectIdentifier) (found bool, critical bool, value []byte) {
	for _, e := range c.Extensions {
		if e.Id.Equal(oid) {
			return true, e.Critical, e.Value
		}
	}
	return false, false, nil
}

func TestCATemplates(t *testing.T) {
	h := buildHierarchy(t)
	for _, ca := range []issued{h.root, h.mgmt} {
		c := ca.cert
		ski, _ := KeyID(c.PublicKey)
		switch {
		case !c.IsCA || c.MaxPathLen != -1 || c.MaxPathLenZero:
			t.Errorf("%s: basicConstraints CA=%v pathLen=%d", ca.kind, c.IsCA, c.MaxPathLen)
		case c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign:
			t.Errorf("%s: keyUsage %b", ca.kind, c.KeyUsage)
		case !bytes.Equal(c.SubjectKeyId, ski) || !bytes.Equal(c.AuthorityKeyId, ski):
			t.Errorf("%s: SKI %x AKI %x, want %x", ca.kind, c.SubjectKeyId, c.AuthorityKeyId, ski)
		case len(c.Policies) != 0 || len(c.ExtKeyUsage) != 0:
			t.Errorf("%s: unexpected policies %v or EKU %v", ca.kind, c.Policies, c.ExtKeyUsage)
		}
	}
	if got := h.root.cert.NotAfter; !got.Equal(testNow.AddDate(20, 0, 0)) {
		t.Errorf("root notAfter %s, want 20 years", got)
	}
	if got := h.mgmt.cert.NotAfter; !got.Equal(testNow.AddDate(10, 0, 0)) {
		t.Errorf("management notAfter %s, want 10 years", got)
	}

	c := h.issuing.cert
	if !c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("issuing: CA=%v pathLen=%d zero=%v", c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("issuing: keyUsage %b", c.KeyUsage)
	}
	if !bytes.Equal(c.AuthorityKeyId, h.root.cert.SubjectKeyId) {
		t.Errorf("issuing: AKI %x, root SKI %x", c.AuthorityKeyId, h.root.cert.SubjectKeyId)
	}
	for _, p := range []string{"0.4.0.194112.1.0", "0.4.0.194112.1.1", "0.4.0.194112.1.2", "0.4.0.194112.1.3", "0.4.0.2042.1.2", "0.4.0.2023.1.1", testCenterPolicy.String()} {
		if !hasPolicy(c, p) {
			t.Errorf("issuing: policy %s missing from %v", p, c.Policies)
		}
	}
	if !slices.Equal(c.IssuingCertificateURL, []string{testPublicURL + "/ca/root.crt"}) ||
		!slices.Equal(c.CRLDistributionPoints, []string{testPublicURL + "/crl/root.crl"}) || len(c.OCSPServer) != 0 {
		t.Errorf("issuing: AIA %v CDP %v OCSP %v", c.IssuingCertificateURL, c.CRLDistributionPoints, c.OCSPServer)
	}
	if !c.NotAfter.Equal(testNow.AddDate(10, 0, 0)) {
		t.Errorf("issuing notAfter %s", c.NotAfter)
	}
}

func TestOCSPSignerTemplate(t *testing.T) {
	h := buildHierarchy(t)
	c := h.ocsp.cert
	if c.IsCA || c.BasicConstraintsValid {
		t.Error("OCSP signer has basicConstraints")
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}) || len(c.UnknownExtKeyUsage) != 0 {
		t.Errorf("EKU %v %v", c.ExtKeyUsage, c.UnknownExtKeyUsage)
	}
	if ok, crit, v := findExt(c, oidOCSPNoCheck); !ok || crit || !bytes.Equal(v, []byte{5, 0}) {
		t.Errorf("ocsp-nocheck present=%v critical=%v value=% x", ok, crit, v)
	}
	if ok, crit, _ := findExt(c, asn1.ObjectIdentifier{2, 5, 29, 15}); !ok || !crit || c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("keyUsage %b critical=%v", c.KeyUsage, crit)
	}
	// No certificatePolicies at all (CA/B BR 7.1.2.8.2).
	if ok, _, _ := findExt(c, asn1.ObjectIdentifier{2, 5, 29, 32}); ok || len(c.Policies) != 0 || len(c.PolicyIdentifiers) != 0 {
		t.Errorf("OCSP signer has certificatePolicies %v", c.Policies)
	}
	// The linter judges the signer with e_ocsp_cert_cp_forbidden running:
	// the certificate passes, and one with policies is refused.
	l := NewLinter()
	r, err := l.Lint(h.ocsp.der, KindOCSPSigner)
	if err != nil || r.Err() != nil {
		t.Fatalf("OCSP signer lint: %v %v", err, r.Err())
	}
	withPol := *h.ocsp.tmpl
	if err := setPolicies(&withPol, []x509.OID{oidNCPPlus}); err != nil {
		t.Fatal(err)
	}
	expectLintError(t, l, &withPol, h.issuing.cert, h.ocsp.key.Public(), KindOCSPSigner, "e_ocsp_cert_cp_forbidden")
	if len(c.OCSPServer) != 0 || len(c.CRLDistributionPoints) != 0 {
		t.Errorf("OCSP signer has status URLs: %v %v", c.OCSPServer, c.CRLDistributionPoints)
	}
	if !slices.Equal(c.IssuingCertificateURL, []string{testPublicURL + "/ca/issuing-1.crt"}) {
		t.Errorf("caIssuers %v", c.IssuingCertificateURL)
	}
	if !bytes.Equal(c.AuthorityKeyId, h.issuing.cert.SubjectKeyId) || len(c.SubjectKeyId) != 20 {
		t.Errorf("AKI %x SKI %x", c.AuthorityKeyId, c.SubjectKeyId)
	}
	if !c.NotAfter.Equal(testNow.AddDate(0, 0, 90)) {
		t.Errorf("notAfter %s, want 90 days", c.NotAfter)
	}
}

func TestTSAUnitTemplate(t *testing.T) {
	h := buildHierarchy(t)
	c := h.tsa.cert
	ok, crit, v := findExt(c, oidExtKeyUsage)
	want, _ := asn1.Marshal([]asn1.ObjectIdentifier{oidKPTimeStamping})
	if !ok || !crit || !bytes.Equal(v, want) {
		t.Errorf("EKU present=%v critical=%v value=% x", ok, crit, v)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}) {
		t.Errorf("parsed EKU %v", c.ExtKeyUsage)
	}
	n := 0
	for _, e := range c.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d EKU extensions", n)
	}
	if ok, crit, _ := findExt(c, asn1.ObjectIdentifier{2, 5, 29, 15}); !ok || !crit || c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("keyUsage %b critical=%v", c.KeyUsage, crit)
	}
	for _, p := range []string{"0.4.0.2023.1.1", "0.4.0.2042.1.2", testCenterPolicy.String()} {
		if !hasPolicy(c, p) {
			t.Errorf("policy %s missing from %v", p, c.Policies)
		}
	}
	if !slices.Equal(c.OCSPServer, []string{testPublicURL + "/ocsp"}) ||
		!slices.Equal(c.CRLDistributionPoints, []string{testPublicURL + "/crl/issuing-1.crl"}) ||
		!slices.Equal(c.IssuingCertificateURL, []string{testPublicURL + "/ca/issuing-1.crt"}) {
		t.Errorf("AIA %v / %v, CDP %v", c.IssuingCertificateURL, c.OCSPServer, c.CRLDistributionPoints)
	}

	// Configured TSA policies replace the default.
	custom := mustOID("1.3.6.1.4.1.99999.2.1")
	tmpl, err := TSAUnit(TSAParams{SignerParams: signerParams(h, "TSA 2"), TSAPolicies: []x509.OID{custom}})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(tmpl.Policies))
	for i, o := range tmpl.Policies {
		got[i] = o.String()
	}
	if !slices.Equal(got, []string{custom.String(), "0.4.0.2042.1.2", testCenterPolicy.String()}) {
		t.Errorf("policies %v", got)
	}
}

func signerParams(h *hierarchy, cn string) SignerParams {
	return SignerParams{
		Subject: orgName(cn), Serial: big.NewInt(1 << 40), PublicKey: h.ocsp.key.Public(), NotBefore: testNow,
		Issuer: h.issuing.cert, IssuerLinks: h.issuingLinks, CenterPolicy: testCenterPolicy,
	}
}

// Policies must survive the GODEBUG that switches Go back to PolicyIdentifiers.
func TestPoliciesWithLegacyGODEBUG(t *testing.T) {
	t.Setenv("GODEBUG", "x509usepolicies=0")
	h := buildHierarchy(t)
	for _, p := range []string{"0.4.0.194112.1.2", "0.4.0.2042.1.2", testCenterPolicy.String()} {
		if !hasPolicy(h.issuing.cert, p) {
			t.Errorf("policy %s lost under x509usepolicies=0: %v", p, h.issuing.cert.Policies)
		}
	}
}

func TestTemplateRefusals(t *testing.T) {
	h := buildHierarchy(t)
	key := newKey(t, elliptic.P256()).Public()
	okCA := CAParams{Subject: orgName("X CA"), Serial: big.NewInt(1 << 62), PublicKey: key, NotBefore: testNow}
	okIss := IssuingCAParams{CAParams: okCA, Root: h.root.cert, RootLinks: h.rootLinks, CenterPolicy: testCenterPolicy}

	mod := func(f func(*IssuingCAParams)) IssuingCAParams { p := okIss; f(&p); return p }
	cases := []struct {
		name string
		p    IssuingCAParams
		want string
	}{
		{"nil serial", mod(func(p *IssuingCAParams) { p.Serial = nil }), "serial: missing"},
		{"zero serial", mod(func(p *IssuingCAParams) { p.Serial = big.NewInt(0) }), "must be positive"},
		{"negative serial", mod(func(p *IssuingCAParams) { p.Serial = big.NewInt(-5) }), "must be positive"},
		{"2^159 serial", mod(func(p *IssuingCAParams) { p.Serial = maxSerial() }), "below 2^159"},
		{"no key", mod(func(p *IssuingCAParams) { p.PublicKey = nil }), "no public key"},
		{"no notBefore", mod(func(p *IssuingCAParams) { p.NotBefore = time.Time{} }), "notBefore is required"},
		{"before root", mod(func(p *IssuingCAParams) { p.NotBefore = testNow.Add(-time.Hour) }), "before the issuer's"},
		{"beyond root", mod(func(p *IssuingCAParams) { p.NotAfter = testNow.AddDate(21, 0, 0) }), "after the issuer's"},
		{"inverted", mod(func(p *IssuingCAParams) { p.NotAfter = testNow.Add(-time.Second) }), "not after notBefore"},
		{"same name as root", mod(func(p *IssuingCAParams) { p.Subject = orgName("Muhr Root CA") }), "names must differ"},
		{"no center policy", mod(func(p *IssuingCAParams) { p.CenterPolicy = x509.OID{} }), "empty OID"},
		{"no root", mod(func(p *IssuingCAParams) { p.Root = nil }), "issuer certificate is required"},
		{"root not CA", mod(func(p *IssuingCAParams) { p.Root = h.ocsp.cert }), "not a CA"},
		{"no links", mod(func(p *IssuingCAParams) { p.RootLinks = Links{} }), "CRL URLs are required"},
		{"bad name", mod(func(p *IssuingCAParams) { p.Subject.CommonName = "\u202ECA" }), "subject CN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := IssuingCA(c.p)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "issuing CA template: ") {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}

	// Extra policies are added once each.
	p0 := okIss
	p0.ExtraPolicies = []x509.OID{mustOID("1.3.6.1.4.1.99999.2.1"), oidNCPPlus}
	if tmpl, err := IssuingCA(p0); err != nil || len(tmpl.Policies) != 8 || len(tmpl.PolicyIdentifiers) != 8 {
		t.Errorf("extra policies: %v, %d policies", err, len(tmpl.Policies))
	}

	// A default validity is cut at the issuer's end rather than refused.
	p := okIss
	p.NotBefore = testNow.AddDate(15, 0, 0)
	tmpl, err := IssuingCA(p)
	if err != nil {
		t.Fatal(err)
	}
	if !tmpl.NotAfter.Equal(h.root.cert.NotAfter) {
		t.Errorf("notAfter %s, want the root's %s", tmpl.NotAfter, h.root.cert.NotAfter)
	}

	sp := signerParams(h, "TSA X")
	sp.IssuerLinks.OCSPURL = ""
	if _, err := TSAUnit(TSAParams{SignerParams: sp}); err == nil || !strings.Contains(err.Error(), "OCSP URL is required") {
		t.Errorf("TSA without OCSP URL: %v", err)
	}
	if _, err := OCSPSigner(sp); err != nil {
		t.Errorf("OCSP signer needs no OCSP URL: %v", err)
	}
}

func TestCALinks(t *testing.T) {
	l, err := CALinks("https://pki.example.tj/repo/", "issuing-1")
	if err != nil {
		t.Fatal(err)
	}
	want := Links{"https://pki.example.tj/repo/ca/issuing-1.crt", "https://pki.example.tj/repo/crl/issuing-1.crl", "https://pki.example.tj/repo/ocsp"}
	if l != want {
		t.Errorf("got %+v", l)
	}
	for _, c := range []struct{ url, id string }{
		{"ftp://x/", "a"}, {"http://", "a"}, {"http://x?q=1", "a"}, {"http://u@x", "a"}, {"http://x/ü", "a"},
		{"http://x", ""}, {"http://x", "../root"}, {"http://x", "a/b"}, {"http://x", ".hidden"},
		// The one CA-id rule (ids.CheckCA): what the repository serves.
		{"http://x", "qca.2027"}, {"http://x", "QCA"}, {"http://x", "qca_1"},
	} {
		if _, err := CALinks(c.url, c.id); err == nil {
			t.Errorf("CALinks(%q, %q) accepted", c.url, c.id)
		}
	}
}

func TestCRLTemplate(t *testing.T) {
	this := testNow.Add(90 * time.Minute)
	tmpl, err := CRL(CRLParams{Number: big.NewInt(7), ThisUpdate: this})
	if err != nil {
		t.Fatal(err)
	}
	if !tmpl.NextUpdate.Equal(this.Add(7*24*time.Hour)) || tmpl.Number.Int64() != 7 {
		t.Errorf("next %s number %s", tmpl.NextUpdate, tmpl.Number)
	}
	entry := func(reason int, at time.Time) []x509.RevocationListEntry {
		return []x509.RevocationListEntry{{SerialNumber: big.NewInt(99), RevocationTime: at, ReasonCode: reason}}
	}
	for _, c := range []struct {
		name string
		p    CRLParams
		want string
	}{
		{"no number", CRLParams{ThisUpdate: this}, "cRLNumber"},
		{"zero number", CRLParams{Number: big.NewInt(0), ThisUpdate: this}, "cRLNumber"},
		{"no thisUpdate", CRLParams{Number: big.NewInt(1)}, "thisUpdate"},
		{"8 days", CRLParams{Number: big.NewInt(1), ThisUpdate: this, NextUpdate: this.Add(8 * 24 * time.Hour)}, "at most"},
		{"next before this", CRLParams{Number: big.NewInt(1), ThisUpdate: this, NextUpdate: this.Add(-time.Hour)}, "not after"},
		{"removeFromCRL", CRLParams{Number: big.NewInt(1), ThisUpdate: this, Revoked: entry(8, testNow)}, "delta"},
		{"reason 7", CRLParams{Number: big.NewInt(1), ThisUpdate: this, Revoked: entry(7, testNow)}, "reason code 7"},
		{"revoked in the future", CRLParams{Number: big.NewInt(1), ThisUpdate: this, Revoked: entry(1, this.Add(time.Second))}, "not after thisUpdate"},
	} {
		if _, err := CRL(c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}
