package policy

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
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

// IssuingCA returns the template of the qualified issuing CA signed by the
// root: pathLen 0 (it issues end entities only), keyCertSign|cRLSign, SKI,
// AKI = the root's SKI, certificatePolicies QCP-n, QCP-l, QCP-n-qscd,
// QCP-l-qscd, NCP+ and the ETSI best-practices TSA policy (for the OCSP and
// TSA signers it certifies), the center's own policy and ExtraPolicies,
// extendedKeyUsage QualifiedCAUsages (no serverAuth), AIA caIssuers = the
// root's certificate URL, CDP = the root's CRL; 10 years by default, never
// beyond the root.
//
// The EKU is what makes it a CA that cannot issue TLS server certificates,
// for relying parties that chain EKUs (Windows, NSS, Go) and for zlint: a
// CA certificate without EKU counts as serverAuth-capable
// (util.IsServerAuthCert), so the CA/B TLS lints applied to it and
// e_invalid_ca_certificate_policies wanted a CA/B reserved policy.
// Departmental TLS certificates come from ServicesCA instead.
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
	t.ExtKeyUsage, t.UnknownExtKeyUsage = QualifiedCAUsages()
	t.IssuingCertificateURL = []string{p.RootLinks.CertURL}
	t.CRLDistributionPoints = []string{p.RootLinks.CRLURL}
	return t, nil
}

// QualifiedCAUsages are the extended key usages of the qualified issuing
// CA's certificate, the purposes of what it issues: emailProtection and
// documentSigning (RFC 9336) for signature and seal certificates (OpenSSL's
// S/MIME purpose, used by `openssl cms -verify`, refuses a chain whose CA
// has an EKU without emailProtection), timeStamping for its TSA units.
// Never serverAuth or clientAuth. Not OCSPSigning either: with it, the CA's
// own certificate (issued by the root) would be a delegated responder for
// the root (the 2020 delegated-responder incident, CA/B BR 7.1.2.5.1
// forbids it); responders do not need it, as RFC 6960 checks the EKU of
// the responder certificate only.
func QualifiedCAUsages() ([]x509.ExtKeyUsage, []asn1.ObjectIdentifier) {
	return []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageTimeStamping},
		[]asn1.ObjectIdentifier{oidKPDocumentSigning}
}

// ServicesCAParams is what the ceremony decides for a services CA.
type ServicesCAParams struct {
	CAParams
	Root      *x509.Certificate // the parsed root certificate
	RootLinks Links             // where the root's certificate and CRL are published
	// DNSSuffixes are the only DNS names (and names under them) the CA may
	// certify, e.g. "gov.tj"; written as permitted dNSName subtrees.
	DNSSuffixes []string
}

// ServicesCA returns the template of the services CA: the CA of the
// departmental TLS server certificates (tls-server), signed by the root and
// technically constrained (CA/B BR 7.1.2.5): pathLen 0, keyCertSign|cRLSign,
// EKU serverAuth alone, nameConstraints (critical) permitting the
// configured DNS suffixes only and excluding every IPv4 and IPv6 address, so
// no certificate it signs is valid for another name whatever the profile
// does; certificatePolicies anyPolicy (CA/B BR 7.1.2.10.5 "no policy
// restrictions", allowed for a CA of the same operator: its leaves assert
// the center's own policy, not a CA/B reserved one, see buildTLSServer),
// AIA caIssuers and CDP of the root; 10 years by default, never beyond the
// root.
func ServicesCA(p ServicesCAParams) (*x509.Certificate, error) {
	t, err := servicesCA(p)
	if err != nil {
		return nil, fmt.Errorf("services CA template: %w", err)
	}
	return t, nil
}

func servicesCA(p ServicesCAParams) (*x509.Certificate, error) {
	if len(p.DNSSuffixes) == 0 {
		return nil, errors.New("at least one DNS suffix is required (e.g. gov.tj)")
	}
	suffixes := make([]string, 0, len(p.DNSSuffixes))
	for i, s := range p.DNSSuffixes {
		if err := CheckDNSSuffix(s); err != nil {
			return nil, fmt.Errorf("DNS suffix %d: %w", i, err)
		}
		if slices.Contains(suffixes, s) {
			return nil, fmt.Errorf("DNS suffix %q listed twice", s)
		}
		suffixes = append(suffixes, s)
	}
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
	t.AuthorityKeyId = p.Root.SubjectKeyId
	t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	t.PermittedDNSDomainsCritical = true
	t.PermittedDNSDomains = suffixes
	// BR 7.1.2.5.2: without a permitted iPAddress, all of them are excluded.
	t.ExcludedIPRanges = []*net.IPNet{
		{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)},
	}
	if err := setPolicies(t, []x509.OID{oidAnyPolicy}); err != nil {
		return nil, err
	}
	t.IssuingCertificateURL = []string{p.RootLinks.CertURL}
	t.CRLDistributionPoints = []string{p.RootLinks.CRLURL}
	return t, nil
}

// CheckDNSSuffix accepts a DNS suffix for a services CA: a lowercase host
// name of at least two labels (no leading dot, no wildcard), such as gov.tj.
func CheckDNSSuffix(s string) error {
	if err := checkDNSName(s); err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	return nil
}
