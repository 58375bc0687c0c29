// Package testpki holds the helpers Muhr's tests share: the real parts a test
// needs (SoftHSM2 token, PostgreSQL database, OpenSSL) and throwaway PKI
// fixtures. Production code never imports it.
package testpki

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether missing real parts must fail tests instead of
// skipping them (CI=true, as scripts/test.sh sets).
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing stops the test because a real part it needs is absent: a failure
// under CI=true, a skip on a developer machine.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and a required part is missing: "+format, args...)
	}
	t.Skipf("skipping, required part missing: "+format, args...)
}

// Tool returns the path of an external program the test runs (openssl,
// softhsm2-util, ...), or stops the test through Missing.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not on PATH (scripts/test.sh installs it)", name)
	}
	return p
}
