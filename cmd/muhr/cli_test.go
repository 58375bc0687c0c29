package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/muhr-pki/muhr/internal/testpki"
)

// run executes the muhr command line in-process.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// center writes a muhrd.yaml for a fresh SoftHSM token and SQLite file.
func testCenter(t *testing.T) (dir, cfg string) {
	t.Helper()
	tok := testpki.SoftHSM(t)
	dir = t.TempDir()
	cfg = filepath.Join(dir, "muhrd.yaml")
	body := "listen: 127.0.0.1:0\npublic_url: http://127.0.0.1:8080\ndatabase:\n  driver: sqlite\n  path: muhr.db\n" +
		"hsm:\n  module: " + tok.Module + "\n  token_label: " + tok.Label + "\n  pin_file: " + tok.PINFile + "\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

func TestCeremonyAuditVerifyAndTamper(t *testing.T) {
	dir, cfg := testCenter(t)
	if out, err := run(t, "db", "migrate", "--config", cfg); err != nil {
		t.Fatalf("db migrate: %v\n%s", err, out)
	}
	plan, err := os.ReadFile("../../configs/ceremony-demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	planPath := filepath.Join(dir, "ceremony.yaml")
	if err := os.WriteFile(planPath, plan, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "ceremony", "run", "--config", planPath, "--ca-dir", filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatalf("ceremony: %v\n%s", err, out)
	}
	for _, want := range []string{"root-demo", "sha256=", "CN=Muhr Demo National Root CA", "qca-demo-ocsp",
		"organizationIdentifier=NTRTJ-0000000001", "O=Маркази миллии сертификатсиякунӣ (DEMO)"} {
		if !strings.Contains(out, want) {
			t.Errorf("ceremony output lacks %q:\n%s", want, out)
		}
	}
	for _, id := range []string{"root-demo", "qca-demo", "mgmt-demo"} {
		if _, err := os.Stat(filepath.Join(dir, "ca", id+".pem")); err != nil {
			t.Errorf("CA %s not written: %v", id, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ca", "qca-demo-ocsp.pem")); err == nil {
		t.Error("a signer certificate was written with the CA certificates")
	}
	if out, err := run(t, "ceremony", "run", "--config", planPath); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("second ceremony: %v\n%s", err, out)
	}

	out, err = run(t, "audit", "verify", "--config", cfg)
	if err != nil || !strings.Contains(out, "audit chain OK") {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "muhr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 4`); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "audit", "verify", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "chain broken at record 4:") {
		t.Fatalf("tampered record not named: %v", err)
	}
}

func TestCeremonyPlanUnknownKey(t *testing.T) {
	dir, _ := testCenter(t)
	plan, err := os.ReadFile("../../configs/ceremony-demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(plan), "actor: demo-security-officer\n", "actor: demo-security-officer\nactr: typo\n", 1)
	p := filepath.Join(dir, "ceremony.yaml")
	os.WriteFile(p, []byte(bad), 0o600)
	_, err = run(t, "ceremony", "run", "--config", p)
	if err == nil || !strings.Contains(err.Error(), "actr") || !strings.Contains(err.Error(), "line 5") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestHSMKeysNeverShowsPIN(t *testing.T) {
	tok := testpki.SoftHSM(t)
	bad := filepath.Join(t.TempDir(), "wrong.pin")
	os.WriteFile(bad, []byte("not-the-pin-93817"), 0o600)
	_, err := run(t, "hsm", "keys", "--module", tok.Module, "--label", tok.Label, "--pin-file", bad)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "pin") || strings.Contains(err.Error(), "not-the-pin-93817") {
		t.Fatalf("wrong PIN: %v", err)
	}
	out, err := run(t, "hsm", "keys", "--module", tok.Module, "--label", tok.Label, "--pin-file", tok.PINFile)
	if err != nil {
		t.Fatalf("hsm keys: %v\n%s", err, out)
	}
}
