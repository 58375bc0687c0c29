package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func loadAudit(t *testing.T, audit string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "muhrd.yaml")
	body := "database: {driver: sqlite, path: muhr.db}\nhsm: {module: m.so, token_label: t, pin_file: pin}\n" + audit
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(p)
}

func TestAuditCheckpointDefaults(t *testing.T) {
	c, err := loadAudit(t, "")
	if err != nil {
		t.Fatal(err)
	}
	a := c.Audit
	if a.Checkpoints || a.Interval() != 10*time.Minute || a.CheckpointKey != "audit-checkpoint" ||
		!filepath.IsAbs(a.CheckpointDir) || filepath.Base(a.CheckpointDir) != "audit-checkpoints" {
		t.Fatalf("defaults %+v interval %v", a, a.Interval())
	}
	c, err = loadAudit(t, "audit: {checkpoints: true, checkpoint_interval: 0, checkpoint_dir: /var/lib/muhr/cp}\n")
	if err != nil || c.Audit.Interval() != 0 || c.Audit.CheckpointDir != "/var/lib/muhr/cp" {
		t.Fatalf("interval 0 (off): %+v %v", c, err)
	}
	for audit, want := range map[string]string{
		"audit: {checkpoint_interval: 500ms}\n":      "audit.checkpoint_interval",
		"audit: {checkpoint_interval: -1m}\n":        "audit.checkpoint_interval",
		"audit: {checkpoint_key: 'a b'}\n":           "audit.checkpoint_key",
		"audit: {checkpoint_key_algorithm: dsa}\n":   "audit.checkpoint_key_algorithm",
		"audit: {checkpoint_tsa_url: ftp://x/tsa}\n": "audit.checkpoint_tsa_url",
		"audit: {checkpoint_every: 1m}\n":            "checkpoint_every",
	} {
		if _, err := loadAudit(t, audit); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %s", audit, err, want)
		}
	}
}
