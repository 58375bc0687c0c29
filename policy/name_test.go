package policy

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"
)

const (
	tajikOrg = "Маркази миллии сертификатсиякунӣ"
	tajikCN  = "Ҷамшед Раҳимов Ғафуров Қодирова Ӯлмасов"
)

func TestOrgNameRoundTrip(t *testing.T) {
	n := OrgName{Country: "TJ", Organization: tajikOrg, OrganizationIdentifier: "NTRTJ-0123456", CommonName: tajikCN}
	der, err := n.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Decode with raw values so the string types can be checked too.
	var seq []relativeNameSET
	if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) != 0 {
		t.Fatalf("unmarshal: %v, %d trailing bytes", err, len(rest))
	}
	want := []struct {
		oid   asn1.ObjectIdentifier
		value string
		tag   int
	}{
		{oidCountry, "TJ", tagPrintableString},
		{oidOrganization, tajikOrg, tagUTF8String},
		{oidOrganizationIdentifier, "NTRTJ-0123456", tagPrintableString},
		{oidCommonName, tajikCN, tagUTF8String},
	}
	if len(seq) != len(want) {
		t.Fatalf("got %d RDNs, want %d", len(seq), len(want))
	}
	for i, w := range want {
		if len(seq[i]) != 1 {
			t.Fatalf("RDN %d has %d attributes, want 1", i, len(seq[i]))
		}
		a := seq[i][0]
		if !a.Type.Equal(w.oid) || string(a.Value.Bytes) != w.value || a.Value.Tag != w.tag {
			t.Errorf("RDN %d = %v %q tag %d, want %v %q tag %d", i, a.Type, a.Value.Bytes, a.Value.Tag, w.oid, w.value, w.tag)
		}
	}
	// And through the standard library's decoder, as the rest of Muhr reads it.
	var rdn pkix.RDNSequence
	if _, err := asn1.Unmarshal(der, &rdn); err != nil {
		t.Fatal(err)
	}
	var name pkix.Name
	name.FillFromRDNSequence(&rdn)
	if name.CommonName != tajikCN || len(name.Organization) != 1 || name.Organization[0] != tajikOrg {
		t.Errorf("crypto/x509/pkix read %q / %q", name.CommonName, name.Organization)
	}
}

func TestNameBoundaries(t *testing.T) {
	// 64 Cyrillic characters (128 bytes) is allowed: the limit is characters.
	n := OrgName{Country: "TJ", Organization: strings.Repeat("Ӯ", 64), OrganizationIdentifier: "NTRTJ-0123456", CommonName: strings.Repeat("ҷ", 64)}
	if _, err := n.Marshal(); err != nil {
		t.Fatalf("64 characters refused: %v", err)
	}
	// A PrintableString-only value that fits is fine.
	if _, err := MarshalSubject([]Attribute{{oidSerialNumber, "PNOTJ-123456789"}}); err != nil {
		t.Fatal(err)
	}
}

func TestNameRefusals(t *testing.T) {
	ok := OrgName{Country: "TJ", Organization: tajikOrg, OrganizationIdentifier: "NTRTJ-0123456", CommonName: "Muhr Root CA"}
	with := func(f func(*OrgName)) []Attribute { n := ok; f(&n); return n.Attributes() }
	cases := []struct {
		name   string
		attrs  []Attribute
		field  string
		reason string
	}{
		{"RLO U+202E", with(func(n *OrgName) { n.Organization = "Muhr \u202Egnp.exe" }), "O", "U+202E"},
		{"LRI U+2066", with(func(n *OrgName) { n.CommonName = "Muhr \u2066CA" }), "CN", "U+2066"},
		{"65-char CN", with(func(n *OrgName) { n.CommonName = strings.Repeat("Қ", 65) }), "CN", "65 characters"},
		{"65-char orgId", with(func(n *OrgName) { n.OrganizationIdentifier = "NTRTJ-" + strings.Repeat("1", 59) }), "organizationIdentifier", "65 characters"},
		{"invalid UTF-8", with(func(n *OrgName) { n.CommonName = "Muhr \xff\xfe CA" }), "CN", "UTF-8"},
		{"truncated UTF-8", with(func(n *OrgName) { n.Organization = tajikOrg[:len(tajikOrg)-1] }), "O", "UTF-8"},
		{"control char", with(func(n *OrgName) { n.Organization = "Muhr\nCA" }), "O", "control character U+000A"},
		{"NUL", with(func(n *OrgName) { n.CommonName = "Muhr\x00CA" }), "CN", "control character U+0000"},
		{"C lowercase", with(func(n *OrgName) { n.Country = "tj" }), "C", "two uppercase letters"},
		{"C three letters", with(func(n *OrgName) { n.Country = "TJK" }), "C", "3 characters"},
		{"C Cyrillic", with(func(n *OrgName) { n.Country = "ТҶ" }), "C", "PrintableString"},
		{"empty orgId", with(func(n *OrgName) { n.OrganizationIdentifier = "" }), "organizationIdentifier", "empty"},
		{"trailing space", with(func(n *OrgName) { n.CommonName = "Muhr CA " }), "CN", "trailing space"},
		{"serialNumber Cyrillic", []Attribute{{oidSerialNumber, "ПНО-1"}}, "serialNumber", "PrintableString"},
		{"65-char OU", []Attribute{{oidOrganizationalUnit, strings.Repeat("a", 65)}}, "OU", "65 characters"},
		{"unknown type", []Attribute{{asn1.ObjectIdentifier{2, 5, 4, 9}, "Рӯдакӣ 1"}}, "2.5.4.9", "not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := MarshalSubject(c.attrs)
			if err == nil {
				t.Fatal("accepted")
			}
			var ne *NameError
			if !errors.As(err, &ne) || !errors.Is(err, ErrInvalidName) {
				t.Fatalf("error %v is not a *NameError / ErrInvalidName", err)
			}
			if ne.Field != c.field || !strings.Contains(err.Error(), "subject "+c.field+":") {
				t.Errorf("error %q names field %q, want %q", err, ne.Field, c.field)
			}
			if !strings.Contains(ne.Reason, c.reason) {
				t.Errorf("reason %q does not say %q", ne.Reason, c.reason)
			}
		})
	}
}

func TestPrintableString(t *testing.T) {
	for s, want := range map[string]bool{
		"NTRTJ-0123456": true, "Muhr (TJ) CA: 1/2 = ok?": true, "a'b+c,d.e": true,
		"a*b": false, "a&b": false, "a@b": false, "a_b": false, "Ӯ": false, "a\tb": false,
	} {
		if got := isPrintableString(s); got != want {
			t.Errorf("isPrintableString(%q) = %v, want %v", s, got, want)
		}
	}
}
