package ca

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
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

// ErrSettings marks issuance settings that name something that does not
// exist; the message names the muhrd.yaml key.
var ErrSettings = errors.New("issuance settings")

// Validate refuses settings that would be silently ignored: a validity for
// a profile name that is not a built-in profile (issuance.validity.qes-persn
// would leave qes-person at its default). Whoever turns muhrd.yaml into
// ProfileSettings calls it at start; the issuer checks again before it
// builds, so a typo never goes unnoticed.
func (s ProfileSettings) Validate() error {
	names := make([]string, 0, len(s.Validity))
	for name := range s.Validity {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if _, err := policy.ProfileByName(name); err != nil || strings.Contains(name, "/") {
			known := make([]string, 0, 8)
			for _, p := range policy.Profiles() {
				known = append(known, p.Name)
			}
			return fmt.Errorf("%w: issuance.validity.%s: no such profile (known: %s)", ErrSettings, name, strings.Join(known, ", "))
		}
		if d := s.Validity[name]; d <= 0 {
			return fmt.Errorf("%w: issuance.validity.%s: %v must be positive", ErrSettings, name, d)
		}
	}
	return nil
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
	// The kind the CA issues as: a services CA's row says "issuing", its
	// certificate says what it is.
	kind := policy.IssuerKind(i.ca.Kind, i.cert)
	if !prof.AllowedIssuer(kind) {
		return nil, "", "", fmt.Errorf("%w: %s from %s CA %s (allowed: %s)", ErrWrongIssuer, prof, kind, i.ca.ID, strings.Join(prof.Issuers, ", "))
	}
	s := i.opts.Settings
	if err := s.Validate(); err != nil {
		return nil, "", "", fmt.Errorf("issuer: %w", err)
	}
	links, err := policy.CALinks(s.PublicURL, i.ca.ID)
	if err != nil {
		return nil, "", "", fmt.Errorf("issuer: %w", err)
	}
	tmpl, err := prof.Build(req.Identity, pub, i.cert, policy.ProfileConfig{
		IssuerKind: kind, IssuerLinks: links, CenterPolicy: s.CenterPolicy, PDS: s.PDS,
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
