package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/audit/checkpoint"
	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/policy"
	"github.com/muhr-pki/muhr/store"
)

// party is a key the ceremony generated and, once signed, its certificate.
type party struct {
	label  string
	alg    hsm.KeyAlgorithm
	signer crypto.Signer
	cert   *x509.Certificate
	der    []byte
}

// result collects what is written to the store in the ceremony's final
// transaction.
type result struct {
	cas     []store.CA
	certs   []store.Certificate
	signers []store.Signer
	crls    []store.CRL
	made    []Made
	audits  []audit.Entry
}

// Run performs the plan: it refuses before touching anything if a CA id or
// key label already exists, generates every key on the token, builds and
// lints every certificate before the HSM signs it, and stores the whole
// hierarchy with one audit record per step in a single transaction.
func (c *Ceremony) Run(ctx context.Context, p *Plan) ([]Made, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := c.preflight(ctx, p); err != nil {
		return nil, err
	}
	if err := c.audit(ctx, audit.Entry{Actor: p.Actor, Action: "ceremony.begin", Object: "ceremony/" + p.Root.ID,
		Details: map[string]any{"cas": p.caIDs(), "key_labels": labelsOf(p.keyPlans())}}); err != nil {
		return nil, err
	}
	var generated []string
	made, err := c.perform(ctx, p, &generated)
	if err != nil {
		// Keys already on the token are named so the security officer can
		// destroy them before running the ceremony again.
		if aerr := c.audit(context.WithoutCancel(ctx), audit.Entry{Actor: p.Actor, Action: "ceremony.failed",
			Object: "ceremony/" + p.Root.ID, Details: map[string]any{"error": err.Error(), "keys_generated": generated}}); aerr != nil {
			c.log().Error("audit of failed ceremony", "err", aerr)
		}
		if len(generated) > 0 {
			return nil, fmt.Errorf("%w (keys left on the token: %v)", err, generated)
		}
		return nil, err
	}
	return made, nil
}

func labelsOf(ks []KeyPlan) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Label
	}
	return out
}

func (c *Ceremony) audit(ctx context.Context, e audit.Entry) error {
	return inCeremonyTx(ctx, c.Store, func(ctx context.Context, tx CeremonyTx) error {
		_, err := audit.Append(ctx, tx, c.now(), e)
		return err
	})
}

func (c *Ceremony) generate(ctx context.Context, k KeyPlan, actor string, generated *[]string, res *result) (*party, error) {
	alg, err := hsm.ParseKeyAlgorithm(k.Algorithm)
	if err != nil {
		return nil, err
	}
	s, err := c.Keys.Generate(ctx, k.Label, alg)
	if err != nil {
		return nil, fmt.Errorf("ceremony: generate key %s: %w", k.Label, err)
	}
	*generated = append(*generated, k.Label)
	res.audits = append(res.audits, audit.Entry{Actor: actor, Action: "key.generate", Object: "key/" + k.Label,
		Details: map[string]any{"algorithm": string(alg), "sensitive": true, "extractable": false}})
	c.log().Info("key generated", "label", k.Label, "algorithm", alg)
	return &party{label: k.Label, alg: alg, signer: s}, nil
}

