package policy

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"
)

// maxDNSNames bounds the SAN list of one certificate.
const maxDNSNames = 100

// buildTLSServer is tls-server v1, a server certificate for a departmental
// system: dNSName SANs only (validated by the registration officer, from
// the identity's dns_names), an empty subject (so the SAN is critical),
// EKU serverAuth alone, keyUsage digitalSignature (+ keyEncipherment for
// RSA keys, BR 7.1.2.7.11), the center's policy only.
//
// Subject: CA/B BR 7.1.4.2.2 makes CN "not recommended" (zlint
// w_subject_common_name_included), and O would need localityName or
// stateOrProvinceName with it (e_sub_cert_locality_name_must_appear),
// which the registered identity does not hold; TLS clients match SANs
// only. The organization is still validated and recorded. Policy:
// no CA/B reserved OID (2.23.140.1.2.*): asserting one claims conformance
// to the Baseline Requirements and their audits, which this national CA
// does not have, and the issuing CA does not assert it, so RFC 5280 policy
// processing would drop it anyway. The BR lints still run (see
// lintprofile.go) as the best available TLS hygiene.
func buildTLSServer(id Identity, pub crypto.PublicKey, issuer *x509.Certificate, cfg ProfileConfig) (*x509.Certificate, error) {
	if err := needKind(id, IdentityOrganization); err != nil {
		return nil, err
	}
	if err := id.Organization.Validate(cfg.Rules); err != nil {
		return nil, err
	}
	if err := checkDNSNames(id.DNSNames); err != nil {
		return nil, err
	}
	if err := withinConstraints(id.DNSNames, issuer); err != nil {
		return nil, err
	}
	t, err := endEntity(nil, pub, issuer, cfg, tlsValidity(cfg.Now), true)
	if err != nil {
		return nil, err
	}
	t.DNSNames = append([]string(nil), id.DNSNames...)
	t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	t.KeyUsage = x509.KeyUsageDigitalSignature
	if _, ok := pub.(*rsa.PublicKey); ok {
		t.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	return t, nil
}

// tlsValidity is the default life of a TLS certificate issued at nb, one
// day under the CA/B SC-081 maximum in force then (398, 200, 100, 47
// days), so the default never draws the BR validity lints. The schedule is
// in the code, not the config, because zlint enforces it by date.
func tlsValidity(nb time.Time) period {
	switch {
	case nb.Before(time.Date(2026, time.March, 15, 0, 0, 0, 0, time.UTC)):
		return period{days: 397}
	case nb.Before(time.Date(2027, time.March, 15, 0, 0, 0, 0, time.UTC)):
		return period{days: 199 - 1}
	case nb.Before(time.Date(2029, time.March, 15, 0, 0, 0, 0, time.UTC)):
		return period{days: 99 - 1}
	}
	return period{days: 46 - 1}
}

// withinConstraints refuses a name the issuer's nameConstraints do not
// permit, before anything is signed: relying parties would refuse the
// certificate, and the officer must hear which name is outside.
func withinConstraints(names []string, issuer *x509.Certificate) error {
	if len(issuer.PermittedDNSDomains) == 0 {
		return fmt.Errorf("%w: the issuer permits no DNS names (not a services CA)", ErrIssuerNotAllowed)
	}
	for i, n := range names {
		field := fmt.Sprintf("dns_names[%d]", i)
		if !slices.ContainsFunc(issuer.PermittedDNSDomains, func(c string) bool { return dnsWithin(n, c) }) {
			return identityErr(field, "%q is outside the names this CA may certify (%s)", n, strings.Join(issuer.PermittedDNSDomains, ", "))
		}
		if slices.ContainsFunc(issuer.ExcludedDNSDomains, func(c string) bool { return dnsWithin(n, c) }) {
			return identityErr(field, "%q is excluded by this CA's name constraints", n)
		}
	}
	return nil
}

// dnsWithin is RFC 5280 §4.2.1.10 dNSName matching: the constraint itself
// or any name under it ("gov.tj" covers "gov.tj" and "x.gov.tj", not
// "evilgov.tj"); a constraint with a leading dot covers names under it only.
func dnsWithin(name, constraint string) bool {
	name, constraint = strings.ToLower(name), strings.ToLower(constraint)
	if strings.HasPrefix(constraint, ".") {
		return strings.HasSuffix(name, constraint)
	}
	return name == constraint || strings.HasSuffix(name, "."+constraint)
}

// checkDNSNames accepts lowercase LDH host names (A-labels for IDNs), at
// least two labels, no wildcards, no IP addresses, each once.
func checkDNSNames(names []string) error {
	if len(names) == 0 {
		return identityErr("dns_names", "required for tls-server")
	}
	if len(names) > maxDNSNames {
		return identityErr("dns_names", "%d names, at most %d", len(names), maxDNSNames)
	}
	seen := map[string]bool{}
	for i, n := range names {
		field := fmt.Sprintf("dns_names[%d]", i)
		if err := checkDNSName(n); err != nil {
			return identityErr(field, "%q: %v", n, err)
		}
		if seen[n] {
			return identityErr(field, "%q listed twice", n)
		}
		seen[n] = true
	}
	return nil
}

func checkDNSName(n string) error {
	if len(n) > 253 {
		return fmt.Errorf("%d characters, at most 253", len(n))
	}
	labels := strings.Split(n, ".")
	if len(labels) < 2 {
		return fmt.Errorf("not a fully qualified name")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("label %q: 1 to 63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q starts or ends with '-'", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
			case 'A' <= c && c <= 'Z':
				return fmt.Errorf("use lowercase")
			case c == '*':
				return fmt.Errorf("wildcards are not issued")
			default:
				return fmt.Errorf("character %q: letters, digits and '-' only (IDNs as xn-- A-labels)", c)
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return fmt.Errorf("an IP address is not a DNS name")
	}
	return nil
}
