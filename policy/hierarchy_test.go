package policy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"math/big"
	"testing"
	"time"
)

// The fixed instant every test hierarchy starts at: tests never read the clock
// for certificate contents.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const testPublicURL = "http://127.0.0.1:8080"

// issued is one certificate of the test hierarchy with its key.
type issued struct {
	kind Kind
	tmpl *x509.Certificate
	der  []byte
	cert *x509.Certificate
	key  crypto.Signer
}

// hierarchy is what the key ceremony makes, signed with in-memory keys.
type hierarchy struct {
	root, issuing, services, mgmt, ocsp, tsa issued
	rootLinks, issuingLinks, servicesLinks   Links
}

func newKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSerial(t testing.TB) *big.Int {
	t.Helper()
	s, err := NewSerial(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sign(t testing.TB, kind Kind, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key, parentKey crypto.Signer) issued {
	t.Helper()
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatalf("%s: signing: %v", kind, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("%s: parsing: %v", kind, err)
	}
	return issued{kind: kind, tmpl: tmpl, der: der, cert: c, key: key}
}

func orgName(cn string) OrgName {
	return OrgName{
		Country:                "TJ",
		Organization:           "Маркази миллии сертификатсиякунӣ",
		OrganizationIdentifier: "NTRTJ-0123456",
		CommonName:             cn,
	}
}

var testCenterPolicy = mustOID("1.3.6.1.4.1.99999.1.1")

func buildHierarchy(t testing.TB) *hierarchy {
	t.Helper()
	var h hierarchy
	var err error
	if h.rootLinks, err = CALinks(testPublicURL, "root"); err != nil {
		t.Fatal(err)
	}
	if h.issuingLinks, err = CALinks(testPublicURL, "issuing-1"); err != nil {
		t.Fatal(err)
	}
	if h.servicesLinks, err = CALinks(testPublicURL, "services-1"); err != nil {
		t.Fatal(err)
	}

	rootKey := newKey(t, elliptic.P384())
	rt, err := RootCA(CAParams{Subject: orgName("Muhr Root CA"), Serial: mustSerial(t), PublicKey: rootKey.Public(), NotBefore: testNow})
	if err != nil {
		t.Fatal(err)
	}
	h.root = sign(t, KindRootCA, rt, nil, rootKey.Public(), rootKey, rootKey)

	mgmtKey := newKey(t, elliptic.P384())
	mt, err := ManagementCA(CAParams{Subject: orgName("Muhr Management CA"), Serial: mustSerial(t), PublicKey: mgmtKey.Public(), NotBefore: testNow})
	if err != nil {
		t.Fatal(err)
	}
	h.mgmt = sign(t, KindManagementCA, mt, nil, mgmtKey.Public(), mgmtKey, mgmtKey)

	issKey := newKey(t, elliptic.P384())
	it, err := IssuingCA(IssuingCAParams{
		CAParams:     CAParams{Subject: orgName("Muhr Qualified CA 1"), Serial: mustSerial(t), PublicKey: issKey.Public(), NotBefore: testNow},
		Root:         h.root.cert,
		RootLinks:    h.rootLinks,
		CenterPolicy: testCenterPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.issuing = sign(t, KindIssuingCA, it, h.root.cert, issKey.Public(), issKey, rootKey)

	svcKey := newKey(t, elliptic.P256())
	st, err := ServicesCA(ServicesCAParams{
		CAParams:    CAParams{Subject: orgName("Muhr Services CA 1"), Serial: mustSerial(t), PublicKey: svcKey.Public(), NotBefore: testNow},
		Root:        h.root.cert,
		RootLinks:   h.rootLinks,
		DNSSuffixes: testDNSSuffixes,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.services = sign(t, KindServicesCA, st, h.root.cert, svcKey.Public(), svcKey, rootKey)

	ocspKey := newKey(t, elliptic.P256())
	ot, err := OCSPSigner(SignerParams{
		Subject: orgName("Muhr OCSP Responder 1"), Serial: mustSerial(t), PublicKey: ocspKey.Public(), NotBefore: testNow,
		Issuer: h.issuing.cert, IssuerLinks: h.issuingLinks, CenterPolicy: testCenterPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.ocsp = sign(t, KindOCSPSigner, ot, h.issuing.cert, ocspKey.Public(), ocspKey, issKey)

	tsaKey := newKey(t, elliptic.P256())
	tt, err := TSAUnit(TSAParams{SignerParams: SignerParams{
		Subject: orgName("Muhr TSA Unit 1"), Serial: mustSerial(t), PublicKey: tsaKey.Public(), NotBefore: testNow,
		Issuer: h.issuing.cert, IssuerLinks: h.issuingLinks, CenterPolicy: testCenterPolicy,
	}})
	if err != nil {
		t.Fatal(err)
	}
	h.tsa = sign(t, KindTSAUnit, tt, h.issuing.cert, tsaKey.Public(), tsaKey, issKey)
	return &h
}

func (h *hierarchy) all() []issued {
	return []issued{h.root, h.mgmt, h.issuing, h.services, h.ocsp, h.tsa}
}

// testDNSSuffixes are the services CA's permitted names.
var testDNSSuffixes = []string{"minfin.tj", "gov.tj"}

func testRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func createCRL(tmpl *x509.RevocationList, iss issued) ([]byte, error) {
	return x509.CreateRevocationList(rand.Reader, tmpl, iss.cert, iss.key)
}
