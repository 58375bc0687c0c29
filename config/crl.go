package config

import (
	"fmt"
	"time"
)

// CRL defaults and bounds (STANDARDS.md: nextUpdate at most 7 days after
// thisUpdate; the offline root's may be longer).
const (
	CRLDefaultInterval     = 24 * time.Hour
	CRLDefaultValidity     = 7 * 24 * time.Hour
	CRLMaxValidity         = 7 * 24 * time.Hour
	CRLMaxRootValidity     = 365 * 24 * time.Hour
	CRLDefaultPoll         = 15 * time.Second
	CRLMaxPoll             = 60 * time.Second
	crlMinIntervalMargin   = time.Hour
	crlDefaultLeaseTTLPoll = 3
)

// CRL configures the CRL producer of muhrd's ca role. Any number of muhrd
// processes may run it; a lease in the database lets one produce.
type CRL struct {
	// Enabled runs the producer under the ca role (which then logs in to
	// the token for the CA keys). Off by default, like the TSA.
	Enabled bool `yaml:"enabled"`
	// Interval is how often every CRL is re-issued (default 24h); a status
	// change re-issues its CA's CRL at the next Poll.
	Interval time.Duration `yaml:"interval"`
	// Validity is nextUpdate - thisUpdate (default and most 168h).
	Validity time.Duration `yaml:"validity"`
	// RootValidity is the root's (default Validity, at most 8760h).
	RootValidity time.Duration `yaml:"root_validity"`
	// Poll is how often the revocation state is checked and the lease
	// renewed (default 15s, at most 60s so a change is on the CRL within a
	// minute).
	Poll time.Duration `yaml:"poll"`
}

// Effective returns c with defaults in place of zero values.
func (c CRL) Effective() CRL {
	if c.Interval == 0 {
		c.Interval = CRLDefaultInterval
	}
	if c.Validity == 0 {
		c.Validity = CRLDefaultValidity
	}
	if c.RootValidity == 0 {
		c.RootValidity = c.Validity
	}
	if c.Poll == 0 {
		c.Poll = CRLDefaultPoll
	}
	return c
}

// LeaseTTL is how long the producer's lease lasts unrenewed.
func (c CRL) LeaseTTL() time.Duration { return crlDefaultLeaseTTLPoll * c.Effective().Poll }

// Validate checks the section with its defaults applied. A CRL must be
// re-issued at least an hour before the last one's nextUpdate.
func (c CRL) Validate() error {
	e := c.Effective()
	switch {
	case e.Validity <= 0 || e.Validity > CRLMaxValidity:
		return fmt.Errorf("crl.validity: %v is outside (0, %v]", e.Validity, CRLMaxValidity)
	case e.RootValidity <= 0 || e.RootValidity > CRLMaxRootValidity:
		return fmt.Errorf("crl.root_validity: %v is outside (0, %v]", e.RootValidity, CRLMaxRootValidity)
	case e.Poll <= 0 || e.Poll > CRLMaxPoll:
		return fmt.Errorf("crl.poll: %v is outside (0, %v]", e.Poll, CRLMaxPoll)
	case e.Interval <= 0 || e.Interval > e.Validity-crlMinIntervalMargin:
		return fmt.Errorf("crl.interval: %v must be positive and at least %v shorter than crl.validity %v",
			e.Interval, crlMinIntervalMargin, e.Validity)
	}
	return nil
}
