package ca

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/policy/ids"
)

// Plan is ceremony.yaml: the hierarchy a key ceremony creates. It is decoded
// strictly by cmd/muhr (unknown keys are an error).
type Plan struct {
	// Center is the path of muhrd.yaml naming the HSM token, the database and
	// public_url (relative to the ceremony file).
	Center string `yaml:"center"`
	// Actor is who performs the ceremony, as written into the audit log.
	Actor string `yaml:"actor"`
	// PolicyOID is the center's own certificate policy (a private arc),
	// written next to the ETSI policy OIDs.
	PolicyOID string `yaml:"policy_oid"`

	Root    CAPlan        `yaml:"root"`
	Issuing []IssuingPlan `yaml:"issuing"`
	// Services are the CAs of departmental TLS server certificates, under
	// the root, each limited to its DNS suffixes (optional).
	Services   []ServicesPlan `yaml:"services"`
	Management CAPlan         `yaml:"management"`
	TSA        TSAPlan        `yaml:"tsa"`
	// AuditCheckpoint is the key that signs the audit log's checkpoints
	// (optional: muhrd makes it on first need when a plan has none).
	AuditCheckpoint *CheckpointPlan `yaml:"audit_checkpoint"`
}

// CheckpointPlan names the audit checkpoint key (no certificate: the
// checkpoint files carry its public key, the audit log its id).
type CheckpointPlan struct {
	Key KeyPlan `yaml:"key"`
}

// KeyPlan names a key to generate on the token.
type KeyPlan struct {
	Label     string `yaml:"label"`
	Algorithm string `yaml:"algorithm"`
}

// SubjectPlan is an EN 319 412-3 legal-person name.
type SubjectPlan struct {
	Country                string `yaml:"country"`
	Organization           string `yaml:"organization"`
	OrganizationIdentifier string `yaml:"organization_identifier"`
	CommonName             string `yaml:"common_name"`
}

// CAPlan describes one CA.
type CAPlan struct {
	ID       string        `yaml:"id"`
	Key      KeyPlan       `yaml:"key"`
	Subject  SubjectPlan   `yaml:"subject"`
	Validity time.Duration `yaml:"validity"`
	// CRLValidity is how long the CA's CRLs are valid (nextUpdate - thisUpdate).
	CRLValidity time.Duration `yaml:"crl_validity"`
}

// IssuingPlan is an issuing CA under the root with its OCSP signer.
type IssuingPlan struct {
	CAPlan     `yaml:",inline"`
	OCSPSigner SignerPlan `yaml:"ocsp_signer"`
}

// ServicesPlan is a services CA under the root with its OCSP signer: the
// only CA that issues tls-server certificates, and only for names under
// DNSSuffixes, which its certificate's nameConstraints permit.
type ServicesPlan struct {
	IssuingPlan `yaml:",inline"`
	DNSSuffixes []string `yaml:"dns_suffixes"`
}

// SignerPlan describes a delegated signer certificate (OCSP, TSA).
type SignerPlan struct {
	Key      KeyPlan       `yaml:"key"`
	Validity time.Duration `yaml:"validity"`
}

// TSAPlan describes the timestamp unit.
type TSAPlan struct {
	Issuer   string        `yaml:"issuer"` // id of an issuing CA
	Key      KeyPlan       `yaml:"key"`
	Subject  SubjectPlan   `yaml:"subject"`
	Validity time.Duration `yaml:"validity"`
	// Policies are the TSA policy OIDs the unit accepts; the first is the default.
	Policies []string `yaml:"policies"`
}

var labelPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ErrPlan marks a ceremony file that cannot be performed as written.
var ErrPlan = errors.New("ceremony plan")

func planErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrPlan}, args...)...)
}

func (k KeyPlan) validate(field string) (hsm.KeyAlgorithm, error) {
	if !labelPattern.MatchString(k.Label) {
		return "", planErr("%s.label: %q must be 1-63 of A-Z a-z 0-9 . _ -", field, k.Label)
	}
	alg, err := hsm.ParseKeyAlgorithm(k.Algorithm)
	if err != nil {
		return "", planErr("%s.algorithm: %v", field, err)
	}
	return alg, nil
}

func (c CAPlan) validate(field string) error {
	if err := ids.CheckCA(c.ID); err != nil {
		return planErr("%s.id: %v", field, err)
	}
	if _, err := c.Key.validate(field + ".key"); err != nil {
		return err
	}
	if c.Validity <= 0 {
		return planErr("%s.validity: required (e.g. 175200h for 20 years)", field)
	}
	if c.CRLValidity <= 0 || c.CRLValidity > 7*24*time.Hour {
		return planErr("%s.crl_validity: %v must be more than 0 and at most 168h (7 days)", field, c.CRLValidity)
	}
	return nil
}

