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
	"slices"
	"strconv"
	"strings"
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
//
// Migrators in several processes queue on one lock: a PostgreSQL session
// advisory lock, or on SQLite an exclusive flock of lockFile (a sidecar of
// the database file, which the kernel releases if its holder dies). goose
// takes the lock before it creates its version table and lists what is
// applied, so whoever comes second re-reads the version and finds nothing
// left to do.
func Up(ctx context.Context, db *sql.DB, d Dialect, fsys fs.FS, lockFile string) ([]Applied, error) {
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
		if lockFile == "" {
			return nil, errors.New("migrations: SQLite needs a lock file")
		}
		gd = goose.DialectSQLite3
		opts = append(opts, goose.WithSessionLocker(&fileLocker{path: lockFile}))
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

// Status is where a database stands against the migrations of fsys.
type Status struct {
	Current int64   // highest applied version; 0 for an empty database
	Latest  int64   // highest version in fsys
	Pending []int64 // versions in fsys not applied, in order
}

// Check reads the database's migration state without writing anything (goose's
// own status calls create the version table).
func Check(ctx context.Context, db *sql.DB, d Dialect, fsys fs.FS) (Status, error) {
	var exists string
	switch d {
	case Postgres:
		exists = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
	case SQLite:
		exists = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	default:
		return Status{}, fmt.Errorf("migrations: unknown dialect %q", d)
	}
	var st Status
	known, err := versions(fsys)
	if err != nil {
		return st, err
	}
	if len(known) > 0 {
		st.Latest = known[len(known)-1]
	}
	applied := map[int64]bool{}
	var n int
	if err := db.QueryRowContext(ctx, exists, Table).Scan(&n); err != nil {
		return st, fmt.Errorf("migrations: read schema version: %w", err)
	}
	if n > 0 {
		// goose's table: a row per up or down; the newest row of a version wins.
		rows, err := db.QueryContext(ctx, "SELECT version_id, is_applied FROM "+Table+" ORDER BY id")
		if err != nil {
			return st, fmt.Errorf("migrations: read schema version: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var v int64
			var ok bool
			if err := rows.Scan(&v, &ok); err != nil {
				return st, fmt.Errorf("migrations: read schema version: %w", err)
			}
			applied[v] = ok
		}
		if err := rows.Err(); err != nil {
			return st, fmt.Errorf("migrations: read schema version: %w", err)
		}
	}
	for v, ok := range applied {
		if ok && v > st.Current {
			st.Current = v
		}
	}
	for _, v := range known {
		if !applied[v] {
			st.Pending = append(st.Pending, v)
		}
	}
	return st, nil
}

// versions lists the migration versions in fsys, ascending: goose's file
// names, NNNNN_name.sql.
func versions(fsys fs.FS) ([]int64, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: list: %w", err)
	}
	var out []int64
	for _, n := range names {
		num, _, ok := strings.Cut(n, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migrations: %s: name must start with a version number and '_'", n)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out, nil
}
