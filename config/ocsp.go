package config

import (
	"fmt"
	"time"
)

// OCSP configures the OCSP responder (muhrd role ocsp). It answers for
// every issuing CA that has a delegated OCSP signer.
type OCSP struct {
	Enabled bool `yaml:"enabled"`
	// Validity is nextUpdate − thisUpdate of every response. Cached
	// responses are re-signed after a quarter of it, never served past half
	// of it while the database answers. Default 24h.
	Validity time.Duration `yaml:"validity"`
	// RefreshInterval is how often the refresher walks the certificates
	// and re-signs what is due. Default validity/8; below validity/4.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// RefreshRate bounds the refresher's signatures per second, so a
	// round over a million certificates stays gentle on the token and
	// the CPU. Default 500 (a million in about 35 minutes).
	RefreshRate int `yaml:"refresh_rate"`
}

// OCSP defaults and limits.
const (
	OCSPDefaultValidity = 24 * time.Hour
	OCSPMinValidity     = time.Minute
	// OCSPMaxValidity: the CA/Browser Forum's 10 days; EN 319 411 asks
	// no longer.
	OCSPMaxValidity = 10 * 24 * time.Hour
	// OCSPDefaultRefreshRate: signatures per second of the refresher.
	OCSPDefaultRefreshRate = 500
)

func (o *OCSP) applyDefaults() {
	if o.Validity == 0 {
		o.Validity = OCSPDefaultValidity
	}
	if o.RefreshInterval == 0 {
		o.RefreshInterval = o.Validity / 8
	}
	if o.RefreshRate == 0 {
		o.RefreshRate = OCSPDefaultRefreshRate
	}
}

func (o *OCSP) validate() error {
	if !o.Enabled {
		return nil
	}
	if o.Validity < OCSPMinValidity || o.Validity > OCSPMaxValidity {
		return fmt.Errorf("ocsp.validity: %s is outside [%s, %s]", o.Validity, OCSPMinValidity, OCSPMaxValidity)
	}
	if o.RefreshRate < 1 || o.RefreshRate > 100000 {
		return fmt.Errorf("ocsp.refresh_rate: %d signatures per second is outside [1, 100000]", o.RefreshRate)
	}
	if o.RefreshInterval <= 0 || o.RefreshInterval >= o.Validity/4 {
		return fmt.Errorf("ocsp.refresh_interval: %s must be positive and below validity/4 (%s), so answers are re-signed before half their validity",
			o.RefreshInterval, o.Validity/4)
	}
	return nil
}
