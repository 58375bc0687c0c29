package policy

import (
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestProfileRegistry(t *testing.T) {
	want := map[string]struct {
		kind    Kind
		issuers []string
		version int
	}{
		ProfileQESPerson:  {KindQESPerson, []string{CAKindIssuing}, 1},
		ProfileQSealOrg:   {KindQSealOrg, []string{CAKindIssuing}, 1},
		ProfileTLSServer:  {KindTLSServer, []string{CAKindServices}, 1},
		ProfileOfficer:    {KindOfficer, []string{CAKindManagement}, 1},
		ProfileOCSPSigner: {KindOCSPSigner, []string{CAKindIssuing}, 2},
		ProfileTSAUnit:    {KindTSAUnit, []string{CAKindIssuing}, 1},
	}
	ps := Profiles()
	if len(ps) != len(want) {
		t.Fatalf("%d profiles, want %d", len(ps), len(want))
	}
	for _, p := range ps {
		w, ok := want[p.Name]
		if !ok || p.Kind != w.kind || !slices.Equal(p.Issuers, w.issuers) || p.Version != w.version {
			t.Errorf("profile %+v", p)
		}
		if _, err := profileFor(p.Kind); err != nil {
			t.Errorf("%s: kind %s has no lint profile: %v", p.Name, p.Kind, err)
		}
		for _, k := range []string{CAKindRoot, CAKindIssuing, CAKindServices, CAKindManagement} {
			if p.AllowedIssuer(k) != slices.Contains(w.issuers, k) {
				t.Errorf("%s: AllowedIssuer(%s) = %v", p.Name, k, p.AllowedIssuer(k))
			}
		}
		byName, err := ProfileByName(p.String())
		if err != nil || byName.Name != p.Name || p.String() != fmt.Sprintf("%s/v%d", p.Name, w.version) {
			t.Errorf("ProfileByName(%q) = %v, %v", p.String(), byName, err)
		}
	}
	for _, name := range []string{"qes", "QES-PERSON", "qes-person/v2", "", "officer/v"} {
		if _, err := ProfileByName(name); !errors.Is(err, ErrUnknownProfile) {
			t.Errorf("ProfileByName(%q): %v", name, err)
		}
	}
	// A Profile not from the registry cannot build anything.
	if _, err := (Profile{Name: "mine", Issuers: []string{CAKindIssuing}}).Build(Identity{}, nil, nil, ProfileConfig{}); !errors.Is(err, ErrUnknownProfile) {
		t.Errorf("hand-made profile: %v", err)
	}
}

// The qualified signature certificate carries exactly what EN 319 412-2/-5
// and STANDARDS.md ask for.
func TestQESPersonContents(t *testing.T) {
	h := buildHierarchy(t)
	for _, qscd := range []bool{true, false} {
		c := profileCases(t)[0]
		c.qscd = qscd
		got := issueProfile(t, h, c).cert
		p := c.id.Person

		if got.KeyUsage != x509.KeyUsageContentCommitment || len(got.ExtKeyUsage) != 0 || got.IsCA || got.BasicConstraintsValid {
			t.Errorf("KU %b EKU %v CA %v", got.KeyUsage, got.ExtKeyUsage, got.IsCA)
		}
		wantPol := "0.4.0.194112.1.0"
		if qscd {
			wantPol = "0.4.0.194112.1.2"
		}
		if len(got.Policies) != 2 || !hasPolicy(got, wantPol) || !hasPolicy(got, testCenterPolicy.String()) {
			t.Errorf("policies %v", got.Policies)
		}
		if got.NotAfter.Sub(got.NotBefore) != got.NotBefore.AddDate(2, 0, 0).Sub(got.NotBefore) {
			t.Errorf("validity %s – %s, want 2 years", got.NotBefore, got.NotAfter)
		}
		if string(got.AuthorityKeyId) != string(h.issuing.cert.SubjectKeyId) || len(got.SubjectKeyId) != 20 {
			t.Errorf("AKI/SKI %x %x", got.AuthorityKeyId, got.SubjectKeyId)
		}
		if !slices.Equal(got.OCSPServer, []string{h.issuingLinks.OCSPURL}) ||
			!slices.Equal(got.IssuingCertificateURL, []string{h.issuingLinks.CertURL}) ||
			!slices.Equal(got.CRLDistributionPoints, []string{h.issuingLinks.CRLURL}) {
			t.Errorf("links %v %v %v", got.OCSPServer, got.IssuingCertificateURL, got.CRLDistributionPoints)
		}
		ext := findExtension(got, oidExtQCStatements)
		if ext == nil || ext.critical {
			t.Fatal("qcStatements missing or critical")
		}
		qc, err := ParseQCStatements(ext.value)
		if err != nil {
			t.Fatal(err)
		}
		want := QCStatements{Compliance: true, Type: QCTypeESign, SSCD: qscd, PDS: testPDS(), Legislation: []string{"TJ"}, Semantics: SemanticsNatural}
		if qc.String() != want.String() {
			t.Errorf("QCStatements\n got %s\nwant %s", qc, want)
		}
		// Subject: C, surname, givenName, serialNumber, CN in that order,
		// C and serialNumber PrintableString, the names UTF8String.
		wantAttrs := []struct {
			oid   asn1.ObjectIdentifier
			value string
			tag   int
		}{
			{oidCountry, "TJ", tagPrintableString},
			{oidSurname, p.Surname, tagUTF8String},
			{oidGivenName, "Ҷамшед Раҳимович", tagUTF8String},
			{oidSerialNumber, "PNOTJ-1234567890", tagPrintableString},
			{oidCommonName, "Ғафуров Ҷамшед Раҳимович", tagUTF8String},
		}
		var seq []relativeNameSET
		if _, err := asn1.Unmarshal(got.RawSubject, &seq); err != nil || len(seq) != len(wantAttrs) {
			t.Fatalf("subject: %v, %d RDNs", err, len(seq))
		}
		for i, w := range wantAttrs {
			a := seq[i][0]
			if !a.Type.Equal(w.oid) || string(a.Value.Bytes) != w.value || a.Value.Tag != w.tag {
				t.Errorf("RDN %d = %v %q tag %d, want %v %q tag %d", i, a.Type, a.Value.Bytes, a.Value.Tag, w.oid, w.value, w.tag)
			}
		}
	}
}

func TestOtherProfileContents(t *testing.T) {
	h := buildHierarchy(t)
	cases := profileCases(t)

	seal := issueProfile(t, h, cases[2]).cert
	if seal.Subject.String() != "CN=Мӯҳри электронии Вазорати молия,O="+testMinistry+",C=TJ,2.5.4.97=#13104e5452544a2d30313233343536373839" {
		t.Errorf("seal subject %s", seal.Subject)
	}
	if !hasPolicy(seal, "0.4.0.194112.1.3") || seal.KeyUsage != x509.KeyUsageContentCommitment {
		t.Errorf("seal policies %v KU %b", seal.Policies, seal.KeyUsage)
	}
	if qc, err := ParseQCStatements(findExtension(seal, oidExtQCStatements).value); err != nil ||
		qc.Type != QCTypeESeal || qc.Semantics != SemanticsLegal || !qc.SSCD {
		t.Errorf("seal QCStatements %s %v", qc, err)
	}

	for _, c := range cases[4:6] {
		tls := issueProfile(t, h, c).cert
		wantKU := x509.KeyUsageDigitalSignature
		if c.name == "tls-rsa" {
			wantKU |= x509.KeyUsageKeyEncipherment
		}
		if len(tls.Subject.Names) != 0 || !slices.Equal(tls.DNSNames, c.id.DNSNames) || tls.KeyUsage != wantKU ||
			!slices.Equal(tls.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) ||
			len(tls.Policies) != 1 || !hasPolicy(tls, testCenterPolicy.String()) {
			t.Errorf("%s: subject %q SAN %v KU %b EKU %v policies %v", c.name, tls.Subject, tls.DNSNames, tls.KeyUsage, tls.ExtKeyUsage, tls.Policies)
		}
		if found, critical, _ := findExt(tls, asn1.ObjectIdentifier{2, 5, 29, 17}); !found || !critical {
			t.Errorf("%s: SAN must be critical with an empty subject", c.name)
		}
		// testNow is before CA/B SC-081's first step (2026-03-15).
		if d := tls.NotAfter.Sub(tls.NotBefore); d != 397*24*time.Hour {
			t.Errorf("%s: validity %s", c.name, d)
		}
	}

	off := issueProfile(t, h, cases[6]).cert
	if !slices.Equal(off.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || off.KeyUsage != x509.KeyUsageDigitalSignature ||
		off.Issuer.CommonName != "Muhr Management CA" || off.Subject.SerialNumber != "PNOTJ-12345678901" ||
		off.Subject.CommonName != "Қодирова Мавҷуда Ҳакимовна" || off.NotAfter != off.NotBefore.AddDate(1, 0, 0) {
		t.Errorf("officer: EKU %v KU %b issuer %s subject %s", off.ExtKeyUsage, off.KeyUsage, off.Issuer, off.Subject)
	}

	// The OCSP and TSA profiles are the ceremony's templates.
	ocsp := issueProfile(t, h, cases[7])
	if found, _, _ := findExt(ocsp.cert, oidOCSPNoCheck); !found || ocsp.cert.Subject.CommonName != "Muhr OCSP 2" ||
		ocsp.tmpl.Subject.CommonName != "Muhr OCSP 2" {
		t.Errorf("ocsp: %s", ocsp.cert.Subject)
	}
	tsa := issueProfile(t, h, cases[8]).cert
	if found, critical, _ := findExt(tsa, oidExtKeyUsage); !found || !critical {
		t.Error("tsa: EKU not critical")
	}
}

func TestTLSValiditySchedule(t *testing.T) {
	for _, c := range []struct {
		at   time.Time
		days int
	}{
		{time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC), 397},
		{time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC), 198},
		{time.Date(2027, 3, 15, 0, 0, 0, 0, time.UTC), 98},
		{time.Date(2029, 3, 15, 0, 0, 0, 0, time.UTC), 45},
	} {
		if got := tlsValidity(c.at); got.days != c.days {
			t.Errorf("%s: %d days, want %d", c.at, got.days, c.days)
		}
	}
	// The default draws no validity lint on either side of a step.
	h := buildHierarchy(t)
	p, _ := ProfileByName(ProfileTLSServer)
	c := profileCases(t)[4]
	for _, at := range []time.Time{
		time.Date(2026, 3, 14, 23, 0, 0, 0, time.UTC), time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC),
		time.Date(2027, 3, 15, 0, 0, 0, 0, time.UTC), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		conf := h.profileConfig(t, CAKindServices, false)
		conf.Now = at
		tmpl, err := p.Build(c.id, c.key.Public(), h.services.cert, conf)
		if err != nil {
			t.Fatal(err)
		}
		r, err := PreIssue(tmpl, h.services.cert, c.key.Public(), KindTLSServer)
		if err != nil || r.Err() != nil {
			t.Errorf("%s: %v %v", at, err, r.Err())
		}
	}
}

