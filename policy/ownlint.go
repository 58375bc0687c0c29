package policy

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"slices"
)

// ownLintSource is the Finding.Source of our lints.
const ownLintSource = "Muhr"

// ownLints are the checks zlint does not make but our profiles promise
// (STANDARDS.md): they re-read the to-be-signed certificate, so a bug in a
// profile, or a template edited after Build, is caught before the HSM
// signs. Every finding is an error; none can be accepted.
func ownLints(kind Kind, c *x509.Certificate) []Finding {
	var out []Finding
	fail := func(name, details string) {
		out = append(out, Finding{Lint: name, Source: ownLintSource, Status: "error", Details: details})
	}

	for _, err := range checkSubjectDER(c.RawSubject) {
		fail("e_muhr_subject_name_rules", err.Error())
	}
	// Only a TLS server certificate is named by its SANs alone.
	if kind != KindTLSServer && len(c.Subject.Names) == 0 {
		fail("e_muhr_subject_empty", "the subject is empty")
	}
	if kind == KindTLSServer && (len(c.DNSNames) == 0 || len(c.IPAddresses)+len(c.EmailAddresses)+len(c.URIs) != 0) {
		fail("e_muhr_tls_san", "a TLS server certificate names validated DNS names only")
	}
	if c.IsCA || c.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0 {
		fail("e_muhr_end_entity_is_ca", "an end-entity certificate must not be a CA or sign certificates or CRLs")
	}
	// The OCSP responder is the one end entity without policies (CA/B BR
	// 7.1.2.8.2; zlint's e_ocsp_cert_cp_forbidden checks it).
	if kind != KindOCSPSigner && len(c.Policies) == 0 {
		fail("e_muhr_policy_missing", "no certificatePolicies")
	}
	if len(c.AuthorityKeyId) == 0 || len(c.SubjectKeyId) == 0 {
		fail("e_muhr_key_identifiers_missing", "authority and subject key identifiers are required")
	}
	if len(c.IssuingCertificateURL) == 0 {
		fail("e_muhr_aia_ca_issuers_missing", "AIA caIssuers is required")
	}
	// The OCSP signer is the one end entity without status information:
	// id-pkix-ocsp-nocheck says nobody checks it.
	if kind != KindOCSPSigner && (len(c.OCSPServer) == 0 || len(c.CRLDistributionPoints) == 0) {
		fail("e_muhr_status_links_missing", "AIA ocsp and a CRL distribution point are required")
	}

	qualified := kind == KindQESPerson || kind == KindQSealOrg
	qcExt := findExtension(c, oidExtQCStatements)
	switch {
	case !qualified && qcExt != nil:
		fail("e_muhr_qcstatements_not_qualified", "qcStatements in a "+string(kind)+" certificate")
	case qualified:
		if c.KeyUsage != x509.KeyUsageContentCommitment {
			fail("e_muhr_key_usage_not_non_repudiation_only", "keyUsage must be nonRepudiation alone (EN 319 412-2 type A)")
		}
		if len(c.ExtKeyUsage) != 0 || len(c.UnknownExtKeyUsage) != 0 {
			fail("e_muhr_qualified_has_eku", "qualified signature and seal certificates carry no extendedKeyUsage")
		}
		for _, err := range checkQualified(kind, c, qcExt) {
			fail("e_muhr_qcstatements", err.Error())
		}
	}
	return out
}

// checkQualified ties the QCStatements to the kind, the policy and the
// subject: type and semantics of the kind, QcCompliance, TJ legislation,
// a valid PDS list with en, and QcSSCD exactly when the policy is -qscd.
func checkQualified(kind Kind, c *x509.Certificate, ext *extension) []error {
	if ext == nil {
		return []error{errors.New("qcStatements extension missing")}
	}
	if ext.critical {
		return []error{errors.New("qcStatements must not be critical (RFC 3739)")}
	}
	q, err := ParseQCStatements(ext.value)
	if err != nil {
		return []error{err}
	}
	var errs []error
	add := func(s string) { errs = append(errs, errors.New(s)) }
	wantType, wantSem, policy, policyQSCD := QCTypeESign, SemanticsNatural, oidQCPn, oidQCPnQSCD
	if kind == KindQSealOrg {
		wantType, wantSem, policy, policyQSCD = QCTypeESeal, SemanticsLegal, oidQCPl, oidQCPlQSCD
	}
	if !q.Compliance {
		add("QcCompliance missing")
	}
	if q.Type != wantType {
		add("QcType " + string(q.Type) + ", want " + string(wantType))
	}
	if q.Semantics != wantSem {
		add("semantics " + string(q.Semantics) + ", want " + string(wantSem))
	}
	if !slices.Equal(q.Legislation, qualifiedLegislation) {
		add("QcCClegislation must be TJ")
	}
	if err := CheckPDS(q.PDS); err != nil {
		errs = append(errs, err)
	}
	hasPlain, hasQSCD := hasPolicyOID(c, policy), hasPolicyOID(c, policyQSCD)
	switch {
	case hasPlain == hasQSCD:
		add("exactly one of " + policy.String() + " and " + policyQSCD.String() + " is required")
	case hasQSCD != q.SSCD:
		add("QcSSCD must be present exactly when the policy is " + policyQSCD.String())
	}
	switch {
	case wantSem == SemanticsNatural && !subjectHas(c.RawSubject, oidSerialNumber, personalNumberPrefix):
		add("semantics natural needs a PNO serialNumber in the subject")
	case wantSem == SemanticsLegal && !subjectHas(c.RawSubject, oidOrganizationIdentifier, tradeRegisterPrefix):
		add("semantics legal needs an NTR organizationIdentifier in the subject")
	}
	return errs
}

type extension struct {
	critical bool
	value    []byte
}

func findExtension(c *x509.Certificate, id asn1.ObjectIdentifier) *extension {
	for _, e := range c.Extensions {
		if e.Id.Equal(id) {
			return &extension{critical: e.Critical, value: e.Value}
		}
	}
	return nil
}

func hasPolicyOID(c *x509.Certificate, o x509.OID) bool {
	return slices.ContainsFunc(c.Policies, func(p x509.OID) bool { return p.Equal(o) })
}
