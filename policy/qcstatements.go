package policy

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// ErrInvalidQCStatements is the kind of every QCStatements refusal, when
// building (bad PDS, unknown type) or parsing.
var ErrInvalidQCStatements = newError("invalid", "invalid QCStatements")

func qcErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidQCStatements, fmt.Sprintf(format, args...))
}

// QCType is the ETSI EN 319 412-5 §4.2.3 QcType.
type QCType string

// The QcTypes; web is only parsed (we issue no QWACs).
const (
	QCTypeESign QCType = "esign" // 0.4.0.1862.1.6.1
	QCTypeESeal QCType = "eseal" // 0.4.0.1862.1.6.2
	QCTypeWeb   QCType = "web"   // 0.4.0.1862.1.6.3
)

// Semantics is the RFC 3739 pkixQCSyntax-v2 semanticsIdentifier, which says
// how to read serialNumber / organizationIdentifier (EN 319 412-1 §5).
type Semantics string

// The two semantics identifiers we write.
const (
	SemanticsNatural Semantics = "natural" // 0.4.0.194121.1.1, PNO/IDC/PAS/TIN serialNumber
	SemanticsLegal   Semantics = "legal"   // 0.4.0.194121.1.2, NTR/VAT/... organizationIdentifier
)

// PDS is one PKI Disclosure Statement location: an https URL and the
// lowercase ISO 639-1 language of the document there.
type PDS struct {
	URL      string `json:"url"`
	Language string `json:"language"`
}

// QCStatements is the content of the qcStatements extension that we write
// and understand. Zero values mean "absent".
type QCStatements struct {
	Compliance     bool      // QcCompliance 0.4.0.1862.1.1
	Type           QCType    // QcType 0.4.0.1862.1.6
	SSCD           bool      // QcSSCD 0.4.0.1862.1.4: key on a qualified device
	PDS            []PDS     // QcPDS 0.4.0.1862.1.5
	Legislation    []string  // QcCClegislation 0.4.0.1862.1.7, e.g. ["TJ"]
	RetentionYears int       // QcRetentionPeriod 0.4.0.1862.1.3; 0 = absent
	Semantics      Semantics // pkixQCSyntax-v2 1.3.6.1.5.5.7.11.2
}

// qcStatement is RFC 3739's QCStatement; statementInfo is optional.
type qcStatement struct {
	ID   asn1.ObjectIdentifier
	Info asn1.RawValue `asn1:"optional"`
}

type pdsLocation struct {
	URL      string `asn1:"ia5"`
	Language string `asn1:"printable"`
}

type semanticsInformation struct {
	Identifier asn1.ObjectIdentifier `asn1:"optional"`
	// nameRegistrationAuthorities is never written; a parsed one is kept
	// raw so it does not fail the decode.
	Authorities asn1.RawValue `asn1:"optional"`
}

// CheckPDS applies the QcPDS rules (EN 319 412-5 §4.3.4 and zlint's ETSI
// lints): at least one entry, https URLs of printable ASCII, two lowercase
// letters per language, each language once, and an "en" entry.
func CheckPDS(list []PDS) error {
	if len(list) == 0 {
		return qcErr("QcPDS: no PDS location (an en entry is required)")
	}
	seen := map[string]bool{}
	for i, p := range list {
		if err := checkPDSURL(p.URL); err != nil {
			return qcErr("QcPDS[%d] url: %v", i, err)
		}
		l := p.Language
		if len(l) != 2 || l[0] < 'a' || l[0] > 'z' || l[1] < 'a' || l[1] > 'z' {
			return qcErr("QcPDS[%d] language %q: want a lowercase ISO 639-1 code (two letters a–z), e.g. \"en\"", i, l)
		}
		if seen[l] {
			return qcErr("QcPDS[%d] language %q: listed twice", i, l)
		}
		seen[l] = true
	}
	if !seen["en"] {
		return qcErr("QcPDS: an en (English) entry is mandatory")
	}
	return nil
}

func checkPDSURL(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return fmt.Errorf("%q: only printable ASCII (IA5String) is allowed", s)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "https" {
		return fmt.Errorf("%q: must be an https URL", s)
	}
	if u.Host == "" || u.User != nil {
		return fmt.Errorf("%q: want https://host/path", s)
	}
	return nil
}

