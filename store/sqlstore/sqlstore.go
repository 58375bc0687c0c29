// Package sqlstore is the one implementation of store.Store, on
// database/sql. Every query is written once; a Dialect supplies what differs
// between PostgreSQL and SQLite (placeholders, time encoding, constraint
// errors, the audit chain's lock). store/postgres and store/sqlite open a
// database and hand it here with their dialect.
//
// Adding a query: write it in the file of its domain (ca.go, issuance.go,
// tsa.go, audit.go) as a method of conn (reads, also available inside a
// transaction) or tx (writes), add it to the interface in package store, and
// add its case to store/storetest.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/muhr-pki/muhr/migrations"
	"github.com/muhr-pki/muhr/store"
)

// Config is what a backend package passes to New.
type Config struct {
	Dialect *Dialect
	// Target names the database in errors (file path or host and database),
	// never with credentials.
	Target string
	// Migrations replaces the embedded migrations (tests only) when set.
	Migrations fs.FS
	// MigrationLock is the sidecar file other SQLite migrators wait on;
	// PostgreSQL uses a session advisory lock instead.
	MigrationLock string
}

// Store is an open database. It implements store.Store.
type Store struct {
	conn
	db     *sql.DB
	target string
	fsys   fs.FS
	lock   string
}

var _ store.Store = (*Store)(nil)

// New wraps db, which the caller opened and configured; Close closes it.
func New(db *sql.DB, c Config) (*Store, error) {
	fsys := c.Migrations
	if fsys == nil {
		var err error
		if fsys, err = migrations.FS(c.Dialect.Migrations); err != nil {
			return nil, err
		}
	}
	return &Store{conn: conn{q: db, d: c.Dialect}, db: db, target: c.Target, fsys: fsys, lock: c.MigrationLock}, nil
}

// DB is the underlying pool, for the backends' start-up checks and for
// tests that inspect the database.
func (s *Store) DB() *sql.DB { return s.db }

// Target names the database without credentials.
func (s *Store) Target() string { return s.target }

func (s *Store) unavailable(err error) error {
	return fmt.Errorf("%s: %w: %w", s.target, store.ErrUnavailable, err)
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return s.unavailable(err)
	}
	return nil
}

// DefaultProbeTimeout bounds a Probe whose context has no deadline.
const DefaultProbeTimeout = 5 * time.Second

// Probe writes one row of health_probe in its own transaction. A write lock
// held elsewhere, a full or read-only disk or an unwritable WAL make it fail
// by ctx's deadline (DefaultProbeTimeout without one); the SQLite busy wait
// and PostgreSQL lock waits both end when ctx does.
func (s *Store) Probe(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultProbeTimeout)
		defer cancel()
	}
	_, err := s.db.ExecContext(ctx, s.d.rebind(`INSERT INTO health_probe (id, probed_at) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at`), s.d.time(time.Now()))
	if err != nil {
		return fmt.Errorf("%s: write probe: %w: %w", s.target, store.ErrUnavailable, err)
	}
	return nil
}

// Migrate applies pending migrations.
func (s *Store) Migrate(ctx context.Context) error {
	_, err := s.MigrateReport(ctx)
	return err
}

// MigrateReport applies pending migrations and says which. Concurrent
// migrators, in this process or others, queue on the migration lock and
// then see what the first one applied.
func (s *Store) MigrateReport(ctx context.Context) ([]migrations.Applied, error) {
	return migrations.Up(ctx, s.db, s.d.Migrations, s.fsys, s.lock)
}

// CheckSchema fails with store.ErrSchemaBehind when the database lacks a
// migration this binary has. It writes nothing.
func (s *Store) CheckSchema(ctx context.Context) error {
	st, err := migrations.Check(ctx, s.db, s.d.Migrations, s.fsys)
	if err != nil {
		return fmt.Errorf("%s: %w", s.target, err)
	}
	if len(st.Pending) > 0 {
		return fmt.Errorf("%s: %w: at version %d, this binary needs %d (%d migration(s) pending)",
			s.target, store.ErrSchemaBehind, st.Current, st.Latest, len(st.Pending))
	}
	return nil
}

// InTx runs fn in one transaction (BEGIN IMMEDIATE on SQLite, READ
// COMMITTED on PostgreSQL).
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w: %w", s.target, store.ErrUnavailable, err)
	}
	// Rolls back when fn fails or panics; a no-op after Commit.
	defer t.Rollback()
	if err := fn(ctx, &tx{conn: conn{q: t, d: s.d}}); err != nil {
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", s.target, err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs queries on the pool or a transaction: it implements
// store.Reader.
type conn struct {
	q querier
	d *Dialect
}

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.q.ExecContext(ctx, c.d.rebind(query), args...)
}

func (c conn) row(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.d.rebind(query), args...)
}

// list runs query and scans each row with scan.
func list[T any](ctx context.Context, c conn, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := c.q.QueryContext(ctx, c.d.rebind(query), args...)
	if err != nil {
		return nil, c.errorf(err, "%s", what)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, c.errorf(err, "%s", what)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, c.errorf(err, "%s", what)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

// errorf wraps err with the dialect's name and what was done; no rows
// becomes store.ErrNotFound.
func (c conn) errorf(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %s: %w", c.d.Name, what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %s: %w", c.d.Name, what, err)
}

// tx is one transaction: it implements store.Tx.
type tx struct {
	conn
}

// insertErr maps constraint violations to the store's error kinds.
func (t *tx) insertErr(err error, onUnique, onFK error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	switch t.d.Classify(err) {
	case UniqueViolation:
		return fmt.Errorf("%s: %s: %w", t.d.Name, what, onUnique)
	case ForeignKeyViolation:
		return fmt.Errorf("%s: %s: %w", t.d.Name, what, onFK)
	}
	return fmt.Errorf("%s: %s: %w", t.d.Name, what, err)
}

// Dialect is the store's dialect.
func (s *Store) Dialect() *Dialect { return s.d }
