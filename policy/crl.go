package policy

import (
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// MaxCRLValidity is the longest nextUpdate − thisUpdate we write
// (STANDARDS.md: nextUpdate ≤ 7 days).
const MaxCRLValidity = 7 * 24 * time.Hour

// CRLParams is one CRL of one CA.
type CRLParams struct {
	Number     *big.Int  // cRLNumber: positive, larger than the previous CRL's
	ThisUpdate time.Time // required: policy reads no clock
	NextUpdate time.Time // zero: ThisUpdate + MaxCRLValidity
	Revoked    []x509.RevocationListEntry
}

// CRL returns the template of a CA's full CRL for x509.CreateRevocationList;
// Go writes the AKI from the issuer certificate's SKI. Entries with
// ReasonCode 0 carry no reasonCode (RFC 5280: unspecified is omitted).
func CRL(p CRLParams) (*x509.RevocationList, error) {
	t, err := crl(p)
	if err != nil {
		return nil, fmt.Errorf("CRL template: %w", err)
	}
	return t, nil
}

func crl(p CRLParams) (*x509.RevocationList, error) {
	if p.Number == nil || p.Number.Sign() <= 0 {
		return nil, errors.New("cRLNumber must be positive")
	}
	// RFC 5280 §5.2.3: conforming CAs do not use cRLNumber longer than 20 octets.
	if p.Number.Cmp(maxSerial()) >= 0 {
		return nil, errors.New("cRLNumber must be below 2^159")
	}
	if p.ThisUpdate.IsZero() {
		return nil, errors.New("thisUpdate is required")
	}
	this := p.ThisUpdate.UTC().Truncate(time.Second)
	next := p.NextUpdate.UTC().Truncate(time.Second)
	if p.NextUpdate.IsZero() {
		next = this.Add(MaxCRLValidity)
	}
	if !next.After(this) {
		return nil, fmt.Errorf("nextUpdate %s is not after thisUpdate %s", next.Format(time.RFC3339), this.Format(time.RFC3339))
	}
	if next.Sub(this) > MaxCRLValidity {
		return nil, fmt.Errorf("nextUpdate is %s after thisUpdate, at most %s allowed", next.Sub(this), MaxCRLValidity)
	}
	entries := make([]x509.RevocationListEntry, 0, len(p.Revoked))
	for i, e := range p.Revoked {
		if err := checkEntry(e, this); err != nil {
			return nil, fmt.Errorf("revoked entry %d: %w", i, err)
		}
		e.RevocationTime = e.RevocationTime.UTC().Truncate(time.Second)
		entries = append(entries, e)
	}
	return &x509.RevocationList{
		Number:                    new(big.Int).Set(p.Number),
		ThisUpdate:                this,
		NextUpdate:                next,
		RevokedCertificateEntries: entries,
	}, nil
}

// checkEntry refuses entries RFC 5280 §5.3.1 does not allow.
func checkEntry(e x509.RevocationListEntry, thisUpdate time.Time) error {
	if err := checkSerial(e.SerialNumber); err != nil {
		return err
	}
	if e.RevocationTime.IsZero() || e.RevocationTime.After(thisUpdate) {
		return fmt.Errorf("serial %x: revocation time must be set and not after thisUpdate", e.SerialNumber)
	}
	switch e.ReasonCode {
	case 0, 1, 2, 3, 4, 5, 6, 9, 10:
	case 8: // removeFromCRL belongs to delta CRLs only (STANDARDS.md)
		return fmt.Errorf("serial %x: removeFromCRL is only for delta CRLs", e.SerialNumber)
	default:
		return fmt.Errorf("serial %x: reason code %d is not an RFC 5280 CRLReason", e.SerialNumber, e.ReasonCode)
	}
	if len(e.ExtraExtensions) > 0 || len(e.Extensions) > 0 {
		return fmt.Errorf("serial %x: entry extensions are written by policy only", e.SerialNumber)
	}
	return nil
}
