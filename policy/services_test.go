package policy

import (
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
)

func TestServicesCATemplate(t *testing.T) {
	h := buildHierarchy(t)
	c := h.services.cert
	if !c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero || c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("CA %v pathlen %d ku %b", c.IsCA, c.MaxPathLen, c.KeyUsage)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) || len(c.UnknownExtKeyUsage) != 0 {
		t.Errorf("EKU %v %v", c.ExtKeyUsage, c.UnknownExtKeyUsage)
	}
	if !c.PermittedDNSDomainsCritical || !slices.Equal(c.PermittedDNSDomains, testDNSSuffixes) || len(c.ExcludedIPRanges) != 2 {
		t.Errorf("nameConstraints critical=%v permitted %v excluded IPs %v", c.PermittedDNSDomainsCritical, c.PermittedDNSDomains, c.ExcludedIPRanges)
	}
	if !slices.EqualFunc(c.Policies, []x509.OID{oidAnyPolicy}, x509.OID.Equal) {
		t.Errorf("policies %v, want anyPolicy alone", c.Policies)
	}
	if IssuerKind(CAKindIssuing, c) != CAKindServices || IssuerKind(CAKindServices, c) != CAKindServices ||
		IssuerKind(CAKindIssuing, h.issuing.cert) != CAKindIssuing || IssuerKind(CAKindRoot, h.root.cert) != CAKindRoot {
		t.Error("IssuerKind misclassifies")
	}
	if IssuerKindDER(CAKindIssuing, h.services.der) != CAKindServices || IssuerKindDER(CAKindIssuing, h.issuing.der) != CAKindIssuing ||
		IssuerKindDER(CAKindIssuing, []byte{0x30, 0}) != CAKindIssuing {
		t.Error("IssuerKindDER misclassifies")
	}

	key := newKey(t, elliptic.P256()).Public()
	ok := ServicesCAParams{CAParams: CAParams{Subject: orgName("X CA"), Serial: mustSerial(t), PublicKey: key, NotBefore: testNow},
		Root: h.root.cert, RootLinks: h.rootLinks, DNSSuffixes: []string{"gov.tj"}}
	for _, c := range []struct {
		suffixes []string
		want     string
	}{
		{nil, "at least one DNS suffix"},
		{[]string{".gov.tj"}, `".gov.tj"`},
		{[]string{"*.gov.tj"}, "wildcards"},
		{[]string{"GOV.tj"}, "lowercase"},
		{[]string{"tj"}, "fully qualified"},
		{[]string{"gov.tj", "gov.tj"}, "listed twice"},
		{[]string{"10.0.0.1"}, "IP address"},
	} {
		p := ok
		p.DNSSuffixes = c.suffixes
		if _, err := ServicesCA(p); err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "services CA template: ") {
			t.Errorf("suffixes %v: %v, want %q", c.suffixes, err, c.want)
		}
	}
}

// Why the qualified CA drew e_invalid_ca_certificate_policies, and that it
// no longer does: without an EKU zlint takes any CA for a TLS CA.
func TestQualifiedCANotATLSCA(t *testing.T) {
	h := buildHierarchy(t)
	c := h.issuing.cert
	if slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) ||
		slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) || len(c.ExtKeyUsage) == 0 {
		t.Errorf("qualified CA EKU %v", c.ExtKeyUsage)
	}
	prof, _ := kindProfile(KindIssuingCA)
	if len(prof.exclude) != 0 {
		t.Errorf("issuing CA lints excluded: %v", prof.exclude)
	}
	l := NewLinter()
	r, err := l.Lint(h.issuing.der, KindIssuingCA)
	if err != nil || len(r.Findings) != 0 {
		t.Fatalf("qualified CA: %v %v", err, r.Findings)
	}
	noEKU := *h.issuing.tmpl
	noEKU.ExtKeyUsage, noEKU.UnknownExtKeyUsage = nil, nil
	expectLintError(t, l, &noEKU, h.root.cert, h.issuing.key.Public(), KindIssuingCA, "e_invalid_ca_certificate_policies")

	// Relying parties that chain EKUs (Go here) refuse a serverAuth
	// certificate under it, whatever a profile would have done.
	leafKey := newKey(t, elliptic.P256())
	leaf := &x509.Certificate{SerialNumber: mustSerial(t), NotBefore: testNow, NotAfter: testNow.AddDate(0, 1, 0),
		DNSNames: []string{"portal.minfin.tj"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, h.issuing.cert, leafKey.Public(), h.issuing.key)
	if err != nil {
		t.Fatal(err)
	}
	lc, _ := x509.ParseCertificate(der)
	if _, err := lc.Verify(h.verifyOpts("portal.minfin.tj", h.issuing.cert)); err == nil {
		t.Error("a serverAuth leaf of the qualified CA verifies")
	}
}

