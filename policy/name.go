package policy

import (
	"encoding/asn1"
	"fmt"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// ErrInvalidName is the kind of every subject-name refusal; the concrete
// error is a *NameError naming the field.
var ErrInvalidName = newError("invalid", "invalid subject name")

// NameError says which subject attribute was refused and why.
type NameError struct {
	Field  string // short attribute name as openssl prints it, e.g. "CN"
	Reason string
}

func (e *NameError) Error() string { return "subject " + e.Field + ": " + e.Reason }

// Unwrap lets callers branch with errors.Is(err, ErrInvalidName).
func (e *NameError) Unwrap() error { return ErrInvalidName }

// Attribute is one subject attribute: its X.520 type and its value as it
// will appear in the certificate.
type Attribute struct {
	Type  asn1.ObjectIdentifier
	Value string
}

// OrgName is a legal-person subject per ETSI EN 319 412-3, used for CAs and
// for the center's OCSP and TSA signers: C, O, organizationIdentifier, CN.
type OrgName struct {
	Country                string // C: ISO 3166 alpha-2, e.g. "TJ"
	Organization           string // O: the legal name, may be Cyrillic
	OrganizationIdentifier string // 2.5.4.97, e.g. "NTRTJ-0123456"
	CommonName             string // CN: the CA's name, may be Cyrillic
}

// Attributes returns the name's attributes in EN 319 412-3 order: C, O,
// organizationIdentifier, CN.
func (n OrgName) Attributes() []Attribute {
	return []Attribute{
		{oidCountry, n.Country},
		{oidOrganization, n.Organization},
		{oidOrganizationIdentifier, n.OrganizationIdentifier},
		{oidCommonName, n.CommonName},
	}
}

// Marshal validates the name and returns its DER RDNSequence, for
// x509.Certificate.RawSubject.
func (n OrgName) Marshal() ([]byte, error) { return MarshalSubject(n.Attributes()) }

// attrRule is what we know about an attribute type: the name errors use,
// the upper bound on its length in characters (RFC 5280 Appendix A, EN 319
// 412-1), and whether X.520 restricts it to PrintableString.
type attrRule struct {
	field         string
	maxChars      int
	printableOnly bool
	// oneScript: the whole value is a person's name part, in one script.
	// Otherwise each word must be (see checkScripts).
	oneScript bool
}

// ruleFor is a switch rather than a map so there is no mutable package state.
func ruleFor(t asn1.ObjectIdentifier) (attrRule, bool) {
	switch {
	case t.Equal(oidCountry):
		return attrRule{field: "C", maxChars: 2, printableOnly: true}, true
	case t.Equal(oidOrganization):
		return attrRule{field: "O", maxChars: 64}, true
	case t.Equal(oidOrganizationalUnit):
		return attrRule{field: "OU", maxChars: 64}, true
	case t.Equal(oidCommonName):
		return attrRule{field: "CN", maxChars: 64}, true
	case t.Equal(oidSerialNumber):
		return attrRule{field: "serialNumber", maxChars: 64, printableOnly: true}, true
	case t.Equal(oidOrganizationIdentifier):
		return attrRule{field: "organizationIdentifier", maxChars: 64}, true
	case t.Equal(oidSurname):
		// X.520 allows 32768, but CN repeats surname and given name and
		// must fit 64, so a longer part could never be issued anyway.
		return attrRule{field: "surname", maxChars: 64, oneScript: true}, true
	case t.Equal(oidGivenName):
		return attrRule{field: "givenName", maxChars: 64, oneScript: true}, true
	}
	return attrRule{}, false
}

// ASN.1 universal tags of the two string types we write.
const (
	tagUTF8String      = 12
	tagPrintableString = 19
)

// One attribute per RDN, as every CA and relying party expects; encoding/asn1
// encodes a slice type whose name ends in SET as a SET OF.
type attributeTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type relativeNameSET []attributeTypeAndValue

// MarshalSubject validates attrs and encodes them, in the given order, as a
// DER RDNSequence. Every value is normalised to NFC first (RFC 5198), so
// "ӯ" typed as "у" + combining macron is written as the one character
// U+04EF. Values that fit PrintableString are written as such, the rest as
// UTF8String (so Tajik and Russian names round-trip); C and serialNumber
// must fit PrintableString. Unknown attribute types are refused: we only
// write names whose rules we know.
func MarshalSubject(attrs []Attribute) ([]byte, error) {
	if len(attrs) == 0 {
		return nil, fmt.Errorf("%w: no attributes", ErrInvalidName)
	}
	seq := make([]relativeNameSET, 0, len(attrs))
	for _, a := range attrs {
		rule, ok := ruleFor(a.Type)
		if !ok {
			return nil, &NameError{Field: a.Type.String(), Reason: "attribute type not supported"}
		}
		value := NFC(a.Value)
		if err := checkValue(rule, value); err != nil {
			return nil, err
		}
		tag := tagUTF8String
		if isPrintableString(value) {
			tag = tagPrintableString
		}
		v := asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(value)}
		seq = append(seq, relativeNameSET{{Type: a.Type, Value: v}})
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		return nil, fmt.Errorf("encoding subject: %w", err)
	}
	return der, nil
}

