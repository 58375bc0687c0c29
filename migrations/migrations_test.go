package migrations_test

import (
	"io/fs"
	"slices"
	"testing"

	"github.com/muhr-pki/muhr/migrations"
)

func names(t *testing.T, d migrations.Dialect) []string {
	t.Helper()
	fsys, err := migrations.FS(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// The dialects move in lockstep: a schema change is written for both, with
// the same version, or the contract suite would test different schemas.
func TestDialectsInLockstep(t *testing.T) {
	pg, lite := names(t, migrations.Postgres), names(t, migrations.SQLite)
	if len(pg) == 0 {
		t.Fatal("no embedded migrations")
	}
	if !slices.Equal(pg, lite) {
		t.Fatalf("postgres has %v, sqlite has %v", pg, lite)
	}
}

func TestUnknownDialect(t *testing.T) {
	if _, err := migrations.FS("oracle"); err == nil {
		t.Fatal("FS(oracle) succeeded")
	}
}
