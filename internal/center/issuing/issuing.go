// Package issuing turns the issuance section of muhrd.yaml into the CA's
// profile settings. It is apart from package center because it links ca
// (and so zlint): only binaries that issue import it.
package issuing

import (
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/policy"
)

// Settings turns the issuance section of muhrd.yaml into the
// profiles' settings.
func Settings(cfg *config.Config) (ca.ProfileSettings, error) {
	is := cfg.Issuance
	if !is.Configured() {
		return ca.ProfileSettings{}, errors.New("issuance: not configured in muhrd.yaml (issuance.policy_oid, issuance.pds)")
	}
	oid, err := x509.ParseOID(is.PolicyOID)
	if err != nil {
		return ca.ProfileSettings{}, fmt.Errorf("issuance.policy_oid: %w", err)
	}
	s := ca.ProfileSettings{PublicURL: cfg.PublicURL, CenterPolicy: oid, RetentionYears: is.RetentionYears, Validity: is.Validity}
	for _, p := range is.PDS {
		s.PDS = append(s.PDS, policy.PDS{URL: p.URL, Language: p.Language})
	}
	for _, r := range []struct {
		pat string
		dst **regexp.Regexp
	}{
		{is.PersonalNumberPattern, &s.Rules.PersonalNumber},
		{is.RegistrationNumberPattern, &s.Rules.RegistrationNumber},
		{is.TaxNumberPattern, &s.Rules.TaxNumber},
	} {
		if r.pat == "" {
			continue
		}
		re, err := regexp.Compile(r.pat)
		if err != nil {
			return ca.ProfileSettings{}, fmt.Errorf("issuance: identifier pattern: %w", err)
		}
		*r.dst = re
	}
	// A typo in issuance.validity (qes-persn) would otherwise be ignored.
	if err := s.Validate(); err != nil {
		return ca.ProfileSettings{}, err
	}
	return s, nil
}
