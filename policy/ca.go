package policy

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"math/big"
	"time"
)

// CAParams is what the ceremony decides for a CA certificate.
type CAParams struct {
	Subject   OrgName
	Serial    *big.Int // from NewSerial
	PublicKey crypto.PublicKey
	NotBefore time.Time
	NotAfter  time.Time // zero: the kind's default (see RootCA, IssuingCA, ManagementCA)
}

// IssuingCAParams adds what an issuing CA needs from its root.
type IssuingCAParams struct {
	CAParams
	Root         *x509.Certificate // the parsed root certificate
	RootLinks    Links             // where the root's certificate and CRL are published
	CenterPolicy x509.OID          // the center's own certificate policy (private arc)
	// ExtraPolicies are further policies of certificates this CA issues,
	// e.g. TSA policies configured beyond the ETSI default. A policy a leaf
	// asserts must also be in its CA's certificate, or RFC 5280 policy
	// processing drops it from the valid policy tree.
	ExtraPolicies []x509.OID
}

// RootCA returns the template of the self-signed national root: CA without
// a path length limit, keyCertSign|cRLSign, SKI and AKI (= SKI), no
// certificatePolicies (CA/B BR 7.1.2.1.2: not recommended in a root, and a
// root constrains nothing by them), 20 years by default.
func RootCA(p CAParams) (*x509.Certificate, error) {
	t, err := selfSignedCA(p, rootValidity)
	if err != nil {
		return nil, fmt.Errorf("root CA template: %w", err)
	}
	return t, nil
}

// ManagementCA returns the template of the management root, which issues
// officers' and internal TLS certificates and which the public never
// trusts. It has the root's shape, 10 years by default.
func ManagementCA(p CAParams) (*x509.Certificate, error) {
	t, err := selfSignedCA(p, managementValidity)
	if err != nil {
		return nil, fmt.Errorf("management CA template: %w", err)
	}
	return t, nil
}

func selfSignedCA(p CAParams, def period) (*x509.Certificate, error) {
	t, err := base(p.Subject, p.Serial, p.PublicKey, p.NotBefore, p.NotAfter, def, nil)
	if err != nil {
		return nil, err
	}
	t.BasicConstraintsValid = true
	t.IsCA = true
	t.MaxPathLen = -1 // no pathLenConstraint: the root may certify issuing CAs
	t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	// Go writes the template's AKI for a self-signed certificate; CA/B BR
	// 7.1.2.1.3 recommends it equal to the SKI, and it helps path builders.
	t.AuthorityKeyId = t.SubjectKeyId
	return t, nil
}

// IssuingCA returns the template of an issuing CA signed by the root:
// pathLen 0 (it issues end entities only), keyCertSign|cRLSign, SKI, AKI =
// the root's SKI, certificatePolicies QCP-n, QCP-l, QCP-n-qscd, QCP-l-qscd,
// NCP+ and the ETSI best-practices TSA policy (for the OCSP and TSA signers
// it certifies), the center's own policy and ExtraPolicies, AIA caIssuers = the root's certificate URL, CDP = the root's CRL;
// 10 years by default, never beyond the root.
func IssuingCA(p IssuingCAParams) (*x509.Certificate, error) {
	t, err := issuingCA(p)
	if err != nil {
		return nil, fmt.Errorf("issuing CA template: %w", err)
	}
	return t, nil
}

func issuingCA(p IssuingCAParams) (*x509.Certificate, error) {
	if err := p.RootLinks.check(false); err != nil {
		return nil, err
	}
	t, err := base(p.Subject, p.Serial, p.PublicKey, p.NotBefore, p.NotAfter, issuingValidity, p.Root)
	if err != nil {
		return nil, err
	}
	if err := checkIssuer(p.Root, t); err != nil {
		return nil, err
	}
	t.BasicConstraintsValid = true
	t.IsCA = true
	t.MaxPathLen = 0
	t.MaxPathLenZero = true
	t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	// CreateCertificate copies the parent's SKI here anyway; setting it keeps
	// the template honest when it is inspected before signing.
	t.AuthorityKeyId = p.Root.SubjectKeyId
	pol, err := policies(QCPPolicies(), []x509.OID{oidNCPPlus, oidTSABestPrc, p.CenterPolicy}, p.ExtraPolicies)
	if err != nil {
		return nil, err
	}
	if err := setPolicies(t, pol); err != nil {
		return nil, err
	}
	t.IssuingCertificateURL = []string{p.RootLinks.CertURL}
	t.CRLDistributionPoints = []string{p.RootLinks.CRLURL}
	return t, nil
}
