package config

import (
	"strings"
	"testing"
)

func TestAdminAddr(t *testing.T) {
	c := &Config{Listen: "127.0.0.1:8080"}
	ops := "127.0.0.1:9090"
	c.OpsListen = &ops
	if a, err := c.AdminAddr(""); err != nil || a != DefaultAdminListen {
		t.Fatalf("default: %q %v", a, err)
	}
	c.AdminListen = "0.0.0.0:9443"
	if a, err := c.AdminAddr(""); err != nil || a != "0.0.0.0:9443" {
		t.Fatalf("admin_listen: %q %v", a, err)
	}
	if a, err := c.AdminAddr("127.0.0.1:7443"); err != nil || a != "127.0.0.1:7443" {
		t.Fatalf("$MUHR_ADMIN_LISTEN wins: %q %v", a, err)
	}
	for over, want := range map[string]string{"nonsense": "$MUHR_ADMIN_LISTEN", "127.0.0.1:8080": "public or operations"} {
		if _, err := c.AdminAddr(over); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v", over, err)
		}
	}
	c.AdminListen = ops
	if _, err := c.AdminAddr(""); err == nil || !strings.Contains(err.Error(), "admin_listen") {
		t.Errorf("admin_listen on the ops address: %v", err)
	}
}
