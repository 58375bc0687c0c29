package policy

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// Errors of the profile registry and of Build that callers branch on.
var (
	// ErrUnknownProfile: no built-in profile has that name.
	ErrUnknownProfile = newError("invalid", "unknown certificate profile")
	// ErrIssuerNotAllowed: the profile may not be issued by that kind of CA
	// (e.g. an officer certificate from the public issuing CA).
	ErrIssuerNotAllowed = newError("forbidden", "profile not allowed for this CA")
	// ErrProfileConfig: the identity or configuration does not fit the
	// profile (wrong identity kind, QSCD for a non-qualified profile, ...).
	ErrProfileConfig = newError("invalid", "profile does not fit the request")
)

// The CA kinds of the key ceremony, spelled as store.CAKind* spells them
// (policy imports nothing of ours, so the strings are repeated here).
// CAKindIssuing is the qualified issuing CA; CAKindServices the CA of
// departmental TLS server certificates, name-constrained to configured DNS
// suffixes (ServicesCA).
const (
	CAKindRoot       = "root"
	CAKindIssuing    = "issuing"
	CAKindServices   = "services"
	CAKindManagement = "management"
)

// IssuerKind is the kind a CA issues as: stored is the kind its store row
// records and cert its certificate. A subordinate recorded as "issuing"
// whose certificate is a services CA's (critical nameConstraints permitting
// DNS names, EKU serverAuth alone) issues as CAKindServices: the store's
// kind column predates the services CA, and the certificate is what
// relying parties judge anyway.
func IssuerKind(stored string, cert *x509.Certificate) string {
	if stored == CAKindIssuing && isServicesCA(cert) {
		return CAKindServices
	}
	return stored
}

// IssuerKindDER is IssuerKind for a CA certificate in DER, as the store
// holds it; a certificate that does not parse leaves the stored kind.
func IssuerKindDER(stored string, certDER []byte) string {
	c, err := x509.ParseCertificate(certDER)
	if err != nil {
		return stored
	}
	return IssuerKind(stored, c)
}

func isServicesCA(c *x509.Certificate) bool {
	return c != nil && c.IsCA && c.PermittedDNSDomainsCritical && len(c.PermittedDNSDomains) > 0 &&
		slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) && len(c.UnknownExtKeyUsage) == 0
}

// ProfileConfig is everything but the identity and key that a profile
// needs; the issuer fills it from the daemon's config and its CA.
type ProfileConfig struct {
	IssuerKind   string   // CAKind* of the issuing CA; checked with AllowedIssuer
	IssuerLinks  Links    // the issuing CA's URLs: CALinks(public_url, ca id)
	CenterPolicy x509.OID // the center's own certificate policy (private arc)
	// PDS are the QcPDS locations of qualified profiles (en mandatory).
	PDS []PDS
	// RetentionYears, when > 0, adds QcRetentionPeriod to qualified profiles.
	RetentionYears int
	// Validity is NotAfter − NotBefore; zero means the profile's default,
	// cut at the issuer's notAfter. An explicit one beyond the issuer's
	// notAfter is refused.
	Validity time.Duration
	// QSCD states that the key was generated on a qualified device
	// (QCP-*-qscd and QcSSCD); refused for non-qualified profiles.
	QSCD   bool
	Now    time.Time // notBefore; policy reads no clock
	Serial *big.Int  // from NewSerial
	// Rules are the identifier formats; zero fields mean the defaults.
	Rules IdentifierRules
	// TSAPolicies are the time-stamp policies of a tsa-unit (see TSAParams).
	TSAPolicies []x509.OID
}

// Profile is one built-in, versioned certificate profile. Build is a pure
// function of its arguments; nothing from a CSR goes in but the public key.
type Profile struct {
	Name    string // e.g. "qes-person"
	Version int    // bumped whenever the certificates it builds change
	Kind    Kind   // how its certificates are linted
	// Issuers are the CA kinds (CAKind*) that may issue it.
	Issuers []string
	build   func(id Identity, pub crypto.PublicKey, issuer *x509.Certificate, cfg ProfileConfig) (*x509.Certificate, error)
}

// String is the name and version recorded with each certificate,
// e.g. "qes-person/v1".
func (p Profile) String() string { return fmt.Sprintf("%s/v%d", p.Name, p.Version) }

