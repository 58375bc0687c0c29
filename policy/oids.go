package policy

import (
	"crypto/x509"
	"encoding/asn1"

	"github.com/muhr-pki/muhr/policy/ids"
)

// Attribute types of the subject names we write (X.520, EN 319 412-1).
var (
	oidCountry                = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidOrganization           = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOrganizationalUnit     = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidCommonName             = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidSerialNumber           = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}
	oidSurname                = asn1.ObjectIdentifier{2, 5, 4, 4}
	oidGivenName              = asn1.ObjectIdentifier{2, 5, 4, 42}
)

// Extensions Go's crypto/x509 cannot write the way we need them.
var (
	// oidExtKeyUsage is written by hand for the TSA unit because Go marks EKU
	// non-critical and RFC 3161 §2.3 requires it critical.
	oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}
	// oidOCSPNoCheck (id-pkix-ocsp-nocheck, RFC 6960 §4.2.2.2.1) tells
	// relying parties not to check the responder certificate's status.
	oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}
	// oidKPTimeStamping is id-kp-timeStamping (RFC 5280 §4.2.1.12).
	oidKPTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	// oidKPDocumentSigning is id-kp-documentSigning (RFC 9336).
	oidKPDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}
)

// Certificate policy OIDs (ETSI EN 319 411-1/-2, EN 319 421). They are
// exported through functions, not as variables, so no caller can reassign
// them.
var (
	oidQCPn       = mustOID("0.4.0.194112.1.0")
	oidQCPl       = mustOID("0.4.0.194112.1.1")
	oidQCPnQSCD   = mustOID("0.4.0.194112.1.2")
	oidQCPlQSCD   = mustOID("0.4.0.194112.1.3")
	oidNCPPlus    = mustOID("0.4.0.2042.1.2")
	oidTSABestPrc = mustOID(ids.TSABestPractices)
	// oidAnyPolicy (RFC 5280 §4.2.1.4), of the services CA only.
	oidAnyPolicy = mustOID("2.5.29.32.0")
)

// QCStatements (RFC 3739, ETSI EN 319 412-5) and the ETSI semantics
// identifiers of EN 319 412-1 §5.1.
var (
	oidExtQCStatements   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 3}
	oidQcsPkixQCSyntaxV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 11, 2}
	oidQcCompliance      = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 1}
	oidQcRetentionPeriod = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 3}
	oidQcSSCD            = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 4}
	oidQcPDS             = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 5}
	oidQcType            = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 6}
	oidQcTypeESign       = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 6, 1}
	oidQcTypeESeal       = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 6, 2}
	oidQcTypeWeb         = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 6, 3}
	oidQcCClegislation   = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 7}
	oidSemanticsNatural  = asn1.ObjectIdentifier{0, 4, 0, 194121, 1, 1}
	oidSemanticsLegal    = asn1.ObjectIdentifier{0, 4, 0, 194121, 1, 2}
)

// QCPPolicies returns the four ETSI EN 319 411-2 qualified policies
// (QCP-n, QCP-l, QCP-n-qscd, QCP-l-qscd) an issuing CA is allowed to issue under.
func QCPPolicies() []x509.OID { return []x509.OID{oidQCPn, oidQCPl, oidQCPnQSCD, oidQCPlQSCD} }

// NCPPlusPolicy returns NCP+ (0.4.0.2042.1.2), the policy of OCSP and TSA
// signer certificates under a qualified CA.
func NCPPlusPolicy() x509.OID { return oidNCPPlus }

// TSABestPracticesPolicy returns the ETSI EN 319 421 best-practices
// time-stamp policy 0.4.0.2023.1.1, the default accepted TSA policy.
func TSABestPracticesPolicy() x509.OID { return oidTSABestPrc }

// ParseOID parses a dotted OID in its canonical spelling (ids.ParseOID),
// the one rule for OIDs in config files and ceremony plans.
func ParseOID(s string) (x509.OID, error) { return ids.ParseOID(s) }

func mustOID(s string) x509.OID {
	o, err := ids.ParseOID(s)
	if err != nil {
		panic("policy: bad built-in OID " + s + ": " + err.Error())
	}
	return o
}
