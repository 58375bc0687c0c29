// Package sqlite is the embedded store: one SQLite file through the pure-Go
// modernc.org/sqlite driver, so the storage layer needs no cgo.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/muhr-pki/muhr/migrations"
	"github.com/muhr-pki/muhr/store"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// dsnParams apply to every pooled connection. WAL lets readers run beside
// the single writer; busy_timeout makes a writer wait for the lock instead of
// failing at once; _txlock=immediate makes every transaction take the write
// lock at BEGIN, so two transactions never both read and then deadlock trying
// to upgrade to writing (the audit chain relies on this: see LastAuditRecord).
// synchronous=FULL because a committed serial or audit record must survive a
// power cut.
const dsnParams = "?_busy_timeout=10000&_foreign_keys=1&_journal_mode=WAL&_synchronous=FULL&_txlock=immediate"

// maxConns bounds the pool: readers are concurrent under WAL, writers queue
// on the lock anyway.
const maxConns = 16

// Store is an open SQLite database. It implements store.Store.
type Store struct {
	reader
	db   *sql.DB
	path string
	fsys fs.FS
}

var _ store.Store = (*Store)(nil)

// Option configures Open.
type Option func(*Store)

// WithMigrations replaces the embedded migrations, for tests that need a
// migration which fails.
func WithMigrations(fsys fs.FS) Option {
	return func(s *Store) { s.fsys = fsys }
}

// Open opens (creating it with mode 0600 if absent) the SQLite database at
// path. It does not migrate; call Migrate.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("sqlite: %w: empty database path", store.ErrUnavailable)
	}
	// The driver reads everything after '?' as parameters.
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("sqlite database %s: path must not contain '?'", path)
	}
	if err := createFile(path); err != nil {
		return nil, fmt.Errorf("sqlite database %s: %w: %w", path, store.ErrUnavailable, err)
	}
	db, err := sql.Open("sqlite", path+dsnParams)
	if err != nil {
		return nil, fmt.Errorf("sqlite database %s: %w: %w", path, store.ErrUnavailable, err)
	}
	db.SetMaxOpenConns(maxConns)
	s := &Store{reader: reader{q: db}, db: db, path: path}
	for _, o := range opts {
		o(s)
	}
	if s.fsys == nil {
		if s.fsys, err = migrations.FS(migrations.SQLite); err != nil {
			db.Close()
			return nil, err
		}
	}
	if err := s.check(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite database %s: %w: %w", path, store.ErrUnavailable, err)
	}
	return s, nil
}

// createFile creates the database file with mode 0600 before SQLite does
// (SQLite would honour the umask, typically giving 0644); the -wal and -shm
// files SQLite creates later copy the database file's mode.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// check opens a connection and confirms the settings took: a file that is
// not a database, or a file system without WAL support, fails here.
func (s *Store) check(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	var fk int
	if err := s.db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return err
	}
	if fk != 1 {
		return errors.New("foreign_keys is off")
	}
	return nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite database %s: %w: %w", s.path, store.ErrUnavailable, err)
	}
	return nil
}

// Migrate applies pending migrations.
func (s *Store) Migrate(ctx context.Context) error {
	_, err := s.MigrateReport(ctx)
	return err
}

// MigrateReport applies pending migrations and says which.
func (s *Store) MigrateReport(ctx context.Context) ([]migrations.Applied, error) {
	return migrations.Up(ctx, s.db, migrations.SQLite, s.fsys)
}

// InTx runs fn in one BEGIN IMMEDIATE transaction.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	// Rolls back when fn fails or panics; a no-op after Commit.
	defer t.Rollback()
	if err := fn(ctx, &tx{reader: reader{q: t}, t: t}); err != nil {
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }
