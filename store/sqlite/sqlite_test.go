package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/sqlite"
	"github.com/muhr-pki/muhr/store/sqlstore"
	"github.com/muhr-pki/muhr/store/storetest"
)

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

var backend = storetest.Backend{
	Fresh: func(t *testing.T) string { return filepath.Join(t.TempDir(), "muhr.db") },
	Open: func(ctx context.Context, path string, fsys fs.FS) (*sqlstore.Store, error) {
		var opts []sqlite.Option
		if fsys != nil {
			opts = append(opts, sqlite.WithMigrations(fsys))
		}
		return sqlite.Open(ctx, path, opts...)
	},
	Raw:         rawDB,
	BlockWrites: []string{"BEGIN IMMEDIATE"},
}

func TestMain(m *testing.M) {
	storetest.HelperMain(backend)
	os.Exit(m.Run())
}

func TestContract(t *testing.T) { storetest.Run(t, backend) }

func TestFileModes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "muhr.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + sqlite.LockSuffix} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), m)
		}
	}
}

// The durability settings are in force on the store's connections.
func TestPragmas(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "muhr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "10000"} {
		var got string
		if err := s.DB().QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil || !strings.EqualFold(got, want) {
			t.Errorf("PRAGMA %s = %q, %v; want %s", pragma, got, err, want)
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
