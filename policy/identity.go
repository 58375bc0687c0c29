package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrInvalidIdentity is the kind of every refusal of a registered identity;
// the concrete error is an *IdentityError naming the field.
var ErrInvalidIdentity = newError("invalid", "invalid identity")

// IdentityError says which identity field was refused and why. When the
// cause is a subject-name rule, it wraps the *NameError too, so both
// errors.Is(err, ErrInvalidIdentity) and errors.Is(err, ErrInvalidName) hold.
type IdentityError struct {
	Field  string // the JSON field name, e.g. "personal_number"
	Reason string
	Cause  error // optional
}

func (e *IdentityError) Error() string {
	if e.Reason == "" && e.Cause != nil {
		return "identity " + e.Field + ": " + e.Cause.Error()
	}
	return "identity " + e.Field + ": " + e.Reason
}

// Unwrap lets callers branch on ErrInvalidIdentity (and ErrInvalidName).
func (e *IdentityError) Unwrap() []error {
	if e.Cause != nil {
		return []error{ErrInvalidIdentity, e.Cause}
	}
	return []error{ErrInvalidIdentity}
}

func identityErr(field, format string, args ...any) error {
	return &IdentityError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// IdentityKind says whether an identity is a natural or a legal person.
type IdentityKind string

// The two identity kinds of identity.json.
const (
	IdentityPerson       IdentityKind = "person"
	IdentityOrganization IdentityKind = "organization"
)

// Person is a registered natural person (the subscriber of a qes-person or
// an officer certificate).
type Person struct {
	Surname        string `json:"surname"`
	GivenName      string `json:"given_name"` // first name only
	Patronymic     string `json:"patronymic,omitempty"`
	PersonalNumber string `json:"personal_number"` // national personal number, digits
	Country        string `json:"country"`         // ISO 3166-1 alpha-2, "TJ"
}

// Organization is a registered legal person (qseal-org, and the owner of a
// tls-server, OCSP signer or TSA unit certificate).
type Organization struct {
	Name               string `json:"name"`                // legal name, goes into O
	RegistrationNumber string `json:"registration_number"` // state registration number (NTR)
	TaxNumber          string `json:"tax_number"`          // ИНН/РМА: recorded, not written into the certificate
	Country            string `json:"country"`
	// CommonName is the name the seal or unit is known by (CN); empty
	// means Name. A ministry's seal and its TSA unit differ only here.
	CommonName string `json:"common_name,omitempty"`
}

// Identity is a registered identity as identity.json holds it: a kind and
// the fields of that kind, flat. DNSNames are the validated domain names of
// a tls-server certificate and are refused for every other profile.
type Identity struct {
	Kind         IdentityKind
	Person       Person       // when Kind is IdentityPerson
	Organization Organization // when Kind is IdentityOrganization
	DNSNames     []string
}

// identityJSON is the flat file format; pointers tell "absent" from "empty"
// so a field of the other kind is refused by name.
type identityJSON struct {
	Kind               string   `json:"kind"`
	Surname            *string  `json:"surname,omitempty"`
	GivenName          *string  `json:"given_name,omitempty"`
	Patronymic         *string  `json:"patronymic,omitempty"`
	PersonalNumber     *string  `json:"personal_number,omitempty"`
	Name               *string  `json:"name,omitempty"`
	RegistrationNumber *string  `json:"registration_number,omitempty"`
	TaxNumber          *string  `json:"tax_number,omitempty"`
	CommonName         *string  `json:"common_name,omitempty"`
	Country            *string  `json:"country,omitempty"`
	DNSNames           []string `json:"dns_names,omitempty"`
}

// ParseIdentity decodes identity.json strictly (unknown fields, fields of
// the other kind, missing required fields, duplicate or trailing data are
// refused, each naming the field) and validates it with
// DefaultIdentifierRules. Use ParseIdentityWith for configured patterns.
func ParseIdentity(b []byte) (Identity, error) {
	return ParseIdentityWith(b, IdentifierRules{})
}

// ParseIdentityWith is ParseIdentity with the center's identifier patterns
// (zero fields fall back to the defaults).
func ParseIdentityWith(b []byte, rules IdentifierRules) (Identity, error) {
	var id Identity
	if err := id.UnmarshalJSON(b); err != nil {
		return Identity{}, err
	}
	if err := id.Validate(rules); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// UnmarshalJSON decodes the flat format strictly but does not check
// identifier formats or name rules (Validate does). It lets an Identity sit
// in a larger strictly-decoded JSON document.
func (id *Identity) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j identityJSON
	if err := dec.Decode(&j); err != nil {
		return &IdentityError{Field: jsonErrField(err), Reason: "cannot decode: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return identityErr("(document)", "trailing data after the JSON object")
	}
	out := Identity{Kind: IdentityKind(j.Kind), DNSNames: j.DNSNames}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	type field struct {
		name string
		v    *string
	}
	forbid := func(kind string, fs ...field) error {
		for _, f := range fs {
			if f.v != nil {
				return identityErr(f.name, "not a field of a %s identity", kind)
			}
		}
		return nil
	}
	require := func(fs ...field) error {
		for _, f := range fs {
			if f.v == nil || *f.v == "" {
				return identityErr(f.name, "required")
			}
		}
		return nil
	}
	switch out.Kind {
	case IdentityPerson:
		if err := forbid("person", field{"name", j.Name}, field{"registration_number", j.RegistrationNumber},
			field{"tax_number", j.TaxNumber}, field{"common_name", j.CommonName}); err != nil {
			return err
		}
		if err := require(field{"surname", j.Surname}, field{"given_name", j.GivenName},
			field{"personal_number", j.PersonalNumber}, field{"country", j.Country}); err != nil {
			return err
		}
		if j.Patronymic != nil && *j.Patronymic == "" {
			return identityErr("patronymic", "empty: leave the field out when there is none")
		}
		out.Person = Person{Surname: *j.Surname, GivenName: *j.GivenName, Patronymic: str(j.Patronymic),
			PersonalNumber: *j.PersonalNumber, Country: *j.Country}
	case IdentityOrganization:
		if err := forbid("organization", field{"surname", j.Surname}, field{"given_name", j.GivenName},
			field{"patronymic", j.Patronymic}, field{"personal_number", j.PersonalNumber}); err != nil {
			return err
		}
		if err := require(field{"name", j.Name}, field{"registration_number", j.RegistrationNumber},
			field{"tax_number", j.TaxNumber}, field{"country", j.Country}); err != nil {
			return err
		}
		if j.CommonName != nil && *j.CommonName == "" {
			return identityErr("common_name", "empty: leave the field out to use name")
		}
		out.Organization = Organization{Name: *j.Name, RegistrationNumber: *j.RegistrationNumber,
			TaxNumber: *j.TaxNumber, Country: *j.Country, CommonName: str(j.CommonName)}
	case "":
		return identityErr("kind", "required (\"person\" or \"organization\")")
	default:
		return identityErr("kind", "%q is not \"person\" or \"organization\"", j.Kind)
	}
	*id = out.NFC()
	return nil
}

// NFC returns the identity with every text field normalised to Unicode NFC
// (RFC 5198), the form names are checked, compared and written in: an
// officer's keyboard or a registry export may send "ӯ" as "у" + U+0304.
func (id Identity) NFC() Identity {
	p, o := &id.Person, &id.Organization
	for _, f := range []*string{&p.Surname, &p.GivenName, &p.Patronymic, &p.PersonalNumber, &p.Country,
		&o.Name, &o.RegistrationNumber, &o.TaxNumber, &o.Country, &o.CommonName} {
		*f = NFC(*f)
	}
	id.DNSNames = append([]string(nil), id.DNSNames...)
	return id
}

// MarshalJSON writes the flat identity.json format.
func (id Identity) MarshalJSON() ([]byte, error) {
	j := identityJSON{Kind: string(id.Kind), DNSNames: id.DNSNames}
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	switch id.Kind {
	case IdentityPerson:
		p := id.Person
		j.Surname, j.GivenName, j.Patronymic = &p.Surname, &p.GivenName, opt(p.Patronymic)
		j.PersonalNumber, j.Country = &p.PersonalNumber, &p.Country
	case IdentityOrganization:
		o := id.Organization
		j.Name, j.RegistrationNumber, j.TaxNumber = &o.Name, &o.RegistrationNumber, &o.TaxNumber
		j.Country, j.CommonName = &o.Country, opt(o.CommonName)
	default:
		return nil, identityErr("kind", "%q is not \"person\" or \"organization\"", id.Kind)
	}
	return json.Marshal(j)
}

// jsonErrField extracts the field name encoding/json puts in its errors.
func jsonErrField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return te.Field
	}
	// `json: unknown field "x"` has no typed error.
	if msg := err.Error(); strings.HasPrefix(msg, `json: unknown field "`) {
		return strings.TrimSuffix(strings.TrimPrefix(msg, `json: unknown field "`), `"`)
	}
	return "(document)"
}