func (h *hierarchy) verifyOpts(dns string, inter *x509.Certificate) x509.VerifyOptions {
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(h.root.cert)
	inters.AddCert(inter)
	return x509.VerifyOptions{DNSName: dns, Roots: roots, Intermediates: inters, CurrentTime: testNow.AddDate(0, 0, 1)}
}

func TestTLSServerOnlyFromServicesCA(t *testing.T) {
	h := buildHierarchy(t)
	p, _ := ProfileByName(ProfileTLSServer)
	key := newKey(t, elliptic.P256())
	id := func(names ...string) Identity { i := orgID(testMinistry, ""); i.DNSNames = names; return i }

	// The qualified CA may not issue it at all, however it is described.
	for _, kind := range []string{CAKindIssuing, CAKindServices} {
		_, err := p.Build(id("www.minfin.tj"), key.Public(), h.issuing.cert, h.profileConfig(t, kind, false))
		if !errors.Is(err, ErrIssuerNotAllowed) {
			t.Errorf("tls-server from the qualified CA as %q: %v", kind, err)
		}
	}
	// Nor may the services CA issue a qualified certificate.
	qes, _ := ProfileByName(ProfileQESPerson)
	for _, kind := range []string{CAKindIssuing, CAKindServices} {
		cfg := h.profileConfig(t, kind, false)
		_, links := h.issuerFor(t, CAKindServices)
		cfg.IssuerLinks = links
		if _, err := qes.Build(personID(testPersons[0]), key.Public(), h.services.cert, cfg); !errors.Is(err, ErrIssuerNotAllowed) {
			t.Errorf("qes-person from the services CA as %q: %v", kind, err)
		}
	}

	// Inside the suffixes: the suffix itself and names under it.
	for _, names := range [][]string{{"minfin.tj"}, {"portal.minfin.tj", "a.b.gov.tj"}, {"gov.tj"}} {
		tmpl, err := p.Build(id(names...), key.Public(), h.services.cert, h.profileConfig(t, CAKindServices, false))
		if err != nil {
			t.Errorf("%v refused: %v", names, err)
			continue
		}
		r, err := PreIssue(tmpl, h.services.cert, key.Public(), KindTLSServer)
		if err != nil || r.Err() != nil {
			t.Errorf("%v: lint %v %v", names, err, r.Err())
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, h.services.cert, key.Public(), h.services.key)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(der)
		if _, err := leaf.Verify(h.verifyOpts(names[0], h.services.cert)); err != nil {
			t.Errorf("%v: Go does not verify the leaf: %v", names, err)
		}
	}
	// Outside: refused naming the field, before anything is signed.
	for _, c := range []struct {
		names []string
		field string
	}{
		{[]string{"www.google.com"}, "dns_names[0]"},
		{[]string{"portal.minfin.tj", "evilminfin.tj"}, "dns_names[1]"},
		{[]string{"minfin.tj.evil.com"}, "dns_names[0]"},
		{[]string{"tj.gov"}, "dns_names[0]"},
	} {
		_, err := p.Build(id(c.names...), key.Public(), h.services.cert, h.profileConfig(t, CAKindServices, false))
		var ie *IdentityError
		if !errors.As(err, &ie) || ie.Field != c.field || !strings.Contains(err.Error(), "outside the names this CA may certify (minfin.tj, gov.tj)") {
			t.Errorf("%v: %v; want %s refused", c.names, err, c.field)
		}
	}

	// And what the profile would refuse, the certificate's constraints
	// refuse too: a leaf for www.google.com signed by the services CA's
	// key directly does not verify.
	leaf := &x509.Certificate{SerialNumber: mustSerial(t), NotBefore: testNow, NotAfter: testNow.AddDate(0, 1, 0),
		DNSNames: []string{"www.google.com"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("192.0.2.1")}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, h.services.cert, key.Public(), h.services.key)
	if err != nil {
		t.Fatal(err)
	}
	lc, _ := x509.ParseCertificate(der)
	var inv x509.CertificateInvalidError
	if _, err := lc.Verify(h.verifyOpts("www.google.com", h.services.cert)); !errors.As(err, &inv) || inv.Reason != x509.CANotAuthorizedForThisName {
		t.Errorf("www.google.com under the services CA: %v", err)
	}
}