// Refusals named in issue 4, each with the error kind callers branch on
// and a message naming the field.
func TestProfileRefusals(t *testing.T) {
	h := buildHierarchy(t)
	key := newKey(t, elliptic.P256())
	person := testPersons[0]
	with := func(f func(*Person)) Identity { p := person; f(&p); return personID(p) }
	cfg := func(f func(*ProfileConfig)) func(*ProfileConfig) { return f }
	cases := []struct {
		name    string
		profile string
		id      Identity
		caKind  string
		edit    func(*ProfileConfig)
		kind    error
		says    string
	}{
		{"U+202E in surname", ProfileQESPerson, with(func(p *Person) { p.Surname = "Раҳимов\u202E" }), CAKindIssuing, nil, ErrInvalidName, "surname: subject surname: bidirectional control character U+202E"},
		{"U+2067 in given name", ProfileQESPerson, with(func(p *Person) { p.GivenName = "\u2067Ҷамшед" }), CAKindIssuing, nil, ErrInvalidIdentity, "given_name"},
		{"65-char CN", ProfileQESPerson, with(func(p *Person) { p.Surname = strings.Repeat("Қ", 32); p.GivenName = strings.Repeat("Ҷ", 32) }), CAKindIssuing, nil, ErrInvalidName, "subject CN: 65 characters, at most 64"},
		{"invalid UTF-8", ProfileQESPerson, with(func(p *Person) { p.Surname = "Ра\xffимов" }), CAKindIssuing, nil, ErrInvalidName, "surname: subject surname: not valid UTF-8"},
		{"control char", ProfileQESPerson, with(func(p *Person) { p.Patronymic = "Али\tевич" }), CAKindIssuing, nil, ErrInvalidIdentity, "patronymic"},
		{"bad personal number", ProfileQESPerson, with(func(p *Person) { p.PersonalNumber = "12345678" }), CAKindIssuing, nil, ErrInvalidIdentity, "personal_number: \"12345678\" does not match"},
		{"letters in personal number", ProfileQESPerson, with(func(p *Person) { p.PersonalNumber = "A12345678" }), CAKindIssuing, nil, ErrInvalidIdentity, "personal_number"},
		{"foreign country", ProfileQESPerson, with(func(p *Person) { p.Country = "RU" }), CAKindIssuing, nil, ErrInvalidIdentity, "country"},
		{"officer from issuing CA", ProfileOfficer, personID(person), CAKindIssuing, nil, ErrIssuerNotAllowed, `"issuing" CA may not issue it`},
		{"qes from management CA", ProfileQESPerson, personID(person), CAKindManagement, nil, ErrIssuerNotAllowed, `"management" CA may not issue it`},
		{"issuing kind but self-signed cert", ProfileQESPerson, personID(person), CAKindIssuing, cfg(func(c *ProfileConfig) {}), nil, ""},
		{"no en PDS", ProfileQESPerson, personID(person), CAKindIssuing, cfg(func(c *ProfileConfig) { c.PDS = c.PDS[1:] }), ErrInvalidQCStatements, "en (English) entry is mandatory"},
		{"no PDS", ProfileQSealOrg, orgID(testMinistry, ""), CAKindIssuing, cfg(func(c *ProfileConfig) { c.PDS = nil }), ErrInvalidQCStatements, "QcPDS"},
		{"http PDS", ProfileQESPerson, personID(person), CAKindIssuing, cfg(func(c *ProfileConfig) { c.PDS[0].URL = "http://muhr.tj/pds/en.pdf" }), ErrInvalidQCStatements, "must be an https URL"},
		{"uppercase language", ProfileQESPerson, personID(person), CAKindIssuing, cfg(func(c *ProfileConfig) { c.PDS[0].Language = "EN" }), ErrInvalidQCStatements, `language "EN": want a lowercase`},
		{"person for seal", ProfileQSealOrg, personID(person), CAKindIssuing, nil, ErrProfileConfig, "needs a \"organization\" identity"},
		{"organization for qes", ProfileQESPerson, orgID(testMinistry, ""), CAKindIssuing, nil, ErrInvalidIdentity, "kind"},
		{"QSCD on tls", ProfileTLSServer, func() Identity { i := orgID(testMinistry, ""); i.DNSNames = []string{"a.tj"}; return i }(), CAKindServices, cfg(func(c *ProfileConfig) { c.QSCD = true }), ErrProfileConfig, "QSCD applies only"},
		{"dns_names on qes", ProfileQESPerson, func() Identity { i := personID(person); i.DNSNames = []string{"a.tj"}; return i }(), CAKindIssuing, nil, ErrProfileConfig, "dns_names"},
		{"tls without names", ProfileTLSServer, orgID(testMinistry, ""), CAKindServices, nil, ErrInvalidIdentity, "dns_names: required"},
		{"tls uppercase name", ProfileTLSServer, func() Identity { i := orgID(testMinistry, ""); i.DNSNames = []string{"a.tj", "Portal.tj"}; return i }(), CAKindServices, nil, ErrInvalidIdentity, "dns_names[1]: \"Portal.tj\": use lowercase"},
		{"tls wildcard", ProfileTLSServer, func() Identity { i := orgID(testMinistry, ""); i.DNSNames = []string{"*.minfin.tj"}; return i }(), CAKindServices, nil, ErrInvalidIdentity, "wildcards"},
		{"tls IP", ProfileTLSServer, func() Identity { i := orgID(testMinistry, ""); i.DNSNames = []string{"10.0.0.1"}; return i }(), CAKindServices, nil, ErrInvalidIdentity, "IP address"},
		{"65-char organization", ProfileQSealOrg, orgID(strings.Repeat("Ӯ", 65), ""), CAKindIssuing, nil, ErrInvalidName, "name: subject O: 65 characters"},
		{"bad registration number", ProfileQSealOrg, func() Identity { i := orgID(testMinistry, ""); i.Organization.RegistrationNumber = "123"; return i }(), CAKindIssuing, nil, ErrInvalidIdentity, "registration_number"},
		{"bad tax number", ProfileQSealOrg, func() Identity { i := orgID(testMinistry, ""); i.Organization.TaxNumber = "1234567890"; return i }(), CAKindIssuing, nil, ErrInvalidIdentity, "tax_number"},
		{"validity beyond issuer", ProfileQESPerson, personID(person), CAKindIssuing, cfg(func(c *ProfileConfig) { c.Validity = 11 * 365 * 24 * time.Hour }), nil, "after the issuer's"},
		{"no serial", ProfileQESPerson, personID(person), CAKindIssuing, cfg(func(c *ProfileConfig) { c.Serial = nil }), nil, "serial: missing"},
		{"no center policy", ProfileQESPerson, personID(person), CAKindIssuing, cfg(func(c *ProfileConfig) { c.CenterPolicy = x509.OID{} }), nil, "center's policy OID"},
		{"no links", ProfileQESPerson, personID(person), CAKindIssuing, cfg(func(c *ProfileConfig) { c.IssuerLinks = Links{} }), nil, "issuer links"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ProfileByName(c.profile)
			if err != nil {
				t.Fatal(err)
			}
			ca, _ := h.issuerFor(t, c.caKind)
			conf := h.profileConfig(t, c.caKind, false)
			if c.name == "issuing kind but self-signed cert" {
				ca = h.mgmt // the config says issuing, the certificate is a root
				c.kind, c.says = ErrIssuerNotAllowed, "self-signed"
			}
			if c.edit != nil {
				c.edit(&conf)
			}
			_, err = p.Build(c.id, key.Public(), ca.cert, conf)
			if err == nil {
				t.Fatal("accepted")
			}
			if c.kind != nil && !errors.Is(err, c.kind) {
				t.Errorf("error %q is not %v", err, c.kind)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not say %q", err, c.says)
			}
		})
	}
}