// AllowedIssuer reports whether a CA of that kind (CAKind*) may issue
// this profile.
func (p Profile) AllowedIssuer(caKind string) bool { return slices.Contains(p.Issuers, caKind) }

// Build returns the certificate template for id and pub, issued by issuer
// (the parsed CA certificate) under cfg. Errors wrap ErrIssuerNotAllowed,
// ErrProfileConfig, ErrInvalidIdentity, ErrInvalidName or
// ErrInvalidQCStatements where the caller may branch.
func (p Profile) Build(id Identity, pub crypto.PublicKey, issuer *x509.Certificate, cfg ProfileConfig) (*x509.Certificate, error) {
	if p.build == nil {
		return nil, fmt.Errorf("%w: %q is not a built-in profile (use ProfileByName)", ErrUnknownProfile, p.Name)
	}
	id = id.NFC()
	if !p.AllowedIssuer(cfg.IssuerKind) {
		return nil, fmt.Errorf("%s: %w: a %q CA may not issue it (allowed: %s)",
			p, ErrIssuerNotAllowed, cfg.IssuerKind, strings.Join(p.Issuers, ", "))
	}
	if err := checkIssuerKind(issuer, cfg.IssuerKind); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if cfg.QSCD && p.Kind != KindQESPerson && p.Kind != KindQSealOrg {
		return nil, fmt.Errorf("%s: %w: QSCD applies only to qualified signature and seal certificates", p, ErrProfileConfig)
	}
	if len(id.DNSNames) > 0 && p.Kind != KindTLSServer {
		return nil, fmt.Errorf("%s: %w: dns_names are only used by tls-server", p, ErrProfileConfig)
	}
	t, err := p.build(id, pub, issuer, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return t, nil
}

// checkIssuerKind cross-checks the stated CA kind against the certificate,
// so a misconfigured issuer cannot pass the management root off as the
// issuing CA or the other way round.
func checkIssuerKind(issuer *x509.Certificate, kind string) error {
	if issuer == nil {
		return errors.New("issuer certificate is required")
	}
	selfSigned := string(issuer.RawSubject) == string(issuer.RawIssuer)
	switch kind {
	case CAKindIssuing:
		if selfSigned {
			return fmt.Errorf("%w: the issuer certificate is self-signed, not an issuing CA", ErrIssuerNotAllowed)
		}
		if isServicesCA(issuer) {
			return fmt.Errorf("%w: the issuer certificate is a services CA's (name-constrained, serverAuth)", ErrIssuerNotAllowed)
		}
	case CAKindServices:
		// The name constraints are what keeps every certificate it signs
		// inside the configured suffixes; without them it is not one.
		if selfSigned || !isServicesCA(issuer) {
			return fmt.Errorf("%w: the issuer certificate is not a services CA (critical nameConstraints permitting DNS suffixes, EKU serverAuth)", ErrIssuerNotAllowed)
		}
	case CAKindManagement, CAKindRoot:
		if !selfSigned {
			return fmt.Errorf("%w: the issuer certificate is not a self-signed %s CA", ErrIssuerNotAllowed, kind)
		}
	}
	return nil
}

// Names of the built-in profiles.
const (
	ProfileQESPerson  = "qes-person"
	ProfileQSealOrg   = "qseal-org"
	ProfileTLSServer  = "tls-server"
	ProfileOfficer    = "officer"
	ProfileOCSPSigner = "ocsp-signer"
	ProfileTSAUnit    = "tsa-unit"
)

// Profiles returns the built-in profiles, a fresh slice on each call.
func Profiles() []Profile {
	issuing := []string{CAKindIssuing}
	return []Profile{
		{Name: ProfileQESPerson, Version: 1, Kind: KindQESPerson, Issuers: issuing, build: buildQESPerson},
		{Name: ProfileQSealOrg, Version: 1, Kind: KindQSealOrg, Issuers: issuing, build: buildQSealOrg},
		{Name: ProfileTLSServer, Version: 1, Kind: KindTLSServer, Issuers: []string{CAKindServices}, build: buildTLSServer},
		{Name: ProfileOfficer, Version: 1, Kind: KindOfficer, Issuers: []string{CAKindManagement}, build: buildOfficer},
		// v2: no certificatePolicies (CA/B BR 7.1.2.8.2).
		{Name: ProfileOCSPSigner, Version: 2, Kind: KindOCSPSigner, Issuers: issuing, build: buildOCSPSigner},
		{Name: ProfileTSAUnit, Version: 1, Kind: KindTSAUnit, Issuers: issuing, build: buildTSAUnit},
	}
}

// ProfileByName returns the built-in profile called name; "name/vN" asks
// for a given version. Unknown names wrap ErrUnknownProfile.
func ProfileByName(name string) (Profile, error) {
	base, version, hasVersion := strings.Cut(name, "/v")
	for _, p := range Profiles() {
		if p.Name != base {
			continue
		}
		if hasVersion && fmt.Sprint(p.Version) != version {
			return Profile{}, fmt.Errorf("%w: %q (have %s)", ErrUnknownProfile, name, p)
		}
		return p, nil
	}
	names := make([]string, 0, 8)
	for _, p := range Profiles() {
		names = append(names, p.Name)
	}
	return Profile{}, fmt.Errorf("%w: %q (known: %s)", ErrUnknownProfile, name, strings.Join(names, ", "))
}

// endEntity builds what every end-entity profile shares: serial, subject,
// validity (default cut at the issuer's notAfter), SKI, AKI, AIA caIssuers
// and ocsp, CDP and certificatePolicies. withStatus false leaves out AIA
// ocsp and the CDP (the OCSP signer, whose status nobody checks).
func endEntity(attrs []Attribute, pub crypto.PublicKey, issuer *x509.Certificate, cfg ProfileConfig,
	def period, withStatus bool, pols ...[]x509.OID) (*x509.Certificate, error) {
	if err := checkSerial(cfg.Serial); err != nil {
		return nil, err
	}
	if pub == nil {
		return nil, errors.New("no public key")
	}
	if err := cfg.IssuerLinks.check(withStatus); err != nil {
		return nil, err
	}
	ski, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	var notAfter time.Time
	if cfg.Validity < 0 {
		return nil, fmt.Errorf("validity %s: must not be negative", cfg.Validity)
	}
	if cfg.Validity > 0 {
		notAfter = cfg.Now.Add(cfg.Validity)
	}
	nb, na, err := validity(cfg.Now, notAfter, def, issuer)
	if err != nil {
		return nil, err
	}
	t := &x509.Certificate{
		SerialNumber: new(big.Int).Set(cfg.Serial),
		NotBefore:    nb,
		NotAfter:     na,
		SubjectKeyId: ski,
	}
	// An empty subject (tls-server) is left to crypto/x509, which then
	// writes an empty Name and marks the SAN critical (RFC 5280 §4.2.1.6).
	if len(attrs) > 0 {
		if err := setSubject(t, attrs); err != nil {
			return nil, err
		}
	}
	if err := checkIssuer(issuer, t); err != nil {
		return nil, err
	}
	// Equal keys would make Go (and relying parties) take the certificate
	// for self-issued; the issuer refuses CA keys in CSRs too.
	if string(ski) == string(issuer.SubjectKeyId) {
		return nil, fmt.Errorf("%w: the subject key is the issuer's key", ErrProfileConfig)
	}
	// No basicConstraints: absent means not a CA (RFC 5280 §4.2.1.9).
	t.AuthorityKeyId = issuer.SubjectKeyId
	t.IssuingCertificateURL = []string{cfg.IssuerLinks.CertURL}
	if withStatus {
		t.OCSPServer = []string{cfg.IssuerLinks.OCSPURL}
		t.CRLDistributionPoints = []string{cfg.IssuerLinks.CRLURL}
	}
	all, err := policies(append(pols, []x509.OID{cfg.CenterPolicy})...)
	if err != nil {
		return nil, err
	}
	if err := setPolicies(t, all); err != nil {
		return nil, err
	}
	return t, nil
}

// needKind refuses an identity of the wrong kind for the profile.
func needKind(id Identity, want IdentityKind) error {
	if id.Kind != want {
		return &IdentityError{Field: "kind", Reason: fmt.Sprintf("%q, this profile needs a %q identity", id.Kind, want),
			Cause: ErrProfileConfig}
	}
	return nil
}
