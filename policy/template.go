package policy

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// maxSerial is 2^159: a serial must stay below it to fit 20 DER octets.
func maxSerial() *big.Int { return new(big.Int).Lsh(big.NewInt(1), 159) }

// period is a default validity, added with AddDate so "20 years" means
// calendar years, not 20×365 days.
type period struct{ years, months, days int }

func (p period) after(t time.Time) time.Time { return t.AddDate(p.years, p.months, p.days) }

// Default validities. Roots outlive what they sign; signer certificates are
// short because their keys sign continuously (see OCSPSigner, TSAUnit).
var (
	rootValidity       = period{years: 20}
	managementValidity = period{years: 10}
	issuingValidity    = period{years: 10}
	ocspValidity       = period{days: 90}
	tsaValidity        = period{years: 5}
)

// base builds what every template shares: serial, subject, key identifier
// and validity. parent is nil for self-signed certificates.
func base(subject OrgName, serial *big.Int, pub crypto.PublicKey,
	notBefore, notAfter time.Time, def period, parent *x509.Certificate) (*x509.Certificate, error) {
	if err := checkSerial(serial); err != nil {
		return nil, err
	}
	if pub == nil {
		return nil, errors.New("no public key")
	}
	ski, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	raw, err := subject.Marshal()
	if err != nil {
		return nil, err
	}
	nb, na, err := validity(notBefore, notAfter, def, parent)
	if err != nil {
		return nil, err
	}
	t := &x509.Certificate{
		SerialNumber: new(big.Int).Set(serial),
		RawSubject:   raw,
		NotBefore:    nb,
		NotAfter:     na,
		SubjectKeyId: ski,
	}
	return t, fillSubject(t)
}

// checkSerial enforces RFC 5280 §4.1.2.2: positive and at most 20 octets.
func checkSerial(s *big.Int) error {
	switch {
	case s == nil:
		return errors.New("serial: missing")
	case s.Sign() <= 0:
		return fmt.Errorf("serial %s: must be positive", s)
	case s.Cmp(maxSerial()) >= 0:
		return fmt.Errorf("serial: %d bits, must be below 2^159", s.BitLen())
	}
	return nil
}

// validity resolves the certificate's period. The caller always supplies
// notBefore (policy reads no clock). A zero notAfter means the default for
// the kind, shortened to end with the parent; an explicit notAfter beyond
// the parent's is refused, because the certificate would claim a validity
// its issuer cannot vouch for.
func validity(notBefore, notAfter time.Time, def period, parent *x509.Certificate) (time.Time, time.Time, error) {
	if notBefore.IsZero() {
		return time.Time{}, time.Time{}, errors.New("validity: notBefore is required")
	}
	// UTCTime and GeneralizedTime in certificates carry whole seconds.
	nb := notBefore.UTC().Truncate(time.Second)
	na := notAfter.UTC().Truncate(time.Second)
	explicit := !notAfter.IsZero()
	if !explicit {
		na = def.after(nb)
	}
	if parent != nil {
		switch {
		case nb.Before(parent.NotBefore):
			return time.Time{}, time.Time{}, fmt.Errorf("validity: notBefore %s is before the issuer's %s",
				nb.Format(time.RFC3339), parent.NotBefore.UTC().Format(time.RFC3339))
		case na.After(parent.NotAfter) && explicit:
			return time.Time{}, time.Time{}, fmt.Errorf("validity: notAfter %s is after the issuer's %s",
				na.Format(time.RFC3339), parent.NotAfter.UTC().Format(time.RFC3339))
		case na.After(parent.NotAfter):
			na = parent.NotAfter.UTC()
		}
	}
	if !na.After(nb) {
		return time.Time{}, time.Time{}, fmt.Errorf("validity: notAfter %s is not after notBefore %s",
			na.Format(time.RFC3339), nb.Format(time.RFC3339))
	}
	return nb, na, nil
}

// policies joins policy OIDs, refusing empty (zero) ones and dropping
// duplicates, which RFC 5280 §4.2.1.4 forbids.
func policies(lists ...[]x509.OID) ([]x509.OID, error) {
	var out []x509.OID
	for _, l := range lists {
		for _, o := range l {
			if o.String() == "" {
				return nil, errors.New("certificate policy: empty OID (is the center's policy OID configured?)")
			}
			dup := false
			for _, have := range out {
				dup = dup || have.Equal(o)
			}
			if !dup {
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// setPolicies writes the policies into both fields: Go 1.26 marshals
// Policies, but GODEBUG=x509usepolicies=0 switches it back to
// PolicyIdentifiers, and the certificate must not lose its policies then.
func setPolicies(c *x509.Certificate, oids []x509.OID) error {
	c.Policies = oids
	c.PolicyIdentifiers = nil
	for _, o := range oids {
		id, err := legacyOID(o)
		if err != nil {
			return fmt.Errorf("certificate policy %s: %w", o, err)
		}
		c.PolicyIdentifiers = append(c.PolicyIdentifiers, id)
	}
	return nil
}

// legacyOID converts o for the pre-1.22 field; crypto/x509 has no exported
// conversion. It fails only for arcs that do not fit an int.
func legacyOID(o x509.OID) (asn1.ObjectIdentifier, error) {
	var id asn1.ObjectIdentifier
	for _, arc := range strings.Split(o.String(), ".") {
		n, err := strconv.Atoi(arc)
		if err != nil {
			return nil, fmt.Errorf("arc %q: %w", arc, err)
		}
		id = append(id, n)
	}
	return id, nil
}

// checkIssuer makes sure parent can issue: a CA with a key identifier
// (for the AKI) and a name different from the child's, since Go treats
// equal names as self-signed and would then drop the AKI.
func checkIssuer(parent, child *x509.Certificate) error {
	switch {
	case parent == nil:
		return errors.New("issuer certificate is required")
	case !parent.IsCA:
		return errors.New("issuer certificate is not a CA")
	case len(parent.SubjectKeyId) == 0:
		return errors.New("issuer certificate has no subjectKeyIdentifier")
	case len(parent.RawSubject) == 0:
		return errors.New("issuer certificate has no raw subject (pass a parsed certificate)")
	case string(parent.RawSubject) == string(child.RawSubject):
		return errors.New("subject equals the issuer's: names must differ")
	}
	return nil
}
