package policy

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
)

// Default validity of qualified certificates (STANDARDS.md, issue 4).
var qualifiedValidity = period{years: 2}

// qualifiedLegislation is the QcCClegislation of every qualified
// certificate: a QC issued under a non-EU law says whose (EN 319 412-5 §4.2.4).
var qualifiedLegislation = []string{"TJ"}

// buildQESPerson is qes-person v1, the qualified signature certificate of a
// natural person (EN 319 412-2): subject C, surname, givenName,
// serialNumber PNOTJ-…, CN; keyUsage nonRepudiation alone (type A; zlint
// warns on mixed settings); QCP-n(-qscd) and the center's policy;
// QCStatements semantics natural, QcCompliance, QcCClegislation TJ, QcSSCD
// (qscd only), QcType esign, QcPDS. No EKU: ETSI defines none for
// signatures, and emailProtection would make it an S/MIME certificate
// without an email address.
func buildQESPerson(id Identity, pub crypto.PublicKey, issuer *x509.Certificate, cfg ProfileConfig) (*x509.Certificate, error) {
	if err := needKind(id, IdentityPerson); err != nil {
		return nil, err
	}
	if err := id.Person.Validate(cfg.Rules); err != nil {
		return nil, err
	}
	pol := oidQCPn
	if cfg.QSCD {
		pol = oidQCPnQSCD
	}
	return qualified(id.Person.Attributes(), pub, issuer, cfg, pol, QCTypeESign, SemanticsNatural)
}

// buildQSealOrg is qseal-org v1, the qualified electronic seal of a legal
// person (EN 319 412-3): subject C, O, organizationIdentifier NTRTJ-…, CN;
// keyUsage nonRepudiation alone (EN 319 412-3 §4.3.2 points to the
// natural-person key usages of EN 319 412-2 §4.3.2, where type A is the
// content-commitment-only setting a seal on documents needs); QCP-l(-qscd);
// QcType eseal, semantics legal.
func buildQSealOrg(id Identity, pub crypto.PublicKey, issuer *x509.Certificate, cfg ProfileConfig) (*x509.Certificate, error) {
	if err := needKind(id, IdentityOrganization); err != nil {
		return nil, err
	}
	if err := id.Organization.Validate(cfg.Rules); err != nil {
		return nil, err
	}
	pol := oidQCPl
	if cfg.QSCD {
		pol = oidQCPlQSCD
	}
	return qualified(id.Organization.OrgName().Attributes(), pub, issuer, cfg, pol, QCTypeESeal, SemanticsLegal)
}

func qualified(attrs []Attribute, pub crypto.PublicKey, issuer *x509.Certificate, cfg ProfileConfig,
	pol x509.OID, typ QCType, sem Semantics) (*x509.Certificate, error) {
	if err := CheckPDS(cfg.PDS); err != nil {
		return nil, err
	}
	qc, err := MarshalQCStatements(QCStatements{
		Compliance:     true,
		Type:           typ,
		SSCD:           cfg.QSCD,
		PDS:            cfg.PDS,
		Legislation:    qualifiedLegislation,
		RetentionYears: cfg.RetentionYears,
		Semantics:      sem,
	})
	if err != nil {
		return nil, err
	}
	t, err := endEntity(attrs, pub, issuer, cfg, qualifiedValidity, true, []x509.OID{pol})
	if err != nil {
		return nil, err
	}
	t.KeyUsage = x509.KeyUsageContentCommitment
	// RFC 3739 §3.2.6: the extension is non-critical.
	t.ExtraExtensions = append(t.ExtraExtensions, pkix.Extension{Id: oidExtQCStatements, Value: qc})
	return t, nil
}
