package ca

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/policy"
)

// builder turns the plan into certificate templates through policy, the one
// source of truth for profiles, and lints each before the HSM signs it.
type builder struct {
	publicURL    string
	centerPolicy x509.OID
	now          time.Time
	rand         io.Reader
	linter       *policy.Linter
}

func (c *Ceremony) builder(p *Plan, now time.Time) (*builder, error) {
	oid, err := policy.ParseOID(p.PolicyOID)
	if err != nil {
		return nil, planErr("policy_oid: %v", err)
	}
	return &builder{publicURL: c.PublicURL, centerPolicy: oid, now: now, rand: c.rand(), linter: policy.NewLinter()}, nil
}

func orgName(s SubjectPlan) policy.OrgName {
	return policy.OrgName{Country: s.Country, Organization: s.Organization,
		OrganizationIdentifier: s.OrganizationIdentifier, CommonName: s.CommonName}
}

func (b *builder) caParams(plan CAPlan, pub crypto.PublicKey) (policy.CAParams, error) {
	serial, err := policy.NewSerial(b.rand)
	if err != nil {
		return policy.CAParams{}, err
	}
	return policy.CAParams{Subject: orgName(plan.Subject), Serial: serial, PublicKey: pub,
		NotBefore: b.now, NotAfter: b.now.Add(plan.Validity)}, nil
}

func (b *builder) selfSignedCA(plan CAPlan, kind string, pub crypto.PublicKey) (*x509.Certificate, error) {
	p, err := b.caParams(plan, pub)
	if err != nil {
		return nil, err
	}
	if kind == "management" {
		return policy.ManagementCA(p)
	}
	return policy.RootCA(p)
}

func (b *builder) issuingCA(plan IssuingPlan, pub crypto.PublicKey, root *x509.Certificate, rootID string) (*x509.Certificate, error) {
	p, err := b.caParams(plan.CAPlan, pub)
	if err != nil {
		return nil, err
	}
	links, err := policy.CALinks(b.publicURL, rootID)
	if err != nil {
		return nil, err
	}
	return policy.IssuingCA(policy.IssuingCAParams{CAParams: p, Root: root, RootLinks: links, CenterPolicy: b.centerPolicy})
}

func (b *builder) servicesCA(plan ServicesPlan, pub crypto.PublicKey, root *x509.Certificate, rootID string) (*x509.Certificate, error) {
	p, err := b.caParams(plan.CAPlan, pub)
	if err != nil {
		return nil, err
	}
	links, err := policy.CALinks(b.publicURL, rootID)
	if err != nil {
		return nil, err
	}
	return policy.ServicesCA(policy.ServicesCAParams{CAParams: p, Root: root, RootLinks: links, DNSSuffixes: plan.DNSSuffixes})
}

func (b *builder) signerParams(subject policy.OrgName, validity time.Duration, pub crypto.PublicKey, issuer *x509.Certificate, issuerID string) (policy.SignerParams, error) {
	serial, err := policy.NewSerial(b.rand)
	if err != nil {
		return policy.SignerParams{}, err
	}
	links, err := policy.CALinks(b.publicURL, issuerID)
	if err != nil {
		return policy.SignerParams{}, err
	}
	return policy.SignerParams{Subject: subject, Serial: serial, PublicKey: pub, NotBefore: b.now,
		NotAfter: b.now.Add(validity), Issuer: issuer, IssuerLinks: links, CenterPolicy: b.centerPolicy}, nil
}

// ocspSigner names the responder after its CA: the CA's legal-person name
// with "OCSP Responder" in CN.
func (b *builder) ocspSigner(plan IssuingPlan, pub crypto.PublicKey, issuer *x509.Certificate) (*x509.Certificate, error) {
	subject := orgName(plan.Subject)
	subject.CommonName = truncateRunes(subject.CommonName, 64-len(" OCSP Responder")) + " OCSP Responder"
	p, err := b.signerParams(subject, plan.OCSPSigner.Validity, pub, issuer, plan.ID)
	if err != nil {
		return nil, err
	}
	return policy.OCSPSigner(p)
}

func (b *builder) tsaUnit(plan TSAPlan, pub crypto.PublicKey, issuer *x509.Certificate) (*x509.Certificate, error) {
	p, err := b.signerParams(orgName(plan.Subject), plan.Validity, pub, issuer, plan.Issuer)
	if err != nil {
		return nil, err
	}
	var pols []x509.OID
	for i, s := range plan.Policies {
		oid, err := policy.ParseOID(s)
		if err != nil {
			return nil, planErr("tsa.policies[%d]: %v", i, err)
		}
		pols = append(pols, oid)
	}
	return policy.TSAUnit(policy.TSAParams{SignerParams: p, TSAPolicies: pols})
}

func (b *builder) crl(plan CAPlan, number *big.Int) (*x509.RevocationList, error) {
	return policy.CRL(policy.CRLParams{Number: number, ThisUpdate: b.now, NextUpdate: b.now.Add(plan.CRLValidity)})
}

// lint runs zlint on the template signed by a throwaway key; any error or
// unaccepted warning stops the ceremony before the HSM signs.
func (b *builder) lint(kind string, tmpl, parent *x509.Certificate, pub crypto.PublicKey) error {
	res, err := b.linter.PreIssue(tmpl, parent, pub, lintKind(kind))
	if err != nil {
		return fmt.Errorf("ceremony: lint %s certificate: %w", kind, err)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("ceremony: %s certificate fails lint, not signed: %w", kind, err)
	}
	return nil
}

func (b *builder) lintCRL(tmpl *x509.RevocationList, issuer *x509.Certificate) error {
	res, err := b.linter.PreIssueCRL(tmpl, issuer)
	if err != nil {
		return fmt.Errorf("ceremony: lint CRL: %w", err)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("ceremony: CRL fails lint, not signed: %w", err)
	}
	return nil
}

func lintKind(kind string) policy.Kind {
	switch kind {
	case "root":
		return policy.KindRootCA
	case "management":
		return policy.KindManagementCA
	case "issuing":
		return policy.KindIssuingCA
	case "services":
		return policy.KindServicesCA
	case "ocsp":
		return policy.KindOCSPSigner
	case "tsa":
		return policy.KindTSAUnit
	}
	return policy.Kind(kind)
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}