// NFC returns s in Unicode Normalization Form C (RFC 5198), the form every
// name value is checked and written in; invalid UTF-8 is returned as is,
// for checkValue to refuse.
func NFC(s string) string {
	if !utf8.ValidString(s) {
		return s
	}
	return norm.NFC.String(s)
}

// checkValue applies the rules of STANDARDS.md "Names" to one value, which
// must already be in NFC.
func checkValue(rule attrRule, v string) error {
	bad := func(format string, args ...any) error {
		return &NameError{Field: rule.field, Reason: fmt.Sprintf(format, args...)}
	}
	if !utf8.ValidString(v) {
		return bad("not valid UTF-8")
	}
	if v == "" {
		return bad("empty")
	}
	for i, r := range v {
		switch {
		case unicode.IsControl(r):
			return bad("control character %U at byte %d", r, i)
		case unicode.Is(unicode.Bidi_Control, r):
			// Overrides and isolates (U+202A–U+202E, U+2066–U+2069) and the
			// invisible marks can make a name display as something else.
			return bad("bidirectional control character %U at byte %d", r, i)
		}
	}
	// Spaces at either end are invisible in every viewer yet make two names
	// differ, so they are refused rather than silently trimmed.
	if first, _ := utf8.DecodeRuneInString(v); unicode.IsSpace(first) {
		return bad("leading space")
	}
	if last, _ := utf8.DecodeLastRuneInString(v); unicode.IsSpace(last) {
		return bad("trailing space")
	}
	if n := utf8.RuneCountInString(v); n > rule.maxChars {
		return bad("%d characters, at most %d allowed", n, rule.maxChars)
	}
	if !norm.NFC.IsNormalString(v) {
		return bad("not in Unicode NFC (RFC 5198)")
	}
	if rule.printableOnly && !isPrintableString(v) {
		return bad("%q is not a PrintableString", v)
	}
	if err := checkScripts(v, rule.oneScript); err != nil {
		return bad("%v", err)
	}
	if rule.field == "C" && !isUpperAlpha2(v) {
		return bad("%q is not two uppercase letters (ISO 3166-1 alpha-2)", v)
	}
	return nil
}

func isUpperAlpha2(s string) bool {
	return len(s) == 2 && 'A' <= s[0] && s[0] <= 'Z' && 'A' <= s[1] && s[1] <= 'Z'
}

// isPrintableString reports whether s fits the X.680 PrintableString
// alphabet. Unlike encoding/asn1 this does not allow '*' or '&'.
func isPrintableString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == ' ', c == '\'', c == '(', c == ')', c == '+', c == ',',
			c == '-', c == '.', c == '/', c == ':', c == '=', c == '?':
		default:
			return false
		}
	}
	return true
}

// checkScripts refuses letters of two scripts in one name, the homograph
// trick of a Latin "P" among Cyrillic letters ("Pаҳимов"), which looks
// like the real name and is another string. Digits, spaces, punctuation
// (hyphens, apostrophes, quotes, brackets) and combining marks belong to
// no script and mix freely. whole says the value is one name part of a
// person (surname, given names), to be in one script throughout; otherwise
// the rule holds per word (a run of letters and marks), because legal
// names legitimately mix scripts between words: "ҶДММ «Tcell»",
// "Маркази миллии сертификатсиякунӣ (DEMO)".
func checkScripts(v string, whole bool) error {
	first, firstAt := "", 0
	var firstRune rune
	pos := 0
	for _, r := range v {
		pos++
		if !unicode.IsLetter(r) {
			if !whole && !unicode.IsMark(r) {
				first = "" // a word ends
			}
			continue
		}
		sc := scriptOf(r)
		if sc == "" {
			continue
		}
		switch {
		case first == "":
			first, firstAt, firstRune = sc, pos, r
		case sc != first:
			return fmt.Errorf("mixes %s and %s letters (%q at character %d is %s, %q at character %d is %s): write the name in one script",
				first, sc, firstRune, firstAt, first, r, pos, sc)
		}
	}
	return nil
}

// scriptOf names the script of letter r, or "" for letters of no single
// script (Common, Inherited). The scripts of Chinese, Japanese and Korean,
// which one word legitimately mixes, count as one.
func scriptOf(r rune) string {
	// The scripts Tajik and Russian names meet first, then the rest.
	for _, s := range []struct {
		name  string
		table *unicode.RangeTable
	}{{"Cyrillic", unicode.Cyrillic}, {"Latin", unicode.Latin}, {"Greek", unicode.Greek}, {"Arabic", unicode.Arabic}} {
		if unicode.Is(s.table, r) {
			return s.name
		}
	}
	for name, table := range unicode.Scripts {
		if !unicode.Is(table, r) {
			continue
		}
		switch name {
		case "Common", "Inherited":
			return ""
		case "Han", "Hiragana", "Katakana", "Hangul", "Bopomofo":
			return "Han"
		}
		return name
	}
	return ""
}
