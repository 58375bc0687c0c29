package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTSADefaults(t *testing.T) {
	c, err := Load(write(t, good+"tsa:\n  enabled: true\n  signer_ca: qca-demo\n"))
	if err != nil {
		t.Fatal(err)
	}
	ts := c.TSA
	if ts.Accuracy != time.Second || ts.MaxOffset != 500*time.Millisecond || ts.DefaultPolicy != "0.4.0.2023.1.1" ||
		!slices.Equal(ts.Policies, []string{"0.4.0.2023.1.1"}) || !ts.SyncRequired() || ts.NTPInterval != time.Minute {
		t.Fatalf("defaults: %+v", ts)
	}
	// The guard's default tolerance shrinks with a finer accuracy, so the
	// accuracy always covers it plus genTime's precision.
	c, err = Load(write(t, good+"tsa:\n  enabled: true\n  signer_ca: qca-demo\n  accuracy: 300ms\n"))
	if err != nil || c.TSA.MaxOffset != 300*time.Millisecond-time.Microsecond {
		t.Fatalf("accuracy 300ms: max_offset %s, err %v", c.TSA.MaxOffset, err)
	}
	c, err = Load(write(t, good+"tsa:\n  enabled: true\n  signer_ca: qca-demo\n  accuracy: 400ms\n  max_offset: 399999us\n"))
	if err != nil {
		t.Fatalf("max_offset = accuracy - 1µs refused: %v", err)
	}
	c, err = Load(write(t, good+"tsa:\n  enabled: true\n  signer_ca: qca-demo\n  require_sync: false\n"))
	if err != nil || c.TSA.SyncRequired() {
		t.Fatalf("require_sync: false not honoured: %v", err)
	}
}

func TestTSAValidateNamesTheKey(t *testing.T) {
	for body, key := range map[string]string{
		"  accuracy: 2s\n":                                        "tsa.accuracy",
		"  accuracy: 1500ns\n":                                    "tsa.accuracy",
		"  accuracy: 400ms\n  max_offset: 450ms\n":                "tsa.accuracy",
		"  accuracy: 400ms\n  max_offset: 400ms\n":                "tsa.accuracy",
		"  max_offset: -1s\n":                                     "tsa.max_offset",
		"  policies: [1.2.x]\n":                                   "tsa.policies[0]",
		"  policies: [0.4.0.2023.1.1]\n  default_policy: 1.2.3\n": "tsa.default_policy",
		"  ntp_interval: 1s\n  ntp_timeout: 2s\n":                 "tsa.ntp_interval",
		"  ntp_servers: [':123']\n":                               "tsa.ntp_servers[0]",
	} {
		_, err := Load(write(t, good+"tsa:\n  enabled: true\n  signer_ca: qca-demo\n"+body))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: err = %v, want one naming %s", body, err, key)
		}
	}
	if _, err := Load(write(t, good+"tsa:\n  enabled: true\n")); err == nil || !strings.Contains(err.Error(), "tsa.signer_ca") {
		t.Errorf("missing signer_ca: %v", err)
	}
}
