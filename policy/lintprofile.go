package policy

import (
	"fmt"

	"github.com/zmap/zlint/v3/lint"
)

// Kind names what a certificate is for, which decides how it is linted.
type Kind string

// The kinds the key ceremony produces, and CRLs.
const (
	KindRootCA       Kind = "root-ca"
	KindManagementCA Kind = "management-ca"
	KindIssuingCA    Kind = "issuing-ca"
	KindServicesCA   Kind = "services-ca"
	KindOCSPSigner   Kind = "ocsp-signer"
	KindTSAUnit      Kind = "tsa-unit"
	KindCRL          Kind = "crl"
)

// The kinds of the end-entity profiles (see Profiles); each equals its
// profile's name.
const (
	KindQESPerson Kind = "qes-person"
	KindQSealOrg  Kind = "qseal-org"
	KindTLSServer Kind = "tls-server"
	KindOfficer   Kind = "officer"
	// KindInternalTLS is a server certificate of the management root for
	// the center's own closed-network listeners (the officer API).
	KindInternalTLS Kind = "internal-tls"
)

// lintProfile is which zlint sources apply to a kind and which lints are
// excluded or whose warnings are accepted, each with the reason.
type lintProfile struct {
	sources lint.SourceList
	exclude []reasoned // lints not run at all
	accept  []reasoned // warnings accepted
	crl     bool
	// endEntity runs our own lints (ownlint.go) after zlint.
	endEntity bool
}

type reasoned struct{ lint, why string }

func (p lintProfile) excludedNames() []string {
	var out []string
	for _, r := range p.exclude {
		out = append(out, r.lint)
	}
	return out
}

func (p lintProfile) accepted(name string) string {
	for _, r := range p.accept {
		if r.lint == name {
			return r.why
		}
	}
	return ""
}

// baseSources are the lints of what the RFCs themselves require (RFC 5280
// and the algorithm and encoding RFCs); they hold for every certificate.
// Community lints are generic DER/extension hygiene. ETSI_ESI lints check
// EN 319 412 QCStatements; they are not applicable to certificates without
// them, but run so a stray QCStatement in a ceremony certificate is caught.
func baseSources() lint.SourceList {
	return lint.SourceList{
		lint.RFC3279, lint.RFC5280, lint.RFC5480, lint.RFC5891, lint.RFC6960, lint.RFC6962, lint.RFC8813,
		lint.Community, lint.EtsiEsi,
	}
}

// profileFor says how each kind is linted. Not applied anywhere: the
// browser root programs (Mozilla, Apple, Chrome) and CA/B EV, S/MIME and
// code-signing requirements: a national qualified PKI is not in those
// programs, and zlint only runs the S/MIME and code-signing lints for
// certificates carrying their EKU or policy OIDs anyway.
func profileFor(k Kind) (lintProfile, error) {
	p, err := kindProfile(k)
	if err != nil || p.crl {
		return p, err
	}
	p.exclude = append(p.exclude, reasoned{
		"e_cert_issued_by_compromised_emudhra_ca",
		"tries the signature against eight compromised eMudhra intermediate keys: ours are signed by our own HSM keys, at pre-issuance by a throwaway key (so the result would say nothing), and the eight ECDSA P-384 verifications were ~80% of zlint's time per certificate",
	})
	return p, nil
}

func kindProfile(k Kind) (lintProfile, error) {
	withBR := append(baseSources(), lint.CABFBaselineRequirements)
	switch k {
	case KindRootCA, KindManagementCA:
		// CA/B BR 7.1.2.1 (root profile) is sound generic practice; zlint runs
		// BR lints on CA certificates without EKU. The management root issues
		// internal TLS certificates, so the BRs fit it best of all.
		return lintProfile{sources: withBR}, nil
	case KindIssuingCA:
		// Its EKU leaves out serverAuth (QualifiedCAUsages), so the CA/B TLS
		// lints do not apply; the rest of CABF_BR still runs.
		return lintProfile{sources: withBR}, nil
	case KindServicesCA:
		// A technically constrained TLS CA: every CA/B lint applies.
		return lintProfile{sources: withBR}, nil
	case KindOCSPSigner:
		// The CA/B OCSP-responder lints (nocheck present, keyUsage, no CDP)
		// run whatever the EKU and are exactly the checks a responder needs.
		// e_ocsp_cert_cp_forbidden runs too: the responder carries no
		// certificatePolicies (see OCSPSigner).
		return lintProfile{sources: withBR, endEntity: true}, nil
	case KindTSAUnit:
		// The BR lints never apply to a certificate with only timeStamping
		// EKU; the code-signing BR timestamp lints only run under the CA/B
		// code-signing policy OIDs, which this TSA does not assert.
		return lintProfile{sources: baseSources(), endEntity: true}, nil
	case KindQESPerson, KindQSealOrg:
		// No CABF_BR: zlint counts a certificate without EKU as a TLS
		// server certificate (util.IsServerAuthCert), and qualified
		// signature and seal certificates carry no EKU. The CA/B S/MIME
		// lints apply only under S/MIME policy OIDs, which these do not
		// assert. ETSI_ESI is what these certificates are about.
		return lintProfile{sources: baseSources(), endEntity: true}, nil
	case KindOfficer:
		// clientAuth only: no BR lint applies (IsServerAuthCert is false).
		return lintProfile{sources: baseSources(), endEntity: true}, nil
	case KindInternalTLS:
		// Not a publicly trusted TLS certificate: officers trust only the
		// management root, and it names loopback or internal addresses,
		// which the CA/B BRs forbid for public CAs. The RFC lints still run.
		return lintProfile{sources: baseSources()}, nil
	case KindTLSServer:
		return lintProfile{sources: withBR, endEntity: true,
			exclude: []reasoned{{
				"w_ext_subject_key_identifier_not_recommended_subscriber",
				"CA/B BR 7.1.2.7.6 advises against the SKI, RFC 5280 §4.2.1.2 and STANDARDS.md want it in every certificate (w_ext_subject_key_identifier_missing_sub_cert); zlint documents that one of the two must be ignored",
			}},
			accept: []reasoned{{
				"w_sub_cert_aia_contains_internal_names",
				"the AIA URLs come from the center's own public_url, not from the subscriber; a development or closed-network deployment serves them from a loopback or internal host",
			}}}, nil
	case KindCRL:
		return lintProfile{sources: withBR, crl: true, exclude: []reasoned{{
			"e_cab_crl_has_valid_reason_code",
			"CA/B BR 7.2.2 allows five TLS reasons only; our CP uses certificateHold for suspension and cACompromise on the root's CRL (RFC 5280 reasons are still checked by e_crl_has_valid_reason_code)",
		}}}, nil
	}
	return lintProfile{}, fmt.Errorf("lint: unknown certificate kind %q", k)
}