func (c *Ceremony) perform(ctx context.Context, p *Plan, generated *[]string) ([]Made, error) {
	now := c.now().Truncate(time.Second)
	res := &result{}
	b, err := c.builder(p, now)
	if err != nil {
		return nil, err
	}

	// Root and its first CRL.
	root, err := c.generate(ctx, p.Root.Key, p.Actor, generated, res)
	if err != nil {
		return nil, err
	}
	if err := c.selfSigned(ctx, b, p.Actor, p.Root, store.CAKindRoot, root, res); err != nil {
		return nil, err
	}

	issuers := map[string]*party{}
	for _, is := range p.Issuing {
		ip, err := c.generate(ctx, is.Key, p.Actor, generated, res)
		if err != nil {
			return nil, err
		}
		if err := c.subordinate(ctx, b, p.Actor, is, root, p.Root.ID, ip, res); err != nil {
			return nil, err
		}
		issuers[is.ID] = ip
		op, err := c.generate(ctx, is.OCSPSigner.Key, p.Actor, generated, res)
		if err != nil {
			return nil, err
		}
		tmpl, err := b.ocspSigner(is, op.signer.Public(), ip.cert)
		if err != nil {
			return nil, err
		}
		if err := c.issueSigner(ctx, b, p.Actor, tmpl, store.SignerRoleOCSP, is.ID, ip, op, res); err != nil {
			return nil, err
		}
	}

	for _, sv := range p.Services {
		sp, err := c.generate(ctx, sv.Key, p.Actor, generated, res)
		if err != nil {
			return nil, err
		}
		if err := c.services(b, p.Actor, sv, root, p.Root.ID, sp, res); err != nil {
			return nil, err
		}
		op, err := c.generate(ctx, sv.OCSPSigner.Key, p.Actor, generated, res)
		if err != nil {
			return nil, err
		}
		tmpl, err := b.ocspSigner(sv.IssuingPlan, op.signer.Public(), sp.cert)
		if err != nil {
			return nil, err
		}
		if err := c.issueSigner(ctx, b, p.Actor, tmpl, store.SignerRoleOCSP, sv.ID, sp, op, res); err != nil {
			return nil, err
		}
	}

	mg, err := c.generate(ctx, p.Management.Key, p.Actor, generated, res)
	if err != nil {
		return nil, err
	}
	if err := c.selfSigned(ctx, b, p.Actor, p.Management, store.CAKindManagement, mg, res); err != nil {
		return nil, err
	}

	tp, err := c.generate(ctx, p.TSA.Key, p.Actor, generated, res)
	if err != nil {
		return nil, err
	}
	tmpl, err := b.tsaUnit(p.TSA, tp.signer.Public(), issuers[p.TSA.Issuer].cert)
	if err != nil {
		return nil, err
	}
	if err := c.issueSigner(ctx, b, p.Actor, tmpl, store.SignerRoleTSA, p.TSA.Issuer, issuers[p.TSA.Issuer], tp, res); err != nil {
		return nil, err
	}

	if p.AuditCheckpoint != nil {
		kp, err := c.generate(ctx, p.AuditCheckpoint.Key, p.Actor, generated, res)
		if err != nil {
			return nil, err
		}
		id, spki, err := checkpoint.KeyID(kp.signer.Public())
		if err != nil {
			return nil, err
		}
		res.audits = append(res.audits, checkpoint.KeyEntry(p.Actor, kp.label, id, spki))
	}

	res.audits = append(res.audits, audit.Entry{Actor: p.Actor, Action: "ceremony.complete", Object: "ceremony/" + p.Root.ID,
		Details: map[string]any{"made": len(res.made)}})
	if err := inCeremonyTx(ctx, c.Store, func(ctx context.Context, tx CeremonyTx) error { return c.persist(ctx, tx, now, res) }); err != nil {
		return nil, fmt.Errorf("ceremony: store the hierarchy: %w", err)
	}
	return res.made, nil
}

func (c *Ceremony) persist(ctx context.Context, tx CeremonyTx, now time.Time, res *result) error {
	for _, ca := range res.cas {
		if err := tx.InsertCA(ctx, ca); err != nil {
			return fmt.Errorf("CA %s: %w", ca.ID, err)
		}
	}
	for _, cert := range res.certs {
		if err := tx.ReserveSerial(ctx, store.SerialReservation{IssuerID: cert.IssuerID, Serial: cert.Serial,
			Purpose: cert.Profile, ReservedAt: now}); err != nil {
			return fmt.Errorf("serial %x: %w", cert.Serial, err)
		}
		if err := tx.InsertCertificate(ctx, cert); err != nil {
			return fmt.Errorf("certificate %x: %w", cert.Serial, err)
		}
	}
	for _, s := range res.signers {
		if err := tx.InsertSigner(ctx, s); err != nil {
			return fmt.Errorf("signer %s: %w", s.KeyLabel, err)
		}
	}
	for _, crl := range res.crls {
		if err := tx.InsertCRL(ctx, crl); err != nil {
			return fmt.Errorf("CRL of %s: %w", crl.IssuerID, err)
		}
	}
	for _, e := range res.audits {
		if _, err := audit.Append(ctx, tx, c.now(), e); err != nil {
			return err
		}
	}
	return nil
}

