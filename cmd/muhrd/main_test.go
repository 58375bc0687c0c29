package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, db string) string {
	t.Helper()
	dir := t.TempDir()
	pin := filepath.Join(dir, "user.pin")
	if err := os.WriteFile(pin, []byte("123456"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := "listen: 127.0.0.1:0\ndatabase:\n" + db + "hsm:\n  module: /nonexistent/libpkcs11.so\n  token_label: t\n  pin_file: user.pin\n"
	p := filepath.Join(dir, "muhrd.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDatabaseUnreachableNamesItAndFails(t *testing.T) {
	cases := map[string]struct{ db, want string }{
		"sqlite":   {"  driver: sqlite\n  path: /nonexistent-dir/sub/muhr.db\n", "/nonexistent-dir/sub/muhr.db"},
		"postgres": {"  driver: postgres\n  dsn: host=127.0.0.1 port=1 user=muhr dbname=muhr connect_timeout=2\n", "127.0.0.1"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run([]string{"--config", writeConfig(t, c.db)}, &stderr)
			if code == 0 {
				t.Fatal("muhrd started without its database")
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Fatalf("error does not name %s:\n%s", c.want, stderr.String())
			}
		})
	}
}

func TestUnknownConfigKeyFails(t *testing.T) {
	p := writeConfig(t, "  driver: sqlite\n  path: x.db\n  pasword_file: x\n")
	var stderr bytes.Buffer
	if code := run([]string{"--config", p}, &stderr); code == 0 {
		t.Fatal("unknown key accepted")
	}
	if !strings.Contains(stderr.String(), "pasword_file") || !strings.Contains(stderr.String(), "line 5") {
		t.Fatalf("error does not name the key and line:\n%s", stderr.String())
	}
}

func TestHSMModuleWrongFails(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, "  driver: sqlite\n  path: "+filepath.Join(dir, "m.db")+"\n")
	var stderr bytes.Buffer
	if code := run([]string{"--config", p}, &stderr); code == 0 {
		t.Fatal("muhrd started without its HSM module")
	}
	if !strings.Contains(stderr.String(), "/nonexistent/libpkcs11.so") {
		t.Fatalf("error does not name the module path:\n%s", stderr.String())
	}
}
