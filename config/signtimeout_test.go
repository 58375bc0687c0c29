package config

import (
	"strings"
	"testing"
	"time"
)

func TestSignTimeout(t *testing.T) {
	c, err := Load(write(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if c.HSM.SignTimeout != 10*time.Second {
		t.Fatalf("hsm.sign_timeout default = %v", c.HSM.SignTimeout)
	}
	set := func(v string) string {
		return strings.Replace(good, "  pin_file: secrets/user.pin\n", "  pin_file: secrets/user.pin\n  sign_timeout: "+v+"\n", 1)
	}
	if c, err := Load(write(t, set("2s"))); err != nil || c.HSM.SignTimeout != 2*time.Second {
		t.Fatalf("hsm.sign_timeout 2s: %v, %v", c, err)
	}
	for _, bad := range []string{"-1s", "6m"} {
		if _, err := Load(write(t, set(bad))); err == nil || !strings.Contains(err.Error(), "hsm.sign_timeout") {
			t.Errorf("sign_timeout %s: %v", bad, err)
		}
	}
}
