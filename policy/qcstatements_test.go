package policy

import (
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestQCStatementsRoundTrip(t *testing.T) {
	for _, q := range []QCStatements{
		{Compliance: true, Type: QCTypeESign, SSCD: true, PDS: testPDS(), Legislation: []string{"TJ"}, Semantics: SemanticsNatural},
		{Compliance: true, Type: QCTypeESeal, PDS: testPDS()[:1], Legislation: []string{"TJ", "UZ"}, RetentionYears: 15, Semantics: SemanticsLegal},
		{Compliance: true},
		{Type: QCTypeWeb},
	} {
		der, err := MarshalQCStatements(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		back, err := ParseQCStatements(der)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if back.String() != q.String() {
			t.Errorf("round trip\n got %s\nwant %s", back, q)
		}
		again, err := MarshalQCStatements(back)
		if err != nil || string(again) != string(der) {
			t.Errorf("%s: re-encoding differs", q)
		}
	}
}

// The exact DER of the qes-person statements, so an encoding change is
// noticed: QcCompliance and QcSSCD have no statementInfo, QcCClegislation
// is a SEQUENCE OF PrintableString, PdsLocation is {IA5String, PrintableString}.
func TestQCStatementsEncoding(t *testing.T) {
	der, err := MarshalQCStatements(QCStatements{
		Compliance: true, Type: QCTypeESign, SSCD: true, Semantics: SemanticsNatural,
		PDS: []PDS{{URL: "https://a.tj/en", Language: "en"}}, Legislation: []string{"TJ"},
	})
	if err != nil {
		t.Fatal(err)
	}
	const (
		etsi      = "04008e4601" // 0.4.0.1862.1
		semantics = "04008bec4901"
	)
	want := "3073" +
		"3015" + "06082b06010505070b02" + "3009" + "0607" + semantics + "01" + // pkixQCSyntax-v2 {natural}
		"3008" + "0606" + etsi + "01" + // QcCompliance, no info
		"300e" + "0606" + etsi + "07" + "3004" + "1302544a" + // QcCClegislation {"TJ"}
		"3008" + "0606" + etsi + "04" + // QcSSCD, no info
		"3013" + "0606" + etsi + "06" + "3009" + "0607" + etsi + "0601" + // QcType {esign}
		"3021" + "0606" + etsi + "05" + "3017" + "3015" + "160f" + hex.EncodeToString([]byte("https://a.tj/en")) + "1302656e"
	if got := hex.EncodeToString(der); got != want {
		t.Errorf("DER\n got %s\nwant %s", got, want)
	}
}

func TestQCStatementsRefusals(t *testing.T) {
	pds := func(f func([]PDS) []PDS) QCStatements {
		return QCStatements{Compliance: true, PDS: f(testPDS())}
	}
	for _, c := range []struct {
		name string
		q    QCStatements
		says string
	}{
		{"no en", pds(func(p []PDS) []PDS { return p[1:] }), "en (English) entry is mandatory"},
		{"http", pds(func(p []PDS) []PDS { p[1].URL = "http://muhr.tj/tg"; return p }), "QcPDS[1] url"},
		{"uppercase", pds(func(p []PDS) []PDS { p[0].Language = "En"; return p }), `language "En"`},
		{"three letters", pds(func(p []PDS) []PDS { p[1].Language = "tgk"; return p }), `language "tgk"`},
		{"duplicate", pds(func(p []PDS) []PDS { p[2].Language = "tg"; return p }), "listed twice"},
		{"non-ASCII URL", pds(func(p []PDS) []PDS { p[0].URL = "https://мӯҳр.tj/en"; return p }), "printable ASCII"},
		{"no host", pds(func(p []PDS) []PDS { p[0].URL = "https:///en"; return p }), "https://host"},
		{"bad legislation", QCStatements{Compliance: true, Legislation: []string{"tj"}}, "QcCClegislation"},
		{"bad type", QCStatements{Type: "qwac"}, "QcType"},
		{"bad semantics", QCStatements{Semantics: "robot"}, "semantics"},
		{"negative retention", QCStatements{RetentionYears: -1}, "QcRetentionPeriod"},
		{"empty", QCStatements{}, "no statement"},
	} {
		_, err := MarshalQCStatements(c.q)
		if !errors.Is(err, ErrInvalidQCStatements) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %q", c.name, err, c.says)
		}
	}
	if err := CheckPDS(nil); !errors.Is(err, ErrInvalidQCStatements) {
		t.Errorf("empty PDS list: %v", err)
	}
}

func TestParseQCStatementsRefusals(t *testing.T) {
	good, err := MarshalQCStatements(QCStatements{Compliance: true, Type: QCTypeESign})
	if err != nil {
		t.Fatal(err)
	}
	stmt := func(id asn1.ObjectIdentifier, info any) []byte {
		s := qcStatement{ID: id}
		if info != nil {
			b, err := asn1.Marshal(info)
			if err != nil {
				t.Fatal(err)
			}
			s.Info = asn1.RawValue{FullBytes: b}
		}
		b, err := asn1.Marshal([]qcStatement{s})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		name string
		der  []byte
		says string
	}{
		{"truncated", good[:len(good)-1], "not a SEQUENCE OF"},
		{"trailing", append(append([]byte(nil), good...), 0), "trailing"},
		{"duplicate", func() []byte {
			b, _ := asn1.Marshal([]qcStatement{{ID: oidQcCompliance}, {ID: oidQcCompliance}})
			return b
		}(), "appears twice"},
		{"compliance with info", stmt(oidQcCompliance, 1), "none expected"},
		{"two types", stmt(oidQcType, []asn1.ObjectIdentifier{oidQcTypeESign, oidQcTypeESeal}), "exactly one"},
		{"unknown type", stmt(oidQcType, []asn1.ObjectIdentifier{{1, 2, 3}}), "unknown QcType"},
		{"PDS not a sequence", stmt(oidQcPDS, 5), "statement 0"},
		{"legislation UTF8", stmt(oidQcCClegislation, []asn1.RawValue{{Tag: asn1.TagUTF8String, Bytes: []byte("TJ")}}), "PrintableString"},
		{"zero retention", stmt(oidQcRetentionPeriod, 0), "retention period 0"},
		{"unknown semantics", stmt(oidQcsPkixQCSyntaxV2, semanticsInformation{Identifier: asn1.ObjectIdentifier{1, 2, 3}}), "unknown semantics"},
		{"PSD2", stmt(asn1.ObjectIdentifier{0, 4, 0, 19495, 2}, nil), "not supported"},
	} {
		_, err := ParseQCStatements(c.der)
		if !errors.Is(err, ErrInvalidQCStatements) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %q", c.name, err, c.says)
		}
	}
}

func FuzzParseQCStatements(f *testing.F) {
	good, _ := MarshalQCStatements(QCStatements{Compliance: true, Type: QCTypeESign, SSCD: true, PDS: testPDS(), Legislation: []string{"TJ"}, RetentionYears: 3, Semantics: SemanticsNatural})
	f.Add(good)
	f.Fuzz(func(t *testing.T, der []byte) {
		q, err := ParseQCStatements(der)
		if err != nil {
			return
		}
		// What parses re-encodes, except lists MarshalQCStatements refuses.
		if _, err := MarshalQCStatements(q); err != nil && !errors.Is(err, ErrInvalidQCStatements) {
			t.Fatal(err)
		}
	})
}
