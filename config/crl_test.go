package config

import (
	"strings"
	"testing"
	"time"
)

func TestCRLDefaultsAndBounds(t *testing.T) {
	e := CRL{}.Effective()
	if e.Interval != 24*time.Hour || e.Validity != 7*24*time.Hour || e.RootValidity != e.Validity || e.Poll != 15*time.Second {
		t.Fatalf("defaults %+v", e)
	}
	if err := (CRL{}).Validate(); err != nil {
		t.Fatal(err)
	}
	if (CRL{Poll: 10 * time.Second}).LeaseTTL() != 30*time.Second {
		t.Fatal("lease TTL is not 3 polls")
	}
	for _, c := range []struct {
		crl  CRL
		want string
	}{
		{CRL{Validity: 8 * 24 * time.Hour}, "crl.validity"},
		{CRL{RootValidity: 400 * 24 * time.Hour}, "crl.root_validity"},
		{CRL{Poll: 2 * time.Minute}, "crl.poll"},
		{CRL{Interval: 7 * 24 * time.Hour}, "crl.interval"},
		{CRL{Interval: -time.Hour}, "crl.interval"},
	} {
		if err := c.crl.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.crl, err, c.want)
		}
	}
	if err := (CRL{RootValidity: 90 * 24 * time.Hour, Validity: 72 * time.Hour, Interval: 12 * time.Hour}).Validate(); err != nil {
		t.Fatal(err)
	}
}
