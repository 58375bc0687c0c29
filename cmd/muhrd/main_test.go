package main

import (
	"context"
	"github.com/muhr-pki/muhr/internal/testlog"
	"github.com/muhr-pki/muhr/internal/testpki"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = testlog.Buffer

// writeConfig writes a muhrd.yaml with the database section db and any
// extra top-level sections; the HSM module does not exist, so a process
// that logs in to the token fails.
func writeConfig(t *testing.T, db string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	pin := filepath.Join(dir, "user.pin")
	if err := os.WriteFile(pin, []byte("123456"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := "listen: 127.0.0.1:0\nops_listen: 127.0.0.1:0\ndatabase:\n" + db +
		"hsm:\n  module: /nonexistent/libpkcs11.so\n  token_label: t\n  pin_file: user.pin\n" + strings.Join(extra, "")
	p := filepath.Join(dir, "muhrd.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const tsaSection = "tsa:\n  enabled: true\n  signer_ca: qca-demo\n  require_sync: false\n"

// runShort runs muhrd with the real role table; a start that should fail
// must fail well before the deadline.
func runShort(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var stderr syncBuffer
	code := runWith(ctx, args, &stderr, roleTable(), nil, false)
	if ctx.Err() != nil {
		t.Fatalf("muhrd served until the deadline:\n%s", stderr.String())
	}
	return code, stderr.String()
}

func TestDatabaseUnreachableNamesItAndFails(t *testing.T) {
	cases := map[string]struct{ db, want string }{
		"sqlite":   {"  driver: sqlite\n  path: /nonexistent-dir/sub/muhr.db\n", "/nonexistent-dir/sub/muhr.db"},
		"postgres": {"  driver: postgres\n  dsn: host=127.0.0.1 port=1 user=muhr dbname=muhr connect_timeout=2\n", "127.0.0.1"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			for _, roles := range []string{"repository", "tsa"} { // reading and writing
				code, stderr := runShort(t, "--config", writeConfig(t, c.db, tsaSection), "--roles", roles)
				if code != exitError {
					t.Fatalf("--roles %s: exit %d without its database", roles, code)
				}
				if !strings.Contains(stderr, c.want) {
					t.Fatalf("--roles %s: error does not name %s:\n%s", roles, c.want, stderr)
				}
			}
		})
	}
}

func TestUnknownConfigKeyFails(t *testing.T) {
	code, stderr := runShort(t, "--config", writeConfig(t, "  driver: sqlite\n  path: x.db\n  pasword_file: x\n"))
	if code == 0 {
		t.Fatal("unknown key accepted")
	}
	if !strings.Contains(stderr, "pasword_file") || !strings.Contains(stderr, "line 6") {
		t.Fatalf("error does not name the key and line:\n%s", stderr)
	}
}

// A role that signs logs in to the token, and a bad module is named.
func TestHSMModuleWrongFails(t *testing.T) {
	p := writeConfig(t, "  driver: sqlite\n  path: "+filepath.Join(t.TempDir(), "m.db")+"\n", tsaSection)
	code, stderr := runShort(t, "--config", p)
	if code != exitError {
		t.Fatalf("exit %d: muhrd started without its HSM module", code)
	}
	if !strings.Contains(stderr, "/nonexistent/libpkcs11.so") {
		t.Fatalf("error does not name the module path:\n%s", stderr)
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A reading role on a database whose schema is behind refuses to start and
// names the command to run with this very config, not a placeholder.
func TestSchemaBehindNamesTheConfig(t *testing.T) {
	p := writeConfig(t, "  driver: sqlite\n  path: "+filepath.Join(t.TempDir(), "empty.db")+"\n")
	code, stderr := runShort(t, "--config", p, "--roles", "repository")
	if code != exitError || !strings.Contains(stderr, "muhr db migrate --config "+p+"`") {
		t.Fatalf("exit %d; want %d naming `muhr db migrate --config %s`:\n%s", code, exitError, p, stderr)
	}
}

// A tsa role on a database without a ceremony says what to run, not
// "store: not found".
func TestTSAWithoutCeremonyNamesTheCeremony(t *testing.T) {
	tok := testpki.SoftHSM(t)
	t.Setenv("SOFTHSM2_CONF", tok.Conf)
	dir := t.TempDir()
	body := "listen: 127.0.0.1:0\nops_listen: 127.0.0.1:0\ndatabase:\n  driver: sqlite\n  path: " + migratedSQLite(t) +
		"\nhsm:\n  module: " + tok.Module + "\n  token_label: " + tok.Label + "\n  pin_file: " + tok.PINFile + "\n" + tsaSection
	p := filepath.Join(dir, "muhrd.yaml")
	writeFile(t, p, body)
	code, stderr := runShort(t, "--config", p, "--roles", "tsa")
	if code == exitOK || !strings.Contains(stderr, "muhr ceremony run") || !strings.Contains(stderr, `"qca-demo"`) {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
}