func qcTypeOID(t QCType) (asn1.ObjectIdentifier, error) {
	switch t {
	case QCTypeESign:
		return oidQcTypeESign, nil
	case QCTypeESeal:
		return oidQcTypeESeal, nil
	case QCTypeWeb:
		return oidQcTypeWeb, nil
	}
	return nil, qcErr("QcType %q: want esign, eseal or web", t)
}

func semanticsOID(s Semantics) (asn1.ObjectIdentifier, error) {
	switch s {
	case SemanticsNatural:
		return oidSemanticsNatural, nil
	case SemanticsLegal:
		return oidSemanticsLegal, nil
	}
	return nil, qcErr("semantics %q: want natural or legal", s)
}

// MarshalQCStatements validates q and returns the DER value of the
// qcStatements extension. The order follows EN 319 412-5 Annex A's
// listing after the RFC 3739 semantics statement.
func MarshalQCStatements(q QCStatements) ([]byte, error) {
	var out []qcStatement
	add := func(id asn1.ObjectIdentifier, info any) error {
		s := qcStatement{ID: id}
		if info != nil {
			b, err := asn1.Marshal(info)
			if err != nil {
				return qcErr("encoding %v: %v", id, err)
			}
			s.Info = asn1.RawValue{FullBytes: b}
		}
		out = append(out, s)
		return nil
	}
	if q.Semantics != "" {
		oid, err := semanticsOID(q.Semantics)
		if err != nil {
			return nil, err
		}
		if err := add(oidQcsPkixQCSyntaxV2, semanticsInformation{Identifier: oid}); err != nil {
			return nil, err
		}
	}
	if q.Compliance {
		_ = add(oidQcCompliance, nil)
	}
	if len(q.Legislation) > 0 {
		for _, c := range q.Legislation {
			if !isUpperAlpha2(c) {
				return nil, qcErr("QcCClegislation %q: want an ISO 3166-1 alpha-2 code", c)
			}
		}
		// CountryName is PrintableString (SIZE (2)).
		cs := make([]asn1.RawValue, len(q.Legislation))
		for i, c := range q.Legislation {
			cs[i] = asn1.RawValue{Class: asn1.ClassUniversal, Tag: tagPrintableString, Bytes: []byte(c)}
		}
		if err := add(oidQcCClegislation, cs); err != nil {
			return nil, err
		}
	}
	if q.SSCD {
		_ = add(oidQcSSCD, nil)
	}
	if q.RetentionYears < 0 {
		return nil, qcErr("QcRetentionPeriod %d: must not be negative", q.RetentionYears)
	}
	if q.RetentionYears > 0 {
		if err := add(oidQcRetentionPeriod, q.RetentionYears); err != nil {
			return nil, err
		}
	}
	if q.Type != "" {
		oid, err := qcTypeOID(q.Type)
		if err != nil {
			return nil, err
		}
		if err := add(oidQcType, []asn1.ObjectIdentifier{oid}); err != nil {
			return nil, err
		}
	}
	if len(q.PDS) > 0 {
		if err := CheckPDS(q.PDS); err != nil {
			return nil, err
		}
		locs := make([]pdsLocation, len(q.PDS))
		for i, p := range q.PDS {
			locs[i] = pdsLocation{URL: p.URL, Language: p.Language}
		}
		if err := add(oidQcPDS, locs); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, qcErr("no statement to write")
	}
	der, err := asn1.Marshal(out)
	if err != nil {
		return nil, qcErr("encoding: %v", err)
	}
	return der, nil
}

// ParseQCStatements decodes the qcStatements extension value. It is strict
// where the statement is ours: a statement that appears twice, a malformed
// statementInfo or trailing bytes are errors. Statements it does not know
// (e.g. PSD2, QcLimitValue) are an error too, since QCStatements could not
// represent them and a silent drop would misreport the certificate.
func ParseQCStatements(der []byte) (QCStatements, error) {
	var raw []qcStatement
	rest, err := asn1.Unmarshal(der, &raw)
	if err != nil {
		return QCStatements{}, qcErr("not a SEQUENCE OF QCStatement: %v", err)
	}
	if len(rest) != 0 {
		return QCStatements{}, qcErr("%d trailing bytes", len(rest))
	}
	var q QCStatements
	var seen []string
	for i, s := range raw {
		id := s.ID.String()
		if slices.Contains(seen, id) {
			return QCStatements{}, qcErr("statement %s appears twice", id)
		}
		seen = append(seen, id)
		if err := q.parseOne(s); err != nil {
			return QCStatements{}, qcErr("statement %d (%s): %v", i, id, err)
		}
	}
	return q, nil
}