// Validate checks the plan before anything touches the HSM or the store.
func (p *Plan) Validate() error {
	if p.Actor == "" {
		return planErr("actor: required (who performs the ceremony, for the audit log)")
	}
	if _, err := policy.ParseOID(p.PolicyOID); err != nil {
		return planErr("policy_oid: %v", err)
	}
	if err := p.Root.validate("root"); err != nil {
		return err
	}
	if err := p.Management.validate("management"); err != nil {
		return err
	}
	if len(p.Issuing) == 0 {
		return planErr("issuing: at least one issuing CA is required")
	}
	ids := map[string]string{p.Root.ID: "root", p.Management.ID: "management"}
	labels := map[string]string{p.Root.Key.Label: "root.key", p.Management.Key.Label: "management.key"}
	if p.Root.ID == p.Management.ID {
		return planErr("management.id: %q is also the root's id", p.Management.ID)
	}
	if p.Root.Key.Label == p.Management.Key.Label {
		return planErr("management.key.label: %q is also the root's key label", p.Management.Key.Label)
	}
	addLabel := func(label, field string) error {
		if prev, ok := labels[label]; ok {
			return planErr("%s.label: %q is also used by %s", field, label, prev)
		}
		labels[label] = field
		return nil
	}
	subs := make([]IssuingPlan, 0, len(p.Issuing)+len(p.Services))
	fields := make([]string, 0, cap(subs))
	for i, is := range p.Issuing {
		subs, fields = append(subs, is), append(fields, fmt.Sprintf("issuing[%d]", i))
	}
	for i, sv := range p.Services {
		field := fmt.Sprintf("services[%d]", i)
		if len(sv.DNSSuffixes) == 0 {
			return planErr("%s.dns_suffixes: at least one is required (e.g. [gov.tj])", field)
		}
		for j, s := range sv.DNSSuffixes {
			if err := policy.CheckDNSSuffix(s); err != nil {
				return planErr("%s.dns_suffixes[%d]: %v", field, j, err)
			}
		}
		subs, fields = append(subs, sv.IssuingPlan), append(fields, field)
	}
	for n, is := range subs {
		field := fields[n]
		if err := is.validate(field); err != nil {
			return err
		}
		if prev, ok := ids[is.ID]; ok {
			return planErr("%s.id: %q is also used by %s", field, is.ID, prev)
		}
		ids[is.ID] = field
		if err := addLabel(is.Key.Label, field+".key"); err != nil {
			return err
		}
		if _, err := is.OCSPSigner.Key.validate(field + ".ocsp_signer.key"); err != nil {
			return err
		}
		if err := addLabel(is.OCSPSigner.Key.Label, field+".ocsp_signer.key"); err != nil {
			return err
		}
		if is.OCSPSigner.Validity <= 0 || is.OCSPSigner.Validity > 90*24*time.Hour {
			return planErr("%s.ocsp_signer.validity: %v must be more than 0 and at most 2160h (90 days): the signer is not revocable (ocsp-nocheck)", field, is.OCSPSigner.Validity)
		}
	}
	if f, ok := ids[p.TSA.Issuer]; !ok || !strings.HasPrefix(f, "issuing[") {
		return planErr("tsa.issuer: %q is not one of the issuing CAs", p.TSA.Issuer)
	}
	if _, err := p.TSA.Key.validate("tsa.key"); err != nil {
		return err
	}
	if err := addLabel(p.TSA.Key.Label, "tsa.key"); err != nil {
		return err
	}
	if p.AuditCheckpoint != nil {
		if _, err := p.AuditCheckpoint.Key.validate("audit_checkpoint.key"); err != nil {
			return err
		}
		if err := addLabel(p.AuditCheckpoint.Key.Label, "audit_checkpoint.key"); err != nil {
			return err
		}
	}
	if p.TSA.Validity <= 0 {
		return planErr("tsa.validity: required")
	}
	if len(p.TSA.Policies) == 0 {
		p.TSA.Policies = []string{policy.TSABestPracticesPolicy().String()}
	}
	for i, o := range p.TSA.Policies {
		if _, err := policy.ParseOID(o); err != nil {
			return planErr("tsa.policies[%d]: %v", i, err)
		}
	}
	return nil
}
