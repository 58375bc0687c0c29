package policy

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"time"
)

// officerValidity is short: officers' roles change, and a certificate that
// lapses forces a fresh check of who still holds a role.
var officerValidity = period{years: 1}

// buildOfficer is officer v1, the mTLS client certificate of a
// registration or security officer, issued by the management CA: the
// person's subject (C, surname, givenName, serialNumber PNOTJ-…, CN), EKU
// clientAuth alone, keyUsage digitalSignature, the center's policy.
func buildOfficer(id Identity, pub crypto.PublicKey, issuer *x509.Certificate, cfg ProfileConfig) (*x509.Certificate, error) {
	if err := needKind(id, IdentityPerson); err != nil {
		return nil, err
	}
	if err := id.Person.Validate(cfg.Rules); err != nil {
		return nil, err
	}
	t, err := endEntity(id.Person.Attributes(), pub, issuer, cfg, officerValidity, true)
	if err != nil {
		return nil, err
	}
	t.KeyUsage = x509.KeyUsageDigitalSignature
	t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return t, nil
}

// profileSignerParams maps a profile request onto the ceremony's SignerParams, so
// the OCSP and TSA profiles are the very templates the ceremony signs.
func profileSignerParams(id Identity, pub crypto.PublicKey, issuer *x509.Certificate, cfg ProfileConfig) (SignerParams, error) {
	if err := needKind(id, IdentityOrganization); err != nil {
		return SignerParams{}, err
	}
	if err := id.Organization.Validate(cfg.Rules); err != nil {
		return SignerParams{}, err
	}
	var notAfter time.Time
	if cfg.Validity < 0 {
		return SignerParams{}, fmt.Errorf("validity %s: must not be negative", cfg.Validity)
	}
	if cfg.Validity > 0 {
		notAfter = cfg.Now.Add(cfg.Validity)
	}
	return SignerParams{Subject: id.Organization.OrgName(), Serial: cfg.Serial, PublicKey: pub,
		NotBefore: cfg.Now, NotAfter: notAfter, Issuer: issuer, IssuerLinks: cfg.IssuerLinks,
		CenterPolicy: cfg.CenterPolicy}, nil
}

// buildOCSPSigner is ocsp-signer v1: OCSPSigner for an organization identity.
func buildOCSPSigner(id Identity, pub crypto.PublicKey, issuer *x509.Certificate, cfg ProfileConfig) (*x509.Certificate, error) {
	p, err := profileSignerParams(id, pub, issuer, cfg)
	if err != nil {
		return nil, err
	}
	t, err := OCSPSigner(p)
	if err != nil {
		return nil, err
	}
	return t, fillSubject(t)
}

// buildTSAUnit is tsa-unit v1: TSAUnit for an organization identity.
func buildTSAUnit(id Identity, pub crypto.PublicKey, issuer *x509.Certificate, cfg ProfileConfig) (*x509.Certificate, error) {
	p, err := profileSignerParams(id, pub, issuer, cfg)
	if err != nil {
		return nil, err
	}
	t, err := TSAUnit(TSAParams{SignerParams: p, TSAPolicies: cfg.TSAPolicies})
	if err != nil {
		return nil, err
	}
	return t, fillSubject(t)
}
