package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/muhr-pki/muhr/policy/ids"
)

// Issuance configures the certificate profiles: the center's policy OID,
// the PKI disclosure statements (QcPDS), validity and identifier formats.
type Issuance struct {
	// PolicyOID is the center's own certificate policy (a private arc),
	// written next to the ETSI policy in every certificate.
	PolicyOID string `yaml:"policy_oid"`
	// PDS lists one https URL per language; an "en" entry is mandatory.
	PDS            []PDS `yaml:"pds"`
	RetentionYears int   `yaml:"retention_years"`
	// Validity per profile name (qes-person: 17520h); absent: the profile's default.
	Validity map[string]time.Duration `yaml:"validity"`
	// Identifier formats (whole-value regular expressions); empty: the
	// defaults of STANDARDS.md.
	PersonalNumberPattern     string `yaml:"personal_number_pattern"`
	RegistrationNumberPattern string `yaml:"registration_number_pattern"`
	TaxNumberPattern          string `yaml:"tax_number_pattern"`
}

// PDS is one PKI disclosure statement.
type PDS struct {
	URL      string `yaml:"url"`
	Language string `yaml:"language"`
}

// Configured reports whether issuance settings are present at all.
func (i Issuance) Configured() bool { return i.PolicyOID != "" }

func (i Issuance) validate() error {
	if !i.Configured() {
		if len(i.PDS) > 0 || len(i.Validity) > 0 {
			return fmt.Errorf("issuance.policy_oid: required when issuance is configured")
		}
		return nil
	}
	if _, err := ids.ParseOID(i.PolicyOID); err != nil {
		return fmt.Errorf("issuance.policy_oid: %v", err)
	}
	for _, p := range []struct{ key, val string }{
		{"personal_number_pattern", i.PersonalNumberPattern},
		{"registration_number_pattern", i.RegistrationNumberPattern},
		{"tax_number_pattern", i.TaxNumberPattern},
	} {
		if p.val == "" {
			continue
		}
		if _, err := regexp.Compile(p.val); err != nil {
			return fmt.Errorf("issuance.%s: %v", p.key, err)
		}
	}
	hasEN := false
	for n, p := range i.PDS {
		if !strings.HasPrefix(p.URL, "https://") {
			return fmt.Errorf("issuance.pds[%d].url: %q must be an https URL", n, p.URL)
		}
		hasEN = hasEN || p.Language == "en"
	}
	if !hasEN {
		return fmt.Errorf("issuance.pds: an entry with language en is mandatory (EN 319 412-5)")
	}
	for name, d := range i.Validity {
		if d <= 0 {
			return fmt.Errorf("issuance.validity.%s: %v must be positive", name, d)
		}
	}
	return nil
}
