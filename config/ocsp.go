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
	// UnissuedCache caps the answers kept in memory about serials under
	// our issuers that were never issued (any client can ask for random
	// ones); the oldest are evicted. Default 10000 (about 15 MB).
	UnissuedCache int `yaml:"unissued_cache"`
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
	// OCSPDefaultUnissuedCache: never-issued answers kept per responder.
	OCSPDefaultUnissuedCache = 10000
	OCSPMaxUnissuedCache     = 1000000
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
	if o.UnissuedCache == 0 {
		o.UnissuedCache = OCSPDefaultUnissuedCache
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
	if o.UnissuedCache < 1 || o.UnissuedCache > OCSPMaxUnissuedCache {
		return fmt.Errorf("ocsp.unissued_cache: %d answers is outside [1, %d]", o.UnissuedCache, OCSPMaxUnissuedCache)
	}
	if o.RefreshInterval <= 0 || o.RefreshInterval >= o.Validity/4 {
		return fmt.Errorf("ocsp.refresh_interval: %s must be positive and below validity/4 (%s), so answers are re-signed before half their validity",
			o.RefreshInterval, o.Validity/4)
	}
	return nil
}