func (q *QCStatements) parseOne(s qcStatement) error {
	info := s.Info.FullBytes
	noInfo := func() error {
		if len(info) != 0 {
			return errors.New("has a statementInfo, none expected")
		}
		return nil
	}
	unmarshal := func(v any, params string) error {
		if len(info) == 0 {
			return errors.New("statementInfo missing")
		}
		rest, err := asn1.UnmarshalWithParams(info, v, params)
		if err != nil {
			return err
		}
		if len(rest) != 0 {
			return errors.New("trailing bytes in statementInfo")
		}
		return nil
	}
	switch {
	case s.ID.Equal(oidQcCompliance):
		q.Compliance = true
		return noInfo()
	case s.ID.Equal(oidQcSSCD):
		q.SSCD = true
		return noInfo()
	case s.ID.Equal(oidQcRetentionPeriod):
		var n int
		if err := unmarshal(&n, ""); err != nil {
			return err
		}
		if n <= 0 {
			return fmt.Errorf("retention period %d", n)
		}
		q.RetentionYears = n
	case s.ID.Equal(oidQcType):
		var types []asn1.ObjectIdentifier
		if err := unmarshal(&types, ""); err != nil {
			return err
		}
		if len(types) != 1 {
			return fmt.Errorf("%d QcTypes, want exactly one", len(types))
		}
		switch {
		case types[0].Equal(oidQcTypeESign):
			q.Type = QCTypeESign
		case types[0].Equal(oidQcTypeESeal):
			q.Type = QCTypeESeal
		case types[0].Equal(oidQcTypeWeb):
			q.Type = QCTypeWeb
		default:
			return fmt.Errorf("unknown QcType %v", types[0])
		}
	case s.ID.Equal(oidQcPDS):
		var locs []pdsLocation
		if err := unmarshal(&locs, ""); err != nil {
			return err
		}
		for _, l := range locs {
			q.PDS = append(q.PDS, PDS(l))
		}
	case s.ID.Equal(oidQcCClegislation):
		var cs []asn1.RawValue
		if err := unmarshal(&cs, ""); err != nil {
			return err
		}
		for _, c := range cs {
			if c.Class != asn1.ClassUniversal || c.Tag != tagPrintableString || !isUpperAlpha2(string(c.Bytes)) {
				return fmt.Errorf("country %q is not a PrintableString alpha-2 code", c.Bytes)
			}
			q.Legislation = append(q.Legislation, string(c.Bytes))
		}
	case s.ID.Equal(oidQcsPkixQCSyntaxV2):
		var si semanticsInformation
		if err := unmarshal(&si, ""); err != nil {
			return err
		}
		switch {
		case si.Identifier.Equal(oidSemanticsNatural):
			q.Semantics = SemanticsNatural
		case si.Identifier.Equal(oidSemanticsLegal):
			q.Semantics = SemanticsLegal
		default:
			return fmt.Errorf("unknown semantics identifier %v", si.Identifier)
		}
	default:
		return errors.New("statement not supported")
	}
	return nil
}

// String is a one-line summary for logs and test failures.
func (q QCStatements) String() string {
	var parts []string
	if q.Compliance {
		parts = append(parts, "QcCompliance")
	}
	if q.Type != "" {
		parts = append(parts, "QcType="+string(q.Type))
	}
	if q.SSCD {
		parts = append(parts, "QcSSCD")
	}
	for _, p := range q.PDS {
		parts = append(parts, "QcPDS["+p.Language+"]="+p.URL)
	}
	if len(q.Legislation) > 0 {
		parts = append(parts, "QcCClegislation="+strings.Join(q.Legislation, ","))
	}
	if q.RetentionYears > 0 {
		parts = append(parts, fmt.Sprintf("QcRetentionPeriod=%d", q.RetentionYears))
	}
	if q.Semantics != "" {
		parts = append(parts, "semantics="+string(q.Semantics))
	}
	return strings.Join(parts, " ")
}
