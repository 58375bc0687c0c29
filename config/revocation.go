package config

import (
	"fmt"
	"time"
)

// Revocation defaults and bounds.
const (
	// RevocationDefaultMaxHold: a suspension older than this becomes a
	// revocation (issue 10; EN 319 411-1 leaves the period to the CPS).
	RevocationDefaultMaxHold   = 30 * 24 * time.Hour
	RevocationMaxMaxHold       = 365 * 24 * time.Hour
	RevocationDefaultHoldCheck = 5 * time.Minute
	// OCSP signer certificates carry ocsp-nocheck and cannot be revoked in
	// practice, so they are short-lived: 30 days by default, 90 at most
	// (the ceremony's bound).
	RevocationDefaultSignerValidity = 30 * 24 * time.Hour
	RevocationMinSignerValidity     = time.Hour
	RevocationMaxSignerValidity     = 90 * 24 * time.Hour
	RevocationDefaultSignerCheck    = time.Hour
)

// Revocation configures the schedules of muhrd's ca role that keep
// statuses and responders in order: holds past max_hold become
// revocations, and each CA's delegated OCSP signer is renewed with a fresh
// key on the token once two thirds of its life have passed. Any number of
// muhrd may run the ca role; a lease in the database gives each job to one.
type Revocation struct {
	// MaxHold is the longest a certificate may stay suspended
	// (certificateHold) before it is revoked (reason unspecified, at the
	// hold's time). Default 720h (30 days).
	MaxHold time.Duration `yaml:"max_hold"`
	// HoldCheckInterval is how often holds are checked. Default 5m.
	HoldCheckInterval time.Duration `yaml:"hold_check_interval"`
	// OCSPSignerValidity is the life of each renewed OCSP signer
	// certificate. Default 720h (30 days), at most 2160h.
	OCSPSignerValidity time.Duration `yaml:"ocsp_signer_validity"`
	// OCSPSignerCheckInterval is how often the signers are checked for
	// renewal. Default 1h.
	OCSPSignerCheckInterval time.Duration `yaml:"ocsp_signer_check_interval"`
}

// Effective returns r with defaults in place of zero values.
func (r Revocation) Effective() Revocation {
	if r.MaxHold == 0 {
		r.MaxHold = RevocationDefaultMaxHold
	}
	if r.HoldCheckInterval == 0 {
		r.HoldCheckInterval = RevocationDefaultHoldCheck
	}
	if r.OCSPSignerValidity == 0 {
		r.OCSPSignerValidity = RevocationDefaultSignerValidity
	}
	if r.OCSPSignerCheckInterval == 0 {
		r.OCSPSignerCheckInterval = RevocationDefaultSignerCheck
	}
	return r
}

// Validate checks the section with its defaults applied.
func (r Revocation) Validate() error {
	e := r.Effective()
	switch {
	case e.MaxHold <= 0 || e.MaxHold > RevocationMaxMaxHold:
		return fmt.Errorf("revocation.max_hold: %v is outside (0, %v]", e.MaxHold, RevocationMaxMaxHold)
	case e.HoldCheckInterval <= 0 || e.HoldCheckInterval > e.MaxHold:
		return fmt.Errorf("revocation.hold_check_interval: %v must be positive and at most revocation.max_hold %v", e.HoldCheckInterval, e.MaxHold)
	case e.OCSPSignerValidity < RevocationMinSignerValidity || e.OCSPSignerValidity > RevocationMaxSignerValidity:
		return fmt.Errorf("revocation.ocsp_signer_validity: %v is outside [%v, %v]", e.OCSPSignerValidity,
			RevocationMinSignerValidity, RevocationMaxSignerValidity)
	case e.OCSPSignerCheckInterval <= 0 || e.OCSPSignerCheckInterval > e.OCSPSignerValidity/6:
		// Checked at least six times a life, so a renewal at two thirds
		// has tries left before the old certificate expires.
		return fmt.Errorf("revocation.ocsp_signer_check_interval: %v must be positive and at most a sixth of revocation.ocsp_signer_validity (%v)",
			e.OCSPSignerCheckInterval, e.OCSPSignerValidity/6)
	}
	return nil
}
