// Package migrations holds the SQL schema of each store dialect, embedded in
// the binaries, and applies it with goose: each migration exactly once, in
// its own transaction, recorded in the schema_migrations table.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialect names one SQL dialect; its migrations live in a directory of the
// same name.
type Dialect string

// Dialects with migrations.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Table records which migrations were applied.
const Table = "schema_migrations"

// lockID is the PostgreSQL advisory lock key that serialises concurrent
// migrators (muhrd starting while an operator runs `muhr db migrate`).
const lockID int64 = 0x6d756872_6d696772 // "muhrmigr"

// FS returns the embedded migrations of a dialect.
func FS(d Dialect) (fs.FS, error) {
	switch d {
	case Postgres, SQLite:
		return fs.Sub(files, string(d))
	}
	return nil, fmt.Errorf("migrations: unknown dialect %q", d)
}

// Applied is one migration that Up applied.
type Applied struct {
	Version  int64
	Name     string
	Duration time.Duration
}

// Up applies the migrations of fsys that db has not seen yet, in version
// order, and reports what it applied (nothing when the schema is current).
// A failing migration is rolled back whole and is not recorded; the ones
// before it stay applied.
func Up(ctx context.Context, db *sql.DB, d Dialect, fsys fs.FS) ([]Applied, error) {
	opts := []goose.ProviderOption{
		goose.WithTableName(Table),
		goose.WithDisableGlobalRegistry(true),
	}
	var gd goose.Dialect
	switch d {
	case Postgres:
		gd = goose.DialectPostgres
		// Poll every second for up to five minutes: a long migration in
		// another process is worth waiting for, a dead one is not.
		l, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(l))
	case SQLite:
		// SQLite has no session lock; the store is single-process and each
		// migration runs in a BEGIN IMMEDIATE transaction.
		gd = goose.DialectSQLite3
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q", d)
	}
	p, err := goose.NewProvider(gd, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: load: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		var pe *goose.PartialError
		if errors.As(err, &pe) && pe.Failed != nil && pe.Failed.Source != nil {
			return applied(pe.Applied), fmt.Errorf("migrations: %s failed and was rolled back: %w",
				path.Base(pe.Failed.Source.Path), pe.Err)
		}
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return applied(res), nil
}

func applied(rs []*goose.MigrationResult) []Applied {
	out := make([]Applied, 0, len(rs))
	for _, r := range rs {
		if r == nil || r.Source == nil {
			continue
		}
		out = append(out, Applied{Version: r.Source.Version, Name: path.Base(r.Source.Path), Duration: r.Duration})
	}
	return out
}
