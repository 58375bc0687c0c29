package policy

import (
	"regexp"
)

// IdentifierRules are the formats of the national identifiers
// (STANDARDS.md "Identifier formats"), configurable because the registers
// may change their numbering. A nil pattern means the default. A pattern
// must match the whole value; it need not be anchored.
type IdentifierRules struct {
	PersonalNumber     *regexp.Regexp // default: 9–14 digits
	RegistrationNumber *regexp.Regexp // state registration number, default: 7–15 digits
	TaxNumber          *regexp.Regexp // ИНН/РМА, default: 9 digits
}

// DefaultIdentifierRules returns the STANDARDS.md defaults. It compiles new
// patterns on each call, so no package variable can be changed by a caller.
func DefaultIdentifierRules() IdentifierRules {
	return IdentifierRules{
		PersonalNumber:     regexp.MustCompile(`^[0-9]{9,14}$`),
		RegistrationNumber: regexp.MustCompile(`^[0-9]{7,15}$`),
		TaxNumber:          regexp.MustCompile(`^[0-9]{9}$`),
	}
}

func (r IdentifierRules) withDefaults() IdentifierRules {
	d := DefaultIdentifierRules()
	if r.PersonalNumber != nil {
		d.PersonalNumber = r.PersonalNumber
	}
	if r.RegistrationNumber != nil {
		d.RegistrationNumber = r.RegistrationNumber
	}
	if r.TaxNumber != nil {
		d.TaxNumber = r.TaxNumber
	}
	return d
}

func (r IdentifierRules) checkPersonalNumber(v string) error {
	return checkIdentifier("personal_number", r.PersonalNumber, v)
}

func (r IdentifierRules) checkRegistrationNumber(v string) error {
	return checkIdentifier("registration_number", r.RegistrationNumber, v)
}

func (r IdentifierRules) checkTaxNumber(v string) error {
	return checkIdentifier("tax_number", r.TaxNumber, v)
}

// checkIdentifier requires a whole-string match. Whatever the configured
// pattern, the value goes into serialNumber or organizationIdentifier
// (PrintableString, ≤ 64 with its prefix), so those rules apply as well.
func checkIdentifier(field string, re *regexp.Regexp, v string) error {
	if v == "" {
		return identityErr(field, "required")
	}
	loc := re.FindStringIndex(v)
	if loc == nil || loc[0] != 0 || loc[1] != len(v) {
		return identityErr(field, "%q does not match the pattern %s", v, re)
	}
	if !isPrintableString(v) {
		return identityErr(field, "%q has characters outside PrintableString", v)
	}
	if len(v) > 64-len("PNOTJ-") {
		return identityErr(field, "%d characters, at most %d allowed", len(v), 64-len("PNOTJ-"))
	}
	return nil
}
