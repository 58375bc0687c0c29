package issuing

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/config"
)

func cfgWithValidity(v map[string]time.Duration) *config.Config {
	return &config.Config{PublicURL: "http://127.0.0.1:8080", Issuance: config.Issuance{
		PolicyOID: "1.3.6.1.4.1.59999.1.1",
		PDS:       []config.PDS{{URL: "https://muhr.example.tj/pds/en.pdf", Language: "en"}},
		Validity:  v,
	}}
}

// A misspelt profile in issuance.validity is refused at start, naming the
// key, instead of being silently ignored.
func TestSettingsRefusesUnknownValidityProfile(t *testing.T) {
	_, err := Settings(cfgWithValidity(map[string]time.Duration{"qes-persn": 8760 * time.Hour}))
	if !errors.Is(err, ca.ErrSettings) || !strings.Contains(err.Error(), "qes-persn") {
		t.Fatalf("Settings = %v, want ca.ErrSettings naming qes-persn", err)
	}
	if _, err := Settings(cfgWithValidity(map[string]time.Duration{"qes-person": 8760 * time.Hour})); err != nil {
		t.Fatalf("Settings with a known profile: %v", err)
	}
}
