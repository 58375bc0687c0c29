package ca

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/ca/csr"
	"github.com/muhr-pki/muhr/policy"
)

// ProfileSettings is the part of the center's configuration the profiles
// read: URLs, the center's policy, QcPDS, validity and identifier formats.
type ProfileSettings struct {
	PublicURL      string
	CenterPolicy   x509.OID
	PDS            []policy.PDS
	RetentionYears int
	// Validity per profile name; a missing entry means the profile's default.
	Validity map[string]time.Duration
	Rules    policy.IdentifierRules
}

type checkedCSR struct {
	pub  crypto.PublicKey
	spki []byte
}

// checkCSR is proof of possession and the key checks; the CSR gives the
// issuer its public key and nothing else.
func (i *Issuer) checkCSR(data []byte) (*checkedCSR, error) {
	c, err := csr.Intake(data, csr.Options{ForbiddenKeys: i.forbidden})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	if len(c.IgnoredExtensions) > 0 {
		i.opts.Log.Info("CSR extensions ignored", "extensions", fmt.Sprint(c.IgnoredExtensions))
	}
	return &checkedCSR{pub: c.PublicKey, spki: c.SPKI}, nil
}

// build makes the certificate template from the profile and the
// registered identity.
func (i *Issuer) build(req Request, pub crypto.PublicKey, serial *big.Int) (*x509.Certificate, policy.Kind, string, error) {
	prof, err := policy.ProfileByName(req.Profile)
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: %w", ErrRequest, err)
	}
	if !prof.AllowedIssuer(i.ca.Kind) {
		return nil, "", "", fmt.Errorf("%w: %s from %s CA %s", ErrWrongIssuer, prof, i.ca.Kind, i.ca.ID)
	}
	s := i.opts.Settings
	links, err := policy.CALinks(s.PublicURL, i.ca.ID)
	if err != nil {
		return nil, "", "", fmt.Errorf("issuer: %w", err)
	}
	tmpl, err := prof.Build(req.Identity, pub, i.cert, policy.ProfileConfig{
		IssuerKind: i.ca.Kind, IssuerLinks: links, CenterPolicy: s.CenterPolicy, PDS: s.PDS,
		RetentionYears: s.RetentionYears, Validity: s.Validity[prof.Name], QSCD: req.QSCD,
		Now: i.opts.Clock().UTC().Truncate(time.Second), Serial: serial, Rules: s.Rules,
	})
	if err != nil {
		if errors.Is(err, policy.ErrProfileConfig) {
			return nil, "", "", fmt.Errorf("issuer: profile %s: %w", prof, err)
		}
		return nil, "", "", fmt.Errorf("%w: %w", ErrRequest, err)
	}
	return tmpl, prof.Kind, prof.String(), nil
}