// Validate checks the identity against rules (zero fields: defaults) and
// against the subject-name rules of the attributes its fields go into.
func (id Identity) Validate(rules IdentifierRules) error {
	switch id.Kind {
	case IdentityPerson:
		return id.Person.Validate(rules)
	case IdentityOrganization:
		return id.Organization.Validate(rules)
	}
	return identityErr("kind", "%q is not \"person\" or \"organization\"", id.Kind)
}

// nameField checks v with the rule of the subject attribute it becomes and
// reports it under the identity's field name.
func nameField(field string, attr Attribute) error {
	rule, _ := ruleFor(attr.Type)
	if err := checkValue(rule, NFC(attr.Value)); err != nil {
		return &IdentityError{Field: field, Cause: err}
	}
	return nil
}

// Validate checks a natural person's fields. The common name the profile
// builds from them must fit 64 characters too; that is checked when the
// subject is built, as subject CN.
func (p Person) Validate(rules IdentifierRules) error {
	r := rules.withDefaults()
	for _, f := range []struct {
		field string
		attr  Attribute
	}{
		{"surname", Attribute{oidSurname, p.Surname}},
		{"given_name", Attribute{oidGivenName, p.GivenName}},
	} {
		if err := nameField(f.field, f.attr); err != nil {
			return err
		}
	}
	if p.Patronymic != "" {
		if err := nameField("patronymic", Attribute{oidGivenName, p.Patronymic}); err != nil {
			return err
		}
	}
	if err := checkCountry(p.Country); err != nil {
		return err
	}
	return r.checkPersonalNumber(p.PersonalNumber)
}

// Validate checks a legal person's fields.
func (o Organization) Validate(rules IdentifierRules) error {
	r := rules.withDefaults()
	if err := nameField("name", Attribute{oidOrganization, o.Name}); err != nil {
		return err
	}
	if o.CommonName != "" {
		if err := nameField("common_name", Attribute{oidCommonName, o.CommonName}); err != nil {
			return err
		}
	}
	if err := checkCountry(o.Country); err != nil {
		return err
	}
	if err := r.checkRegistrationNumber(o.RegistrationNumber); err != nil {
		return err
	}
	return r.checkTaxNumber(o.TaxNumber)
}

// checkCountry accepts TJ only: the identifier patterns, and the PNOTJ-/NTRTJ-
// prefixes that say which register an identifier comes from, are national.
func checkCountry(c string) error {
	if err := nameField("country", Attribute{oidCountry, c}); err != nil {
		return err
	}
	if c != "TJ" {
		return identityErr("country", "%q: only TJ identities are registered here (identifiers are from Tajik registers)", c)
	}
	return nil
}
