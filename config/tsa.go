package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"time"
)

// TSA configures the time-stamping authority (muhrd role tsa).
type TSA struct {
	Enabled bool `yaml:"enabled"`
	// SignerCA is the id of the CA that issued the TSA unit certificate;
	// the unit is that CA's TSA signer whose certificate expires last.
	SignerCA string `yaml:"signer_ca"`
	// Accuracy is stated in every token: more than 0.5 s (genTime has
	// whole seconds) and at most 1 s. Default 1 s.
	Accuracy time.Duration `yaml:"accuracy"`
	// Policies a request may ask for; each must be in the TSA unit
	// certificate. Default [default_policy].
	Policies []string `yaml:"policies"`
	// DefaultPolicy is used when a request names none. Default
	// 0.4.0.2023.1.1 (ETSI best-practices time-stamp policy).
	DefaultPolicy string `yaml:"default_policy"`
	// RequireSync refuses tokens while the kernel reports the clock
	// unsynchronised. Default true; only a demo turns it off.
	RequireSync *bool `yaml:"require_sync"`
	// MaxOffset is the largest clock error tolerated (kernel maxerror, NTP
	// offset, wall-clock step). Default, and upper bound, accuracy − 0.5 s.
	MaxOffset   time.Duration `yaml:"max_offset"`
	NTPServers  []string      `yaml:"ntp_servers"`
	NTPInterval time.Duration `yaml:"ntp_interval"` // default 1 min
	NTPTimeout  time.Duration `yaml:"ntp_timeout"`  // default 2 s
}

// TSARoundingError is what rounding genTime to whole seconds costs.
const TSARoundingError = 500 * time.Millisecond

// SyncRequired reports require_sync with its default (true).
func (t TSA) SyncRequired() bool { return t.RequireSync == nil || *t.RequireSync }

func (t *TSA) applyDefaults() {
	if t.Accuracy == 0 {
		t.Accuracy = time.Second
	}
	if t.DefaultPolicy == "" {
		t.DefaultPolicy = "0.4.0.2023.1.1"
	}
	if len(t.Policies) == 0 {
		t.Policies = []string{t.DefaultPolicy}
	}
	if t.MaxOffset == 0 {
		t.MaxOffset = t.Accuracy - TSARoundingError
	}
	if t.NTPInterval == 0 {
		t.NTPInterval = time.Minute
	}
	if t.NTPTimeout == 0 {
		t.NTPTimeout = 2 * time.Second
	}
}

var dottedOID = regexp.MustCompile(`^[0-2](\.(0|[1-9][0-9]*))+$`)

func (t *TSA) validate() error {
	if !t.Enabled {
		return nil
	}
	if t.SignerCA == "" {
		return errors.New("tsa.signer_ca: required (id of the CA that issued the TSA unit)")
	}
	if t.Accuracy <= TSARoundingError || t.Accuracy > time.Second {
		return fmt.Errorf("tsa.accuracy: %s is outside (0.5s, 1s]", t.Accuracy)
	}
	if t.MaxOffset <= 0 || t.MaxOffset > t.Accuracy-TSARoundingError {
		return fmt.Errorf("tsa.max_offset: %s must be positive and at most accuracy − 0.5s (%s)", t.MaxOffset, t.Accuracy-TSARoundingError)
	}
	for i, p := range t.Policies {
		if !dottedOID.MatchString(p) {
			return fmt.Errorf("tsa.policies[%d]: %q is not a dotted OID", i, p)
		}
	}
	if !slices.Contains(t.Policies, t.DefaultPolicy) {
		return fmt.Errorf("tsa.default_policy: %q is not in tsa.policies", t.DefaultPolicy)
	}
	for i, s := range t.NTPServers {
		host := s
		if h, _, err := net.SplitHostPort(s); err == nil {
			host = h
		}
		if host == "" {
			return fmt.Errorf("tsa.ntp_servers[%d]: %q has no host", i, s)
		}
	}
	if t.NTPInterval < time.Second || t.NTPTimeout <= 0 || t.NTPTimeout >= t.NTPInterval {
		return errors.New("tsa.ntp_interval/ntp_timeout: need interval ≥ 1s and 0 < timeout < interval")
	}
	return nil
}
