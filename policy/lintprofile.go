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
	KindOCSPSigner   Kind = "ocsp-signer"
	KindTSAUnit      Kind = "tsa-unit"
	KindCRL          Kind = "crl"
)

// lintProfile is which zlint sources apply to a kind and which lints are
// excluded or whose warnings are accepted, each with the reason.
type lintProfile struct {
	sources lint.SourceList
	exclude []reasoned // lints not run at all
	accept  []reasoned // warnings accepted
	crl     bool
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
	withBR := append(baseSources(), lint.CABFBaselineRequirements)
	switch k {
	case KindRootCA, KindManagementCA:
		// CA/B BR 7.1.2.1 (root profile) is sound generic practice; zlint runs
		// BR lints on CA certificates without EKU. The management root issues
		// internal TLS certificates, so the BRs fit it best of all.
		return lintProfile{sources: withBR}, nil
	case KindIssuingCA:
		return lintProfile{sources: withBR, exclude: []reasoned{{
			"e_invalid_ca_certificate_policies",
			"wants a CA/B reserved TLS policy OID (2.23.140.1.2.*); the issuing CA asserts ETSI qualified policies and is not part of the web PKI",
		}}}, nil
	case KindOCSPSigner:
		// The CA/B OCSP-responder lints (nocheck present, keyUsage, no CDP)
		// run whatever the EKU and are exactly the checks a responder needs.
		return lintProfile{sources: withBR, exclude: []reasoned{{
			"e_ocsp_cert_cp_forbidden",
			"CA/B BR 7.1.2.8 forbids certificatePolicies in a web-PKI responder; ETSI EN 319 411-2 wants NCP+ in ours",
		}}}, nil
	case KindTSAUnit:
		// The BR lints never apply to a certificate with only timeStamping
		// EKU; the code-signing BR timestamp lints only run under the CA/B
		// code-signing policy OIDs, which this TSA does not assert.
		return lintProfile{sources: baseSources()}, nil
	case KindCRL:
		return lintProfile{sources: withBR, crl: true, exclude: []reasoned{{
			"e_cab_crl_has_valid_reason_code",
			"CA/B BR 7.2.2 allows five TLS reasons only; our CP uses certificateHold for suspension and cACompromise on the root's CRL (RFC 5280 reasons are still checked by e_crl_has_valid_reason_code)",
		}}}, nil
	}
	return lintProfile{}, fmt.Errorf("lint: unknown certificate kind %q", k)
}
