package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "muhrd.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const good = `listen: 127.0.0.1:9000
database:
  driver: sqlite
  path: muhr.db
hsm:
  module: /usr/lib/softhsm/libsofthsm2.so
  token_label: muhr
  pin_file: secrets/user.pin
http:
  read_header_timeout: 2s
`

func TestLoadDefaultsAndPaths(t *testing.T) {
	p := write(t, good)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p)
	if c.Database.Path != filepath.Join(dir, "muhr.db") || c.HSM.PINFile != filepath.Join(dir, "secrets/user.pin") {
		t.Fatalf("paths not resolved: %+v", c)
	}
	if c.PublicURL != "http://127.0.0.1:9000" {
		t.Fatalf("public_url default = %q", c.PublicURL)
	}
	if c.HTTP.ReadHeaderTimeout != 2*time.Second || c.HTTP.WriteTimeout == 0 || c.HTTP.MaxBodyBytes == 0 {
		t.Fatalf("http limits: %+v", c.HTTP)
	}
}

func TestUnknownKeyNamesKeyAndLine(t *testing.T) {
	p := write(t, strings.Replace(good, "  token_label: muhr\n", "  token_label: muhr\n  pin: 1234\n", 1))
	_, err := Load(p)
	if err == nil {
		t.Fatal("unknown key accepted")
	}
	if !strings.Contains(err.Error(), "line 8") || !strings.Contains(err.Error(), "pin") {
		t.Fatalf("error does not name key and line: %v", err)
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	cases := map[string]string{
		"database.driver": strings.Replace(good, "driver: sqlite", "driver: mysql", 1),
		"hsm.pin_file":    strings.Replace(good, "  pin_file: secrets/user.pin\n", "", 1),
		"database.dsn":    strings.Replace(good, "driver: sqlite", "driver: postgres\n  dsn: host=db password=x", 1),
		"listen":          strings.Replace(good, "127.0.0.1:9000", "nowhere", 1),
	}
	for key, body := range cases {
		_, err := Load(write(t, body))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: err = %v", key, err)
		}
	}
}

func TestIssuanceValidation(t *testing.T) {
	base := good + "issuance:\n  policy_oid: 1.3.6.1.4.1.59999.1.1\n"
	if _, err := Load(write(t, base+"  pds:\n    - {url: https://x.tj/pds/en, language: en}\n")); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"issuance.pds":                     base + "  pds:\n    - {url: https://x.tj/pds/ru, language: ru}\n",
		"issuance.pds[0].url":              base + "  pds:\n    - {url: http://x.tj/pds/en, language: en}\n",
		"issuance.policy_oid":              strings.Replace(base, "59999", "059999", 1) + "  pds:\n    - {url: https://x.tj/en, language: en}\n",
		"issuance.personal_number_pattern": base + "  pds:\n    - {url: https://x.tj/en, language: en}\n  personal_number_pattern: '[0-9'\n",
	}
	for key, body := range cases {
		if _, err := Load(write(t, body)); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: err = %v", key, err)
		}
	}
}
