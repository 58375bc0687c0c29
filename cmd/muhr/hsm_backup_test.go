package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/hsm/softhsm"
)

// The ceremony leaves a verified backup; a token whose token.object is lost
// (and whose repair copy is gone too) is reported with the real cause and
// the exact restore command, and that command brings every key back.
func TestCeremonyBackupAndRestore(t *testing.T) {
	dir, cfg := testCenter(t)
	if out, err := run(t, "db", "migrate", "--config", cfg); err != nil {
		t.Fatalf("db migrate: %v\n%s", err, out)
	}
	plan, err := os.ReadFile("../../configs/ceremony-demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	planPath := filepath.Join(dir, "ceremony.yaml")
	os.WriteFile(planPath, plan, 0o600)
	out, err := run(t, "ceremony", "run", "--config", planPath)
	if err != nil {
		t.Fatalf("ceremony: %v\n%s", err, out)
	}
	backup := softhsm.Latest(filepath.Join(dir, "backup"))
	if backup == "" || !strings.Contains(out, "backed up token") || !strings.Contains(out, backup) {
		t.Fatalf("no backup after the ceremony (%q):\n%s", backup, out)
	}
	m, err := softhsm.Verify(backup)
	if err != nil {
		t.Fatal(err)
	}
	// 5 key pairs (10 objects) plus token.object and generation.
	if n := len(m.Files); n < 12 {
		t.Fatalf("backup holds %d files", n)
	}
	keysBefore, err := run(t, "hsm", "keys", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}

	// An explicit backup, refusing to overwrite.
	second := filepath.Join(t.TempDir(), "second")
	if out, err := run(t, "hsm", "backup", "--config", cfg, "--out", second); err != nil || !strings.Contains(out, "SHA-256 verified") {
		t.Fatalf("hsm backup: %v\n%s", err, out)
	}
	if _, err := run(t, "hsm", "backup", "--config", cfg, "--out", second); err == nil {
		t.Fatal("hsm backup over an existing directory")
	}

	// The keys' token.object is lost.
	tokenDir := filepath.Join(filepath.Dir(os.Getenv("SOFTHSM2_CONF")), "tokens")
	tdir := filepath.Join(tokenDir, m.Dir)
	os.Remove(filepath.Join(tdir, "token.object.muhr-good"))
	if err := os.WriteFile(filepath.Join(tdir, softhsm.TokenObject), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "hsm", "keys", "--config", cfg)
	if err == nil {
		t.Fatal("hsm keys on a lost token")
	}
	want := "fix: muhr hsm restore --config " + cfg + " --from " + backup
	for _, s := range []string{"token.object is empty", "killed during that rewrite", want} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q:\n%v", s, err)
		}
	}
	if strings.Contains(err.Error(), "tokens present: none") {
		t.Errorf("misleading error: %v", err)
	}

	out, err = run(t, "hsm", "restore", "--config", cfg, "--from", backup)
	if err != nil || !strings.Contains(out, "restored token") || !strings.Contains(out, "kept in") {
		t.Fatalf("hsm restore: %v\n%s", err, out)
	}
	keysAfter, err := run(t, "hsm", "keys", "--config", cfg)
	if err != nil || keysAfter != keysBefore {
		t.Fatalf("keys after restore: %v\n%s\nwant\n%s", err, keysAfter, keysBefore)
	}
}

func TestHSMRestoreRefusals(t *testing.T) {
	_, cfg := testCenter(t)
	if _, err := run(t, "hsm", "restore", "--config", cfg); err == nil || !strings.Contains(err.Error(), "--from is required") {
		t.Fatalf("restore without --from: %v", err)
	}
	if _, err := run(t, "hsm", "restore", "--config", cfg, "--from", t.TempDir()); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("restore from an empty directory: %v", err)
	}
	if _, err := run(t, "hsm", "backup", "--module", "/usr/lib/x/vendor-pkcs11.so", "--label", "x", "--out", t.TempDir()+"/b"); err == nil ||
		!strings.Contains(err.Error(), "vendor's tools") {
		t.Fatalf("backup of a non-SoftHSM module: %v", err)
	}
	// A backup of another token is refused unless told.
	_, other := testCenter(t)
	b := filepath.Join(t.TempDir(), "b")
	if _, err := run(t, "hsm", "backup", "--config", other, "--out", b); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "hsm", "restore", "--config", cfg, "--from", b); err == nil || !strings.Contains(err.Error(), "--other-token") {
		t.Fatalf("restore of another token: %v", err)
	}
}
