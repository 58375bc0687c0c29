package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestRevocationDefaultsAndBounds(t *testing.T) {
	e := Revocation{}.Effective()
	if e.MaxHold != 30*24*time.Hour || e.OCSPSignerValidity != 30*24*time.Hour || e.HoldCheckInterval != 5*time.Minute ||
		e.OCSPSignerCheckInterval != time.Hour {
		t.Fatalf("defaults %+v", e)
	}
	if err := (Revocation{}).Validate(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	for _, c := range []struct {
		r    Revocation
		want string
	}{
		{Revocation{MaxHold: -time.Hour}, "revocation.max_hold"},
		{Revocation{MaxHold: 400 * 24 * time.Hour}, "revocation.max_hold"},
		{Revocation{MaxHold: time.Hour, HoldCheckInterval: 2 * time.Hour}, "revocation.hold_check_interval"},
		{Revocation{OCSPSignerValidity: time.Minute}, "revocation.ocsp_signer_validity"},
		{Revocation{OCSPSignerValidity: 91 * 24 * time.Hour}, "revocation.ocsp_signer_validity"},
		{Revocation{OCSPSignerValidity: 6 * time.Hour, OCSPSignerCheckInterval: 2 * time.Hour}, "revocation.ocsp_signer_check_interval"},
	} {
		if err := c.r.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.r, err, c.want)
		}
	}
}

// configs/muhrd-revocation.yaml, appended to a minimal muhrd.yaml, loads
// and validates, and says what the defaults are.
func TestExampleRevocationConfig(t *testing.T) {
	b, err := os.ReadFile("../configs/muhrd-revocation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(write(t, good+string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Revocation.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := c.CRL.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Revocation.Effective() != (Revocation{}).Effective() || c.OCSP.RefreshRate != OCSPDefaultRefreshRate ||
		c.OCSP.UnissuedCache != OCSPDefaultUnissuedCache {
		t.Errorf("the example's values %+v %+v are not the defaults", c.Revocation, c.OCSP)
	}
}

func TestOCSPRefreshRate(t *testing.T) {
	for _, body := range []string{"  refresh_rate: -1\n", "  refresh_rate: 1000000\n"} {
		if _, err := Load(write(t, good+"ocsp:\n  enabled: true\n"+body)); err == nil || !strings.Contains(err.Error(), "ocsp.refresh_rate") {
			t.Errorf("%q: %v", body, err)
		}
	}
}
