package policy

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestParseIdentity(t *testing.T) {
	person := `{"kind":"person","surname":"Иванов","given_name":"Пётр","patronymic":"Сергеевич","personal_number":"987654321","country":"TJ"}`
	id, err := ParseIdentity([]byte(person))
	if err != nil {
		t.Fatal(err)
	}
	want := Person{Surname: "Иванов", GivenName: "Пётр", Patronymic: "Сергеевич", PersonalNumber: "987654321", Country: "TJ"}
	if id.Kind != IdentityPerson || id.Person != want {
		t.Errorf("got %+v", id)
	}
	if id.Person.CommonName() != "Иванов Пётр Сергеевич" || id.Person.GivenNames() != "Пётр Сергеевич" || id.Person.SerialNumber() != "PNOTJ-987654321" {
		t.Errorf("derived names %q %q %q", id.Person.CommonName(), id.Person.GivenNames(), id.Person.SerialNumber())
	}
	// MarshalJSON writes the same flat format back.
	b, err := json.Marshal(id)
	if err != nil || string(b) != person {
		t.Errorf("round trip\n got %s\nwant %s (%v)", b, person, err)
	}

	org := `{"kind":"organization","name":"` + testMinistry + `","registration_number":"0123456789","tax_number":"123456789","country":"TJ","dns_names":["portal.minfin.tj"]}`
	id, err = ParseIdentity([]byte(org))
	if err != nil {
		t.Fatal(err)
	}
	if id.Kind != IdentityOrganization || id.Organization.Name != testMinistry || id.Organization.OrganizationIdentifier() != "NTRTJ-0123456789" ||
		id.Organization.OrgName().CommonName != testMinistry || len(id.DNSNames) != 1 {
		t.Errorf("got %+v", id)
	}
	if b, err := json.Marshal(id); err != nil || string(b) != org {
		t.Errorf("round trip\n got %s\nwant %s (%v)", b, org, err)
	}
	// Inside a larger document the decoder is just as strict.
	var doc struct{ Identity Identity }
	if err := json.Unmarshal([]byte(`{"Identity":{"kind":"person","surname":"A","nick":"x"}}`), &doc); err == nil || !strings.Contains(err.Error(), "nick") {
		t.Errorf("embedded unknown field: %v", err)
	}
}

func TestParseIdentityRefusals(t *testing.T) {
	p := func(extra string) string {
		return `{"kind":"person","surname":"Раҳимов","given_name":"Ҷамшед","personal_number":"123456789","country":"TJ"` + extra + `}`
	}
	cases := []struct{ doc, field, says string }{
		{p(`,"email":"a@b.tj"`), "email", "unknown field"},
		{p(`,"name":"Вазорат"`), "name", "not a field of a person"},
		{p(`,"patronymic":""`), "patronymic", "leave the field out"},
		{p(`,"surname":5`), "surname", "cannot decode"},
		{p(``) + `{}`, "(document)", "trailing data"},
		{`{"kind":"person","surname":"Раҳимов","personal_number":"123456789","country":"TJ"}`, "given_name", "required"},
		{`{"kind":"robot"}`, "kind", `"robot"`},
		{`{"surname":"x"}`, "kind", "required"},
		{`{"kind":"organization","name":"Вазорат","registration_number":"0123456","tax_number":"123456789","country":"TJ","surname":"x"}`, "surname", "not a field of a organization"},
		{`{"kind":"organization","name":"Вазорат","registration_number":"0123456","country":"TJ"}`, "tax_number", "required"},
		{`{"kind":"organization","name":"Вазорат","registration_number":"01234","tax_number":"123456789","country":"TJ"}`, "registration_number", "does not match"},
		{p(`,"patronymic":"Али\u202Eевич"`), "patronymic", "U+202E"},
		{strings.Replace(p(``), `"123456789"`, `"12345 6789"`, 1), "personal_number", "does not match"},
		{strings.Replace(p(``), `"TJ"`, `"tj"`, 1), "country", "two uppercase letters"},
		{`not json`, "(document)", "cannot decode"},
	}
	for _, c := range cases {
		_, err := ParseIdentity([]byte(c.doc))
		var ie *IdentityError
		if !errors.As(err, &ie) || !errors.Is(err, ErrInvalidIdentity) {
			t.Errorf("%s: error %v is not an *IdentityError", c.doc, err)
			continue
		}
		if ie.Field != c.field || !strings.Contains(err.Error(), c.says) || !strings.HasPrefix(err.Error(), "identity "+c.field+": ") {
			t.Errorf("%s: error %q, want field %q saying %q", c.doc, err, c.field, c.says)
		}
	}
	// Name-rule refusals are ErrInvalidName too.
	_, err := ParseIdentity([]byte(p(`,"patronymic":"Али\u202Eевич"`)))
	if !errors.Is(err, ErrInvalidName) {
		t.Errorf("bidi refusal is not ErrInvalidName: %v", err)
	}
}

func TestIdentifierRules(t *testing.T) {
	d := DefaultIdentifierRules()
	for _, c := range []struct {
		check func(string) error
		ok    []string
		bad   []string
	}{
		{d.checkPersonalNumber, []string{"123456789", "12345678901234"}, []string{"12345678", "123456789012345", "12345678a", " 123456789", "١٢٣٤٥٦٧٨٩"}},
		{d.checkRegistrationNumber, []string{"1234567", "123456789012345"}, []string{"123456", "1234567890123456", "12-34567"}},
		{d.checkTaxNumber, []string{"123456789"}, []string{"12345678", "1234567890", ""}},
	} {
		for _, v := range c.ok {
			if err := c.check(v); err != nil {
				t.Errorf("%q refused: %v", v, err)
			}
		}
		for _, v := range c.bad {
			if err := c.check(v); !errors.Is(err, ErrInvalidIdentity) {
				t.Errorf("%q accepted: %v", v, err)
			}
		}
	}
	// A configured pattern, unanchored on purpose: it must still match
	// the whole value.
	rules := IdentifierRules{PersonalNumber: regexp.MustCompile(`[A-Z]{2}[0-9]{7}`)}
	p := Person{Surname: "Раҳимов", GivenName: "Ҷамшед", PersonalNumber: "AB1234567", Country: "TJ"}
	if err := p.Validate(rules); err != nil {
		t.Errorf("configured pattern: %v", err)
	}
	p.PersonalNumber = "xAB1234567y"
	if err := p.Validate(rules); err == nil {
		t.Error("partial match accepted")
	}
	if _, err := ParseIdentityWith([]byte(`{"kind":"person","surname":"Раҳимов","given_name":"Ҷамшед","personal_number":"AB1234567","country":"TJ"}`), rules); err != nil {
		t.Errorf("ParseIdentityWith: %v", err)
	}
	// The defaults still apply to the fields not configured.
	o := Organization{Name: "Вазорат", RegistrationNumber: "123", TaxNumber: "123456789", Country: "TJ"}
	if err := o.Validate(rules); err == nil || !strings.Contains(err.Error(), "registration_number") {
		t.Errorf("default registration rule: %v", err)
	}
}
