package config

import (
	"fmt"
	"net"
)

// DefaultAdminListen is the officer API's address when admin_listen is
// absent: loopback only.
const DefaultAdminListen = "127.0.0.1:8443"

// RA configures registration (the ra role and its officer API).
type RA struct {
	// Enabled turns the ra role on in the default role set.
	Enabled bool `yaml:"enabled"`
	// EvidenceDir keeps scans of identity documents sent at registration;
	// empty keeps only their SHA-256.
	EvidenceDir string `yaml:"evidence_dir"`
	// AgreementVersion and PDSVersion are recorded when a registration
	// names none (default 1.0).
	AgreementVersion string `yaml:"agreement_version"`
	PDSVersion       string `yaml:"pds_version"`
}

// AdminAddr is the officer API's address: override (from
// $MUHR_ADMIN_LISTEN, read by the command), else admin_listen, else
// DefaultAdminListen.
func (c *Config) AdminAddr(override string) (string, error) {
	addr := c.AdminListen
	key := "admin_listen"
	if override != "" {
		addr, key = override, "$MUHR_ADMIN_LISTEN"
	}
	if addr == "" {
		addr = DefaultAdminListen
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("%s: %q is not host:port", key, addr)
	}
	if addr == c.Listen || addr == c.OpsAddr() {
		return "", fmt.Errorf("%s: %q is also the public or operations listener", key, addr)
	}
	return addr, nil
}
