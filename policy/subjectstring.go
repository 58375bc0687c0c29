package policy

import (
	"encoding/asn1"
	"encoding/hex"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// SubjectString renders a DER Name (a certificate's RawSubject) as an
// RFC 4514 string for display and search: RDNs last to first ("CN=…, …,
// C=TJ"), values in UTF-8 as written ("SN=Раҳимов", not Go's
// "2.5.4.4=#0c0e…"), attribute types by their registered short names
// (RFC 4514 §3, RFC 4519, X.520: SN, givenName, serialNumber,
// organizationIdentifier, …) and the dotted OID otherwise. Values that are
// not strings are "#" and the hex of their DER, as RFC 4514 §2.4 says.
// Bytes that are not a Name are rendered "#" + hex of the whole.
func SubjectString(raw []byte) string {
	var seq []relativeNameSET
	if rest, err := asn1.Unmarshal(raw, &seq); err != nil || len(rest) != 0 {
		return "#" + hex.EncodeToString(raw)
	}
	var b strings.Builder
	for i := len(seq) - 1; i >= 0; i-- {
		if i != len(seq)-1 {
			b.WriteByte(',')
		}
		for j, atv := range seq[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(attributeName(atv.Type))
			b.WriteByte('=')
			if s, ok := stringValue(atv.Value); ok {
				b.WriteString(escapeRFC4514(s))
			} else {
				b.WriteString("#" + hex.EncodeToString(atv.Value.FullBytes))
			}
		}
	}
	return b.String()
}

// attributeName is the RFC 4514 short name of an attribute type: the
// names of RFC 4514 §3, then the registered descriptors of RFC 4519 and
// X.520 for the attributes our subjects use.
func attributeName(t asn1.ObjectIdentifier) string {
	switch {
	case t.Equal(oidCommonName):
		return "CN"
	case t.Equal(oidCountry):
		return "C"
	case t.Equal(oidOrganization):
		return "O"
	case t.Equal(oidOrganizationalUnit):
		return "OU"
	case t.Equal(oidSurname):
		return "SN"
	case t.Equal(oidGivenName):
		return "givenName"
	case t.Equal(oidSerialNumber):
		return "serialNumber"
	case t.Equal(oidOrganizationIdentifier):
		return "organizationIdentifier"
	case t.Equal(asn1.ObjectIdentifier{2, 5, 4, 7}):
		return "L"
	case t.Equal(asn1.ObjectIdentifier{2, 5, 4, 8}):
		return "ST"
	case t.Equal(asn1.ObjectIdentifier{2, 5, 4, 9}):
		return "STREET"
	case t.Equal(asn1.ObjectIdentifier{2, 5, 4, 12}):
		return "title"
	case t.Equal(asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}):
		return "DC"
	case t.Equal(asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}):
		return "UID"
	}
	return t.String()
}

// stringValue decodes the directory string types; false for anything
// else (rendered as hex).
func stringValue(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return "", false
	}
	switch v.Tag {
	case tagUTF8String, tagPrintableString, 18 /* NumericString */, 22 /* IA5String */, 26 /* VisibleString */ :
		if !utf8.Valid(v.Bytes) {
			return "", false
		}
		return string(v.Bytes), true
	case 30: // BMPString, UTF-16BE
		if len(v.Bytes)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		return string(utf16.Decode(u)), true
	}
	return "", false
}

// escapeRFC4514 escapes a value per RFC 4514 §2.4, and control characters
// as \XX so a displayed name cannot carry a line break.
func escapeRFC4514(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '"' || r == '+' || r == ',' || r == ';' || r == '<' || r == '>' || r == '\\',
			i == 0 && (r == ' ' || r == '#'),
			i == len(s)-1 && r == ' ':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\` + hex.EncodeToString([]byte{byte(r)}))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
