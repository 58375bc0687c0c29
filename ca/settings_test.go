package ca_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/ca"
)

func TestProfileSettingsValidity(t *testing.T) {
	s := settings()
	s.Validity = map[string]time.Duration{"qes-person": 17520 * time.Hour, "tls-server": 720 * time.Hour}
	if err := s.Validate(); err != nil {
		t.Fatalf("known profiles refused: %v", err)
	}
	for name, d := range map[string]time.Duration{"qes-persn": time.Hour, "qes-person/v1": time.Hour, "": time.Hour, "tls-server": -time.Hour} {
		s.Validity = map[string]time.Duration{name: d}
		err := s.Validate()
		if !errors.Is(err, ca.ErrSettings) || !strings.Contains(err.Error(), "issuance.validity."+name+":") {
			t.Errorf("validity %q: %v", name, err)
			continue
		}
		if d > 0 && !strings.Contains(err.Error(), "known: qes-person, qseal-org, tls-server") {
			t.Errorf("validity %q: error does not list the profiles: %v", name, err)
		}
	}
}
