package policy

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

func TestSubjectString(t *testing.T) {
	p := Person{Surname: "Раҳимов", GivenName: "Ҷамшед", Patronymic: "Ғафурович", PersonalNumber: "123456789012", Country: "TJ"}
	person, err := MarshalSubject(p.Attributes())
	if err != nil {
		t.Fatal(err)
	}
	org, err := OrgName{Country: "TJ", Organization: "Вазорат, \"Молия\" + Ко", OrganizationIdentifier: "NTRTJ-0123456", CommonName: "#1 Мӯҳр"}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	multi, _ := asn1.Marshal([]relativeNameSET{
		{{Type: oidCountry, Value: asn1.RawValue{Tag: tagPrintableString, Bytes: []byte("TJ")}}},
		{{Type: oidOrganizationalUnit, Value: asn1.RawValue{Tag: tagUTF8String, Bytes: []byte("IT")}},
			{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, Value: asn1.RawValue{Tag: 22, Bytes: []byte("tj")}}},
		{{Type: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: asn1.RawValue{Tag: 2, Bytes: []byte{5}}}},
		{{Type: oidCommonName, Value: asn1.RawValue{Tag: 30, Bytes: []byte{0x04, 0x1c, 0x04, 0xef, 0x04, 0xb3, 0x04, 0x40}}}}, // BMPString Мӯҳр
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 7}, Value: asn1.RawValue{Tag: tagUTF8String, Bytes: []byte("Душанбе\n ")}}},
	})
	for _, c := range []struct {
		raw  []byte
		want string
	}{
		{person, "CN=Раҳимов Ҷамшед Ғафурович,serialNumber=PNOTJ-123456789012,givenName=Ҷамшед Ғафурович,SN=Раҳимов,C=TJ"},
		{org, `CN=\#1 Мӯҳр,organizationIdentifier=NTRTJ-0123456,O=Вазорат\, \"Молия\" \+ Ко,C=TJ`},
		{multi, `L=Душанбе\0a\ ,CN=Мӯҳр,1.2.3.4=#020105,OU=IT+DC=tj,C=TJ`},
		{[]byte{0x30, 0x00}, ""},
		{[]byte{0x01, 0x02}, "#0102"},
	} {
		if got := SubjectString(c.raw); got != c.want {
			t.Errorf("SubjectString =\n %s\nwant\n %s", got, c.want)
		}
	}
	// Go's own rendering, which the stored column used to hold, is what
	// this replaces: hex for surname and givenName.
	var rdn pkix.RDNSequence
	if _, err := asn1.Unmarshal(person, &rdn); err != nil {
		t.Fatal(err)
	}
	var n pkix.Name
	n.FillFromRDNSequence(&rdn)
	if s := n.String(); s == SubjectString(person) {
		t.Errorf("pkix.Name.String already readable: %s", s)
	}
}