// A default validity is cut at the issuer's notAfter; an explicit one
// within it is kept.
func TestProfileValidity(t *testing.T) {
	h := buildHierarchy(t)
	p, _ := ProfileByName(ProfileQESPerson)
	key := newKey(t, elliptic.P256())
	conf := h.profileConfig(t, CAKindIssuing, false)
	conf.Now = h.issuing.cert.NotAfter.AddDate(0, -6, 0)
	tmpl, err := p.Build(personID(testPersons[0]), key.Public(), h.issuing.cert, conf)
	if err != nil {
		t.Fatal(err)
	}
	if !tmpl.NotAfter.Equal(h.issuing.cert.NotAfter) {
		t.Errorf("notAfter %s, want the issuer's %s", tmpl.NotAfter, h.issuing.cert.NotAfter)
	}
	conf = h.profileConfig(t, CAKindIssuing, false)
	conf.Validity = 90 * 24 * time.Hour
	if tmpl, err = p.Build(personID(testPersons[0]), key.Public(), h.issuing.cert, conf); err != nil ||
		tmpl.NotAfter.Sub(tmpl.NotBefore) != conf.Validity {
		t.Errorf("explicit validity: %v %v", tmpl, err)
	}
	// The issuing CA's own key cannot be certified as an end entity.
	if _, err := p.Build(personID(testPersons[0]), h.issuing.key.Public(), h.issuing.cert, conf); !errors.Is(err, ErrProfileConfig) {
		t.Errorf("issuer key accepted: %v", err)
	}
}

