package storeopen_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/config"
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
	open := func(content string, mode os.FileMode) error {
		p := filepath.Join(dir, "pw")
		os.Remove(p)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		_, err := storeopen.Open(t.Context(), config.Database{Driver: "postgres", DSN: dsn, PasswordFile: p})
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("error shows the password: %v", err)
		}
		return err
	}
	if err := open("s3cret\n", 0o644); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("world-readable password file: %v", err)
	}
	if err := open("\n", 0o600); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty password file: %v", err)
	}
	// A good file gets as far as connecting.
	if err := open("s3cret\n", 0o600); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("good password file, no server: %v", err)
	}
	_, err := storeopen.Open(t.Context(), config.Database{Driver: "postgres", DSN: dsn, PasswordFile: filepath.Join(dir, "nope")})
	if err == nil || !strings.Contains(err.Error(), "password_file") {
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
