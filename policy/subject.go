package policy

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
)

// Prefixes of the ETSI EN 319 412-1 §5.1.3/§5.1.4 identifiers: PNO is a
// national personal number, NTR a national trade (state) register number;
// the country code says which nation's register.
const (
	personalNumberPrefix = "PNO"
	tradeRegisterPrefix  = "NTR"
)

// GivenNames is the givenName value of a person: the first name, then the
// patronymic when there is one, as Tajik and Russian documents write them.
func (p Person) GivenNames() string {
	if p.Patronymic == "" {
		return p.GivenName
	}
	return p.GivenName + " " + p.Patronymic
}

// CommonName is "surname first-name [patronymic]", the order of Tajik and
// Russian documents.
func (p Person) CommonName() string { return p.Surname + " " + p.GivenNames() }

// SerialNumber is the subject serialNumber: PNOTJ-<personal number>.
func (p Person) SerialNumber() string {
	return personalNumberPrefix + p.Country + "-" + p.PersonalNumber
}

// Attributes returns the natural-person subject (EN 319 412-2 §4.2.4): C,
// surname, givenName, serialNumber, CN.
func (p Person) Attributes() []Attribute {
	return []Attribute{
		{oidCountry, p.Country},
		{oidSurname, p.Surname},
		{oidGivenName, p.GivenNames()},
		{oidSerialNumber, p.SerialNumber()},
		{oidCommonName, p.CommonName()},
	}
}

// OrganizationIdentifier is NTRTJ-<state registration number>.
func (o Organization) OrganizationIdentifier() string {
	return tradeRegisterPrefix + o.Country + "-" + o.RegistrationNumber
}

// OrgName returns the legal-person subject (EN 319 412-3): C, O,
// organizationIdentifier, CN (the common name, or the legal name). A name
// over 64 characters is refused when the subject is marshalled, never cut:
// a truncated legal name is another name.
func (o Organization) OrgName() OrgName {
	cn := o.CommonName
	if cn == "" {
		cn = o.Name
	}
	return OrgName{Country: o.Country, Organization: o.Name,
		OrganizationIdentifier: o.OrganizationIdentifier(), CommonName: cn}
}

// setSubject marshals attrs into t.RawSubject (what crypto/x509 writes) and
// fills t.Subject from the same bytes so a caller logging the template sees
// the real name; RawSubject wins when the certificate is created.
func setSubject(t *x509.Certificate, attrs []Attribute) error {
	raw, err := MarshalSubject(attrs)
	if err != nil {
		return err
	}
	t.RawSubject = raw
	return fillSubject(t)
}

func fillSubject(t *x509.Certificate) error {
	var rdn pkix.RDNSequence
	if rest, err := asn1.Unmarshal(t.RawSubject, &rdn); err != nil || len(rest) != 0 {
		return fmt.Errorf("subject: re-reading our own encoding: %v", err)
	}
	t.Subject = pkix.Name{}
	t.Subject.FillFromRDNSequence(&rdn)
	return nil
}

// checkSubjectDER re-validates every attribute of a DER subject against the
// rules MarshalSubject applies; our own lint runs it on the certificate
// about to be signed. It also refuses string types other than the two we
// write, and attribute types we do not know. An empty subject passes here;
// ownLints decides which kinds may have one.
func checkSubjectDER(raw []byte) []error {
	var seq []relativeNameSET
	rest, err := asn1.Unmarshal(raw, &seq)
	if err != nil || len(rest) != 0 {
		return []error{fmt.Errorf("subject does not parse as an RDNSequence: %v", err)}
	}
	var errs []error
	for _, set := range seq {
		if len(set) != 1 {
			errs = append(errs, fmt.Errorf("an RDN with %d attributes (we write one per RDN)", len(set)))
		}
		for _, a := range set {
			rule, ok := ruleFor(a.Type)
			if !ok {
				errs = append(errs, &NameError{Field: a.Type.String(), Reason: "attribute type not supported"})
				continue
			}
			v := a.Value
			if v.Class != asn1.ClassUniversal || (v.Tag != tagUTF8String && v.Tag != tagPrintableString) {
				errs = append(errs, &NameError{Field: rule.field, Reason: fmt.Sprintf("string type %d/%d, want PrintableString or UTF8String", v.Class, v.Tag)})
				continue
			}
			if rule.printableOnly && v.Tag != tagPrintableString {
				errs = append(errs, &NameError{Field: rule.field, Reason: "must be a PrintableString"})
			}
			if v.Tag == tagPrintableString && !isPrintableString(string(v.Bytes)) {
				errs = append(errs, &NameError{Field: rule.field, Reason: "PrintableString with characters outside its alphabet"})
			}
			if err := checkValue(rule, string(v.Bytes)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// subjectHas reports whether an attribute value of the DER subject has the
// given prefix, for the lints that tie the semantics identifier to the name.
func subjectHas(raw []byte, typ asn1.ObjectIdentifier, prefix string) bool {
	var seq []relativeNameSET
	if _, err := asn1.Unmarshal(raw, &seq); err != nil {
		return false
	}
	for _, set := range seq {
		for _, a := range set {
			if a.Type.Equal(typ) && strings.HasPrefix(string(a.Value.Bytes), prefix) {
				return true
			}
		}
	}
	return false
}