// sign lints the template (signed by a throwaway key) and only then has the
// HSM sign it; the result is checked against the issuer's public key so a
// faulty token cannot slip a bad signature into the hierarchy.
func (c *Ceremony) sign(b *builder, kind string, tmpl, parent *x509.Certificate, pub crypto.PublicKey, issuer crypto.Signer) ([]byte, *x509.Certificate, error) {
	if err := b.lint(kind, tmpl, parent, pub); err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(c.rand(), tmpl, parent, pub, issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("ceremony: sign %s certificate: %w", kind, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("ceremony: parse signed %s certificate: %w", kind, err)
	}
	signerCert := parent
	if parent == tmpl {
		signerCert = cert
	}
	if err := cert.CheckSignatureFrom(signerCert); err != nil {
		return nil, nil, fmt.Errorf("ceremony: HSM signature on %s certificate does not verify: %w", kind, err)
	}
	return der, cert, nil
}

func (c *Ceremony) record(res *result, role, id, profile, issuerID string, pt *party, actor string) {
	res.certs = append(res.certs, store.Certificate{IssuerID: issuerID, Serial: new(big.Int).Set(pt.cert.SerialNumber),
		Subject: policy.SubjectString(pt.cert.RawSubject), Profile: profile, NotBefore: pt.cert.NotBefore, NotAfter: pt.cert.NotAfter,
		DER: pt.der, Status: store.CertStatusValid})
	m := Made{Role: role, ID: id, Subject: policy.SubjectString(pt.cert.RawSubject), KeyLabel: pt.label, Fingerprint: Fingerprint(pt.der),
		Cert: pt.cert, DER: pt.der}
	res.made = append(res.made, m)
	res.audits = append(res.audits, audit.Entry{Actor: actor, Action: "cert.issue", Object: fmt.Sprintf("cert/%s/%x", issuerID, pt.cert.SerialNumber),
		Details: map[string]any{"role": role, "profile": profile, "subject": m.Subject, "key_label": pt.label, "sha256": m.Fingerprint,
			"not_after": pt.cert.NotAfter.UTC().Format(time.RFC3339)}})
}

func (c *Ceremony) selfSigned(ctx context.Context, b *builder, actor string, plan CAPlan, kind string, pt *party, res *result) error {
	tmpl, err := b.selfSignedCA(plan, kind, pt.signer.Public())
	if err != nil {
		return err
	}
	if pt.der, pt.cert, err = c.sign(b, kind, tmpl, tmpl, pt.signer.Public(), pt.signer); err != nil {
		return err
	}
	c.addCA(res, plan.ID, kind, "", pt, actor)
	c.record(res, kind, plan.ID, kind+"-ca", plan.ID, pt, actor)
	return c.firstCRL(b, actor, plan, pt, res)
}

func (c *Ceremony) subordinate(ctx context.Context, b *builder, actor string, plan IssuingPlan, parent *party, parentID string, pt *party, res *result) error {
	tmpl, err := b.issuingCA(plan, pt.signer.Public(), parent.cert, parentID)
	if err != nil {
		return err
	}
	if pt.der, pt.cert, err = c.sign(b, store.CAKindIssuing, tmpl, parent.cert, pt.signer.Public(), parent.signer); err != nil {
		return err
	}
	c.addCA(res, plan.ID, store.CAKindIssuing, parentID, pt, actor)
	c.record(res, store.CAKindIssuing, plan.ID, "issuing-ca", parentID, pt, actor)
	return c.firstCRL(b, actor, plan.CAPlan, pt, res)
}

// services makes a services CA under the root. Its store row says
// "issuing" (the schema's kinds predate it: root, issuing, management);
// policy.IssuerKind tells it apart by its certificate, whose name
// constraints are what actually limits it.
func (c *Ceremony) services(b *builder, actor string, plan ServicesPlan, parent *party, parentID string, pt *party, res *result) error {
	tmpl, err := b.servicesCA(plan, pt.signer.Public(), parent.cert, parentID)
	if err != nil {
		return err
	}
	if pt.der, pt.cert, err = c.sign(b, policy.CAKindServices, tmpl, parent.cert, pt.signer.Public(), parent.signer); err != nil {
		return err
	}
	if k := policy.IssuerKind(store.CAKindIssuing, pt.cert); k != policy.CAKindServices {
		return fmt.Errorf("ceremony: services CA %s certificate reads as a %s CA", plan.ID, k)
	}
	c.addCAKind(res, plan.ID, store.CAKindIssuing, policy.CAKindServices, parentID, pt, actor)
	c.record(res, policy.CAKindServices, plan.ID, "services-ca", parentID, pt, actor)
	return c.firstCRL(b, actor, plan.CAPlan, pt, res)
}

func (c *Ceremony) addCA(res *result, id, kind, parentID string, pt *party, actor string) {
	c.addCAKind(res, id, kind, kind, parentID, pt, actor)
}

// addCAKind stores a CA row of kind stored, audited as kind.
func (c *Ceremony) addCAKind(res *result, id, stored, kind, parentID string, pt *party, actor string) {
	res.cas = append(res.cas, store.CA{ID: id, Kind: stored, ParentID: parentID, KeyLabel: pt.label, CertDER: pt.der,
		Status: store.CAStatusActive, CreatedAt: c.now()})
	res.audits = append(res.audits, audit.Entry{Actor: actor, Action: "ca.create", Object: "ca/" + id,
		Details: map[string]any{"kind": kind, "parent": parentID, "key_label": pt.label, "sha256": Fingerprint(pt.der)}})
}

func (c *Ceremony) issueSigner(ctx context.Context, b *builder, actor string, tmpl *x509.Certificate, role, caID string, issuer, pt *party, res *result) error {
	var err error
	if pt.der, pt.cert, err = c.sign(b, role, tmpl, issuer.cert, pt.signer.Public(), issuer.signer); err != nil {
		return err
	}
	c.record(res, role, caID, role, caID, pt, actor)
	res.signers = append(res.signers, store.Signer{Role: role, CAID: caID, KeyLabel: pt.label,
		Serial: new(big.Int).Set(pt.cert.SerialNumber), CertDER: pt.der, NotAfter: pt.cert.NotAfter})
	return nil
}

// firstCRL signs the CA's first, empty CRL so the CDP URLs written into
// certificates resolve from the start.
func (c *Ceremony) firstCRL(b *builder, actor string, plan CAPlan, pt *party, res *result) error {
	tmpl, err := b.crl(plan, big.NewInt(1))
	if err != nil {
		return err
	}
	if err := b.lintCRL(tmpl, pt.cert); err != nil {
		return err
	}
	der, err := x509.CreateRevocationList(c.rand(), tmpl, pt.cert, pt.signer)
	if err != nil {
		return fmt.Errorf("ceremony: sign first CRL of %s: %w", plan.ID, err)
	}
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		return fmt.Errorf("ceremony: parse CRL of %s: %w", plan.ID, err)
	}
	if err := rl.CheckSignatureFrom(pt.cert); err != nil {
		return fmt.Errorf("ceremony: HSM signature on CRL of %s does not verify: %w", plan.ID, err)
	}
	res.crls = append(res.crls, store.CRL{IssuerID: plan.ID, Number: big.NewInt(1), ThisUpdate: rl.ThisUpdate, NextUpdate: rl.NextUpdate, DER: der})
	res.made = append(res.made, Made{Role: "crl", ID: plan.ID, Subject: policy.SubjectString(pt.cert.RawSubject), KeyLabel: pt.label, Fingerprint: Fingerprint(der), DER: der})
	d, _ := json.Marshal(map[string]any{"number": 1, "next_update": rl.NextUpdate.UTC().Format(time.RFC3339), "sha256": Fingerprint(der)})
	res.audits = append(res.audits, audit.Entry{Actor: actor, Action: "crl.issue", Object: "crl/" + plan.ID + "/1", Details: json.RawMessage(d)})
	return nil
}
