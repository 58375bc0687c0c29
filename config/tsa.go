package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"time"

	"github.com/muhr-pki/muhr/policy/ids"
)

// TSA configures the time-stamping authority (muhrd role tsa).
type TSA struct {
	Enabled bool `yaml:"enabled"`
	// SignerCA is the id of the CA that issued the TSA unit certificate;
	// the unit is that CA's TSA signer whose certificate expires last.
	SignerCA string `yaml:"signer_ca"`
	// Accuracy is stated in every token: at least max_offset plus
	// genTime's precision (1 µs), at most 1 s. Default 1 s.
	Accuracy time.Duration `yaml:"accuracy"`
	// Policies a request may ask for; each must be in the TSA unit
	// certificate. Default [default_policy].
	Policies []string `yaml:"policies"`
	// DefaultPolicy is used when a request names none. Default the ETSI
	// best-practices time-stamp policy (policy/ids.TSABestPractices).
	DefaultPolicy string `yaml:"default_policy"`
	// RequireSync refuses tokens while the kernel reports the clock
	// unsynchronised. Default true; only a demo turns it off.
	RequireSync *bool `yaml:"require_sync"`
	// MaxOffset is the largest clock error tolerated (kernel maxerror, NTP
	// offset, wall-clock step). At most accuracy − 1 µs; default 500 ms, or
	// that bound when lower.
	MaxOffset   time.Duration `yaml:"max_offset"`
	NTPServers  []string      `yaml:"ntp_servers"`
	NTPInterval time.Duration `yaml:"ntp_interval"` // default 1 min
	NTPTimeout  time.Duration `yaml:"ntp_timeout"`  // default 2 s
}

// The TSA's defaults and limits: this is the one place they are defined
// (package tsa uses these; the policy OID comes from package policy).
const (
	TSADefaultAccuracy = time.Second
	// TSAMaxAccuracy is the largest accuracy a token may state (ETSI EN
	// 319 421).
	TSAMaxAccuracy = time.Second
	// TSAGenTimePrecision is genTime's resolution: the clock is read in
	// nanoseconds, genTime truncated to the microsecond the ledger keeps.
	TSAGenTimePrecision   = time.Microsecond
	TSADefaultMaxOffset   = 500 * time.Millisecond
	TSADefaultNTPInterval = time.Minute
	TSADefaultNTPTimeout  = 2 * time.Second
)

// TSADefaultPolicy is the policy of tokens whose request names none.
func TSADefaultPolicy() string { return ids.TSABestPractices }

// SyncRequired reports require_sync with its default (true).
func (t TSA) SyncRequired() bool { return t.RequireSync == nil || *t.RequireSync }

func (t *TSA) applyDefaults() {
	if t.Accuracy == 0 {
		t.Accuracy = TSADefaultAccuracy
	}
	if t.DefaultPolicy == "" {
		t.DefaultPolicy = TSADefaultPolicy()
	}
	if len(t.Policies) == 0 {
		t.Policies = []string{t.DefaultPolicy}
	}
	if t.MaxOffset == 0 {
		t.MaxOffset = min(TSADefaultMaxOffset, t.Accuracy-TSAGenTimePrecision)
	}
	if t.NTPInterval == 0 {
		t.NTPInterval = TSADefaultNTPInterval
	}
	if t.NTPTimeout == 0 {
		t.NTPTimeout = TSADefaultNTPTimeout
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
	if t.Accuracy <= TSAGenTimePrecision || t.Accuracy > TSAMaxAccuracy || t.Accuracy%TSAGenTimePrecision != 0 {
		return fmt.Errorf("tsa.accuracy: %s must be whole microseconds in (%s, %s]", t.Accuracy, TSAGenTimePrecision, TSAMaxAccuracy)
	}
	if t.MaxOffset <= 0 {
		return fmt.Errorf("tsa.max_offset: %s must be positive", t.MaxOffset)
	}
	if t.MaxOffset > t.Accuracy-TSAGenTimePrecision {
		// A token must not claim an accuracy the clock guard does not hold
		// the clock to.
		return fmt.Errorf("tsa.accuracy: %s is below what the clock guard tolerates: max_offset %s + genTime precision %s",
			t.Accuracy, t.MaxOffset, TSAGenTimePrecision)
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
