package policy

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"
)

// SignerParams is what the ceremony decides for a signer certificate (OCSP
// responder or TSA unit) under an issuing CA.
type SignerParams struct {
	Subject      OrgName
	Serial       *big.Int // from NewSerial
	PublicKey    crypto.PublicKey
	NotBefore    time.Time
	NotAfter     time.Time         // zero: the kind's default, cut at the issuer's notAfter
	Issuer       *x509.Certificate // the parsed issuing CA certificate
	IssuerLinks  Links             // the issuing CA's URLs (CALinks)
	CenterPolicy x509.OID          // the center's own certificate policy
}

// TSAParams adds the time-stamp policies the TSA unit accepts.
type TSAParams struct {
	SignerParams
	// TSAPolicies are the policies tokens may carry (EN 319 421/422); empty
	// means the ETSI best-practices policy 0.4.0.2023.1.1 alone.
	TSAPolicies []x509.OID
}

// asn1NULL is the DER of NULL, the value id-pkix-ocsp-nocheck carries.
var asn1NULL = []byte{0x05, 0x00}

// OCSPSigner returns the template of a delegated OCSP responder certificate
// (RFC 6960 §4.2.2.2): EKU OCSPSigning only, id-pkix-ocsp-nocheck,
// keyUsage digitalSignature (critical), SKI/AKI, AIA caIssuers (helps
// clients build the path from the responder's certificate), and no
// certificatePolicies: CA/B BR 7.1.2.8.2 forbids them in a responder
// certificate (zlint e_ocsp_cert_cp_forbidden), a policy says what a
// subscriber's certificate may be relied on for and a responder has no
// subscriber, and RFC 6960 authorises it by the EKU and the issuer alone. There is no AIA ocsp and no CDP:
// with nocheck nobody checks its status, so a URL would only invite
// requests. 90 days by default: nocheck means it cannot be revoked in
// practice, so its life is kept short and renewed from the HSM key.
func OCSPSigner(p SignerParams) (*x509.Certificate, error) {
	t, err := signer(p, ocspValidity, false, false, nil)
	if err != nil {
		return nil, fmt.Errorf("OCSP signer template: %w", err)
	}
	t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
	t.ExtraExtensions = append(t.ExtraExtensions, pkix.Extension{Id: oidOCSPNoCheck, Value: asn1NULL})
	return t, nil
}

// TSAUnit returns the template of a time-stamping unit certificate
// (RFC 3161 §2.3, EN 319 422): EKU timeStamping only and critical (written
// by hand, Go's EKU is never critical), keyUsage digitalSignature
// (critical; nonRepudiation is not needed by RFC 3161 and CA/B code-signing
// BR 7.1.2.3 wants digitalSignature alone), SKI/AKI, certificatePolicies =
// the accepted TSA policies, NCP+ and the center's policy, AIA caIssuers and
// ocsp, CDP = the issuing CA's CRL. 5 years by default: tokens stay
// verifiable for the certificate's life, the key is rotated sooner.
func TSAUnit(p TSAParams) (*x509.Certificate, error) {
	tsaPolicies := p.TSAPolicies
	if len(tsaPolicies) == 0 {
		tsaPolicies = []x509.OID{oidTSABestPrc}
	}
	t, err := signer(p.SignerParams, tsaValidity, true, true, tsaPolicies)
	if err != nil {
		return nil, fmt.Errorf("TSA unit template: %w", err)
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidKPTimeStamping})
	if err != nil {
		return nil, fmt.Errorf("TSA unit template: encoding EKU: %w", err)
	}
	t.ExtraExtensions = append(t.ExtraExtensions, pkix.Extension{Id: oidExtKeyUsage, Critical: true, Value: eku})
	t.OCSPServer = []string{p.IssuerLinks.OCSPURL}
	t.CRLDistributionPoints = []string{p.IssuerLinks.CRLURL}
	return t, nil
}

// signer builds what both signer certificates share. withRevocation says
// whether the certificate's status is published (AIA ocsp and CDP),
// withPolicies whether it carries certificatePolicies (extraPolicies, NCP+
// and the center's).
func signer(p SignerParams, def period, withRevocation, withPolicies bool, extraPolicies []x509.OID) (*x509.Certificate, error) {
	if err := p.IssuerLinks.check(withRevocation); err != nil {
		return nil, err
	}
	t, err := base(p.Subject, p.Serial, p.PublicKey, p.NotBefore, p.NotAfter, def, p.Issuer)
	if err != nil {
		return nil, err
	}
	if err := checkIssuer(p.Issuer, t); err != nil {
		return nil, err
	}
	// No basicConstraints: absent means not a CA (RFC 5280 §4.2.1.9), and
	// Go would mark a CA:FALSE extension critical for no benefit.
	t.KeyUsage = x509.KeyUsageDigitalSignature
	t.AuthorityKeyId = p.Issuer.SubjectKeyId
	t.IssuingCertificateURL = []string{p.IssuerLinks.CertURL}
	if !withPolicies {
		return t, nil
	}
	pol, err := policies(extraPolicies, []x509.OID{oidNCPPlus, p.CenterPolicy})
	if err != nil {
		return nil, err
	}
	if err := setPolicies(t, pol); err != nil {
		return nil, err
	}
	return t, nil
}
