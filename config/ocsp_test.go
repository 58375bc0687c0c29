package config

import (
	"strings"
	"testing"
	"time"
)

func TestOCSPDefaultsAndValidation(t *testing.T) {
	c, err := Load(write(t, good+"ocsp:\n  enabled: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.OCSP.Validity != 24*time.Hour || c.OCSP.RefreshInterval != 3*time.Hour || c.OCSP.UnissuedCache != 10000 {
		t.Fatalf("defaults: %+v", c.OCSP)
	}
	c, err = Load(write(t, good+"ocsp:\n  enabled: true\n  validity: 4h\n"))
	if err != nil || c.OCSP.RefreshInterval != 30*time.Minute {
		t.Fatalf("validity 4h: %+v %v", c.OCSP, err)
	}
	for body, key := range map[string]string{
		"  validity: 30s\n":                         "ocsp.validity",
		"  validity: 241h\n":                        "ocsp.validity",
		"  validity: 4h\n  refresh_interval: 1h\n":  "ocsp.refresh_interval",
		"  validity: 4h\n  refresh_interval: -1s\n": "ocsp.refresh_interval",
		"  unissued_cache: -1\n":                    "ocsp.unissued_cache",
		"  unissued_cache: 1000001\n":               "ocsp.unissued_cache",
	} {
		_, err := Load(write(t, good+"ocsp:\n  enabled: true\n"+body))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: %v, want an error naming %s", body, err, key)
		}
	}
}
