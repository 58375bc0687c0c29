package policy

import (
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"
)

// The names of issue 4: Tajik letters outside Russian Cyrillic (Ҷ, Ҳ, Ғ,
// Қ, Ӯ) and a Russian name with ё.
var testPersons = []Person{
	{Surname: "Раҳимов", GivenName: "Ҷамшед", PersonalNumber: "123456789", Country: "TJ"},
	{Surname: "Ғафуров", GivenName: "Ҷамшед", Patronymic: "Раҳимович", PersonalNumber: "1234567890", Country: "TJ"},
	{Surname: "Қодирова", GivenName: "Мавҷуда", Patronymic: "Ҳакимовна", PersonalNumber: "12345678901", Country: "TJ"},
	{Surname: "Ӯлмасов", GivenName: "Фаррух", PersonalNumber: "12345678901234", Country: "TJ"},
	{Surname: "Иванов", GivenName: "Пётр", Patronymic: "Сергеевич", PersonalNumber: "987654321", Country: "TJ"},
}

func personID(p Person) Identity { return Identity{Kind: IdentityPerson, Person: p} }

func orgID(name, cn string) Identity {
	return Identity{Kind: IdentityOrganization, Organization: Organization{
		Name: name, RegistrationNumber: "0123456789", TaxNumber: "123456789", Country: "TJ", CommonName: cn,
	}}
}

const testMinistry = "Вазорати молияи Ҷумҳурии Тоҷикистон"

func testPDS() []PDS {
	return []PDS{
		{URL: "https://muhr.tj/pds/en.pdf", Language: "en"},
		{URL: "https://muhr.tj/pds/tg.pdf", Language: "tg"},
		{URL: "https://muhr.tj/pds/ru.pdf", Language: "ru"},
	}
}

// issuerFor returns the CA of the test hierarchy for a CA kind, with its links.
func (h *hierarchy) issuerFor(t testing.TB, caKind string) (issued, Links) {
	t.Helper()
	switch caKind {
	case CAKindManagement:
		l, err := CALinks(testPublicURL, "management")
		if err != nil {
			t.Fatal(err)
		}
		return h.mgmt, l
	case CAKindRoot:
		return h.root, h.rootLinks
	case CAKindServices:
		return h.services, h.servicesLinks
	}
	return h.issuing, h.issuingLinks
}

func (h *hierarchy) profileConfig(t testing.TB, caKind string, qscd bool) ProfileConfig {
	t.Helper()
	_, links := h.issuerFor(t, caKind)
	return ProfileConfig{
		IssuerKind: caKind, IssuerLinks: links, CenterPolicy: testCenterPolicy, PDS: testPDS(),
		QSCD: qscd, Now: testNow.Add(3600e9), Serial: mustSerial(t),
	}
}

// profileCase is one certificate to issue through a profile.
type profileCase struct {
	name    string // test name
	profile string
	id      Identity
	key     crypto.Signer
	caKind  string
	qscd    bool
}

func profileCases(t testing.TB) []profileCase {
	rsa := testRSAKey(t)
	ec := func() crypto.Signer { return newKey(t, elliptic.P256()) }
	tls := orgID(testMinistry, "")
	tls.DNSNames = []string{"portal.minfin.tj", "www.minfin.tj"}
	return []profileCase{
		{"qes-qscd-ec", ProfileQESPerson, personID(testPersons[1]), ec(), CAKindIssuing, true},
		{"qes-rsa", ProfileQESPerson, personID(testPersons[4]), rsa, CAKindIssuing, false},
		{"qseal-qscd", ProfileQSealOrg, orgID(testMinistry, "Мӯҳри электронии Вазорати молия"), ec(), CAKindIssuing, true},
		{"qseal", ProfileQSealOrg, orgID(testMinistry, ""), ec(), CAKindIssuing, false},
		{"tls-ec", ProfileTLSServer, tls, ec(), CAKindServices, false},
		{"tls-rsa", ProfileTLSServer, tls, rsa, CAKindServices, false},
		{"officer", ProfileOfficer, personID(testPersons[2]), ec(), CAKindManagement, false},
		{"ocsp", ProfileOCSPSigner, orgID(tajikOrg, "Muhr OCSP 2"), ec(), CAKindIssuing, false},
		{"tsa", ProfileTSAUnit, orgID(tajikOrg, "Muhr TSA 2"), ec(), CAKindIssuing, false},
	}
}

// issueProfile builds c's template and signs it with the CA's in-memory key.
func issueProfile(t testing.TB, h *hierarchy, c profileCase) issued {
	t.Helper()
	p, err := ProfileByName(c.profile)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := h.issuerFor(t, c.caKind)
	tmpl, err := p.Build(c.id, c.key.Public(), ca.cert, h.profileConfig(t, c.caKind, c.qscd))
	if err != nil {
		t.Fatalf("%s: build: %v", c.name, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, c.key.Public(), ca.key)
	if err != nil {
		t.Fatalf("%s: sign: %v", c.name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("%s: parse: %v", c.name, err)
	}
	return issued{kind: p.Kind, tmpl: tmpl, der: der, cert: cert, key: c.key}
}
