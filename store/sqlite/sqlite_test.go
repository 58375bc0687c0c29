package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/sqlite"
	"github.com/muhr-pki/muhr/store/storetest"
)

func open(t *testing.T, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "muhr.db"), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// rawDB opens the same file without the store, as an intruder would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestContractRaw(t *testing.T) {
	storetest.RunRaw(t, func(t *testing.T) (store.Store, storetest.Exec) {
		s := open(t)
		db := rawDB(t, s.Path())
		return s, func(ctx context.Context, q string) error {
			_, err := db.ExecContext(ctx, q)
			return err
		}
	})
}

func TestMigrateReport(t *testing.T) {
	s := open(t)
	defer s.Close()
	applied, err := s.MigrateReport(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 || applied[0].Version != 1 || applied[0].Name != "00001_init.sql" {
		t.Fatalf("first migration run applied %+v, want 00001_init.sql first", applied)
	}
	if again, err := s.MigrateReport(t.Context()); err != nil || len(again) != 0 {
		t.Fatalf("second run applied %+v, %v; want nothing", again, err)
	}
}

func TestFileModes(t *testing.T) {
	s := open(t)
	defer s.Close()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{s.Path(), s.Path() + "-wal", s.Path() + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), m)
		}
	}
}

// badMigrations' second migration creates a table and then fails.
var badMigrations = fstest.MapFS{
	"00001_good.sql": {Data: []byte("-- +goose Up\nCREATE TABLE good (x INTEGER);\n")},
	"00002_bad.sql": {Data: []byte("-- +goose Up\nCREATE TABLE half (x INTEGER);\n" +
		"INSERT INTO no_such_table VALUES (1);\n")},
}

func TestFailedMigrationLeavesNothing(t *testing.T) {
	s := open(t, sqlite.WithMigrations(badMigrations))
	defer s.Close()
	for range 2 { // a retry fails the same way and changes nothing
		err := s.Migrate(t.Context())
		if err == nil || !strings.Contains(err.Error(), "00002_bad.sql") {
			t.Fatalf("Migrate = %v, want an error naming 00002_bad.sql", err)
		}
		db := rawDB(t, s.Path())
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'half'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("table of the failed migration: count %d, %v; want absent", n, err)
		}
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'good'`).Scan(&n); err != nil || n != 1 {
			t.Errorf("table of the good migration: count %d, %v; want present", n, err)
		}
		var v int64
		if err := db.QueryRow(`SELECT max(version_id) FROM schema_migrations`).Scan(&v); err != nil || v != 1 {
			t.Errorf("recorded version %d, %v; want 1", v, err)
		}
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-dir", "muhr.db")
	_, err := sqlite.Open(t.Context(), path)
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open = %v, want ErrUnavailable naming %s", err, path)
	}
}

func TestOpenNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sqlite.Open(t.Context(), path)
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open = %v, want ErrUnavailable naming %s", err, path)
	}
}
