package policy

import (
	"crypto/elliptic"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// "Ӯро" typed as "У" + U+0304 COMBINING MACRON, and the Tajik letters of
// issue 4 in decomposed form where Unicode has one.
const (
	nfdUro     = "У\u0304ро"    // Ӯро
	nfcUro     = "\u04EEро"     // Ӯро
	nfdSurname = "Ҳаи\u0306дар" // Ҳайдар: й as и + U+0306 COMBINING BREVE
)

func TestNFCBeforeChecksAndEncoding(t *testing.T) {
	if utf8.RuneCountInString(nfdUro) != 4 || NFC(nfdUro) != nfcUro {
		t.Fatalf("fixture: NFC(%q) = %q", nfdUro, NFC(nfdUro))
	}
	// MarshalSubject writes the composed form.
	der, err := MarshalSubject([]Attribute{{oidSurname, nfdUro}, {oidCommonName, "Ӯро " + nfdUro}})
	if err != nil {
		t.Fatal(err)
	}
	var seq []relativeNameSET
	if _, err := asn1.Unmarshal(der, &seq); err != nil {
		t.Fatal(err)
	}
	if got := string(seq[0][0].Value.Bytes); got != nfcUro {
		t.Errorf("surname written as %q (% x), want NFC %q", got, got, nfcUro)
	}
	if got := string(seq[1][0].Value.Bytes); got != "Ӯро "+nfcUro {
		t.Errorf("CN written as %q", got)
	}
	// The 64-character limit counts the NFC form: 64 decomposed Ӯ are 128
	// code points but 64 characters.
	if _, err := MarshalSubject([]Attribute{{oidCommonName, strings.Repeat("У\u0304", 64)}}); err != nil {
		t.Errorf("64 decomposed characters refused: %v", err)
	}

	// identity.json in NFD is normalised when parsed...
	doc := `{"kind":"person","surname":"` + nfdUro + `","given_name":"Ҷамшед","patronymic":"` + nfdSurname + `","personal_number":"123456789","country":"TJ"}`
	id, err := ParseIdentity([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if id.Person.Surname != nfcUro || id.Person.Patronymic != NFC(nfdSurname) {
		t.Errorf("parsed identity not NFC: %q %q", id.Person.Surname, id.Person.Patronymic)
	}
	// ...and an Identity built in code is normalised by Build.
	h := buildHierarchy(t)
	p, _ := ProfileByName(ProfileQESPerson)
	raw := personID(Person{Surname: nfdUro, GivenName: "Ҷамшед", PersonalNumber: "123456789", Country: "TJ"})
	tmpl, err := p.Build(raw, newKey(t, elliptic.P256()).Public(), h.issuing.cert, h.profileConfig(t, CAKindIssuing, false))
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Subject.CommonName != nfcUro+" Ҷамшед" || !strings.Contains(string(tmpl.RawSubject), nfcUro) || strings.Contains(string(tmpl.RawSubject), "\u0304") {
		t.Errorf("subject not NFC: CN %q", tmpl.Subject.CommonName)
	}
	// Our lint refuses a decomposed value that reached the DER some other way.
	nfd, err := asn1.Marshal([]relativeNameSET{{{Type: oidSurname, Value: asn1.RawValue{Tag: tagUTF8String, Bytes: []byte(nfdUro)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if errs := checkSubjectDER(nfd); len(errs) != 1 || !strings.Contains(errs[0].Error(), "NFC") {
		t.Errorf("lint of an NFD subject: %v", errs)
	}
}

func TestMixedScripts(t *testing.T) {
	const latinP = "P" // U+0050, looks like Cyrillic Р U+0420
	ok := []struct {
		typ asn1.ObjectIdentifier
		v   string
	}{
		{oidSurname, "Раҳимов"},
		{oidGivenName, "Ҷамшед Ғафурович"},
		{oidCommonName, "Раҳимов Ҷамшед Ғафурович"},
		{oidSurname, nfcUro},
		{oidSurname, "Раҳимова-Ғафурова"}, // hyphenated
		{oidSurname, "Иванов-Петров"},
		{oidSurname, "O'Brien-Smith"}, // Latin, apostrophe and hyphen
		{oidSurname, "Д'Артаньян"},    // Cyrillic with apostrophe
		{oidGivenName, "Мавҷуда Ҳакимовна"},
		{oidCommonName, "Rahimov Jamshed"},                           // all Latin
		{oidOrganization, "Маркази миллии сертификатсиякунӣ (DEMO)"}, // scripts differ between words
		{oidOrganization, "ҶДММ «Tcell»"},
		{oidOrganization, "Вазорати молияи Ҷумҳурии Тоҷикистон"},
		{oidCommonName, "Muhr Demo Qualified CA 2"},
		{oidOrganization, "Агентии №1 Тоҷикистон-2026"},
		{oidCommonName, "Αθήνα Athens Афина"}, // Greek, Latin, Cyrillic words
	}
	for _, c := range ok {
		if _, err := MarshalSubject([]Attribute{{c.typ, c.v}}); err != nil {
			t.Errorf("%q refused: %v", c.v, err)
		}
	}
	bad := []struct {
		typ         asn1.ObjectIdentifier
		v, field    string
		first, then string
	}{
		{oidSurname, latinP + "аҳимов", "surname", "Latin", "Cyrillic"},
		{oidSurname, "Раҳим" + "o" + "в", "surname", "Cyrillic", "Latin"},                 // Latin o
		{oidGivenName, "Ҷамшед " + latinP + "аҳимович", "givenName", "Cyrillic", "Latin"}, // across words of a person's name
		{oidSurname, "Rahimov-Раҳимов", "surname", "Latin", "Cyrillic"},                   // a person's name part is one script
		{oidCommonName, latinP + "аҳимов Ҷамшед", "CN", "Latin", "Cyrillic"},
		{oidOrganization, "Вазорати " + "м" + "o" + "лия", "O", "Cyrillic", "Latin"},
		{oidOrganization, "\u0391thens", "O", "Greek", "Latin"}, // Greek capital alpha
	}
	for _, c := range bad {
		_, err := MarshalSubject([]Attribute{{c.typ, c.v}})
		var ne *NameError
		if !errors.As(err, &ne) || ne.Field != c.field || !strings.Contains(ne.Reason, "mixes "+c.first+" and "+c.then) {
			t.Errorf("%q: %v; want a %s error about %s and %s", c.v, err, c.field, c.first, c.then)
		}
	}

	// The identity names the field it came from.
	for _, c := range []struct{ doc, field string }{
		{`{"kind":"person","surname":"` + latinP + `аҳимов","given_name":"Ҷамшед","personal_number":"123456789","country":"TJ"}`, "surname"},
		{`{"kind":"person","surname":"Раҳимов","given_name":"Ҷамшед","patronymic":"Ғафур` + "o" + `вич","personal_number":"123456789","country":"TJ"}`, "patronymic"},
		{`{"kind":"organization","name":"Вазорати м` + "o" + `лия","registration_number":"0123456","tax_number":"123456789","country":"TJ"}`, "name"},
		{`{"kind":"organization","name":"Вазорат","common_name":"` + latinP + `ортал","registration_number":"0123456","tax_number":"123456789","country":"TJ"}`, "common_name"},
	} {
		_, err := ParseIdentity([]byte(c.doc))
		var ie *IdentityError
		if !errors.As(err, &ie) || ie.Field != c.field || !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), "mixes") {
			t.Errorf("%s: %v; want identity field %s", c.doc, err, c.field)
		}
	}
}
