package storeopen_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/internal/secret"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/storeopen"
)

func TestUnreachable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-dir", "muhr.db")
	for _, c := range []struct {
		db   config.Database
		name string // what the error must name
	}{
		{config.Database{Driver: "sqlite", Path: missing}, missing},
		{config.Database{Driver: "postgres", DSN: "host=127.0.0.1 port=1 user=muhr dbname=muhr sslmode=disable connect_timeout=5"}, "host=127.0.0.1 port=1"},
	} {
		_, err := storeopen.Open(t.Context(), c.db)
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("Open(%s) = %v; want ErrUnavailable naming %q", c.db.Driver, err, c.name)
		}
		t.Logf("%s: %v", c.db.Driver, err)
	}
}

func TestUnknownDriver(t *testing.T) {
	if _, err := storeopen.Open(t.Context(), config.Database{Driver: "oracle"}); err == nil || !strings.Contains(err.Error(), "oracle") {
		t.Fatalf("Open = %v, want an error naming the driver", err)
	}
}

func TestPasswordFile(t *testing.T) {
	dir := t.TempDir()
	dsn := "host=127.0.0.1 port=1 user=muhr dbname=muhr sslmode=disable connect_timeout=5"
	p := filepath.Join(dir, "pw")
	open := func(content string, mode os.FileMode) error {
		os.Remove(p)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // not subject to the umask
			t.Fatal(err)
		}
		_, err := storeopen.Open(t.Context(), config.Database{Driver: "postgres", DSN: dsn, PasswordFile: p})
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("error shows the password: %v", err)
		}
		return err
	}
	// The same rules as the HSM PIN file: group bits are refused too.
	for _, mode := range []os.FileMode{0o644, 0o640, 0o660, 0o604} {
		err := open("s3cret\n", mode)
		if !errors.Is(err, secret.ErrFile) || !strings.Contains(err.Error(), "database.password_file") ||
			!strings.Contains(err.Error(), "chmod 600 "+p) {
			t.Errorf("password file mode %04o: %v", mode, err)
		}
	}
	if err := open("\n", 0o600); !errors.Is(err, secret.ErrFile) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty password file: %v", err)
	}
	// A good file gets as far as connecting, 0600 or 0400.
	for _, mode := range []os.FileMode{0o600, 0o400} {
		if err := open("s3cret\n", mode); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("good password file (%04o), no server: %v", mode, err)
		}
	}
	// Not a regular file: a directory, a named pipe.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{dir, fifo} {
		_, err := storeopen.Open(t.Context(), config.Database{Driver: "postgres", DSN: dsn, PasswordFile: f})
		if !errors.Is(err, secret.ErrFile) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("password file %s: %v", f, err)
		}
	}
	_, err := storeopen.Open(t.Context(), config.Database{Driver: "postgres", DSN: dsn, PasswordFile: filepath.Join(dir, "nope")})
	if err == nil || !strings.Contains(err.Error(), "password_file") || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing password file: %v", err)
	}
}

func TestOpenAndMigrate(t *testing.T) {
	for driver, db := range map[string]func(t *testing.T) config.Database{
		"sqlite": func(t *testing.T) config.Database {
			return config.Database{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "muhr.db")}
		},
		"postgres": func(t *testing.T) config.Database {
			return config.Database{Driver: "postgres", DSN: testpki.PostgresDSN(t)}
		},
	} {
		t.Run(driver, func(t *testing.T) {
			s, err := storeopen.Open(t.Context(), db(t))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			applied, err := s.MigrateReport(t.Context())
			if err != nil || len(applied) == 0 {
				t.Errorf("MigrateReport = %v, %v", applied, err)
			}
			if err := s.Ping(t.Context()); err != nil {
				t.Errorf("Ping: %v", err)
			}
		})
	}
}