// Nothing but the public key comes from the subscriber: the template is a
// function of identity and config only (here: two builds are equal but for
// the serial, and Subject mirrors RawSubject for logs).
func TestProfileBuildIsPure(t *testing.T) {
	h := buildHierarchy(t)
	p, _ := ProfileByName(ProfileQESPerson)
	key := newKey(t, elliptic.P256())
	conf := h.profileConfig(t, CAKindIssuing, true)
	a, err := p.Build(personID(testPersons[4]), key.Public(), h.issuing.cert, conf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Build(personID(testPersons[4]), key.Public(), h.issuing.cert, conf)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.RawSubject) != string(b.RawSubject) || a.NotAfter != b.NotAfter || string(a.ExtraExtensions[0].Value) != string(b.ExtraExtensions[0].Value) {
		t.Error("two builds differ")
	}
	var name pkix.Name
	var rdn pkix.RDNSequence
	if _, err := asn1.Unmarshal(a.RawSubject, &rdn); err != nil {
		t.Fatal(err)
	}
	name.FillFromRDNSequence(&rdn)
	if a.Subject.String() != name.String() || a.Subject.CommonName != "Иванов Пётр Сергеевич" {
		t.Errorf("Subject %q, RawSubject %q", a.Subject, name)
	}
}

// The Tajik and Russian names come back exactly from Go's parser, as
// UTF8String, with C and serialNumber as PrintableString.
func TestCyrillicNamesRoundTrip(t *testing.T) {
	h := buildHierarchy(t)
	for _, p := range testPersons {
		c := profileCase{name: p.Surname, profile: ProfileQESPerson, id: personID(p), key: newKey(t, elliptic.P256()), caKind: CAKindIssuing}
		got := issueProfile(t, h, c)
		cert, err := x509.ParseCertificate(got.der)
		if err != nil {
			t.Fatal(err)
		}
		values := map[string]string{}
		for _, a := range cert.Subject.Names {
			values[a.Type.String()] = a.Value.(string)
		}
		want := map[string]string{
			"2.5.4.6": "TJ", "2.5.4.4": p.Surname, "2.5.4.42": p.GivenNames(),
			"2.5.4.5": "PNOTJ-" + p.PersonalNumber, "2.5.4.3": p.CommonName(),
		}
		for k, v := range want {
			if values[k] != v {
				t.Errorf("%s: %s = %q, want %q", p.Surname, k, values[k], v)
			}
		}
		if cert.Subject.CommonName != p.CommonName() || cert.Subject.SerialNumber != "PNOTJ-"+p.PersonalNumber {
			t.Errorf("pkix.Name %q", cert.Subject)
		}
		if errs := checkSubjectDER(cert.RawSubject); len(errs) != 0 {
			t.Errorf("%s: %v", p.Surname, errs)
		}
	}
}
