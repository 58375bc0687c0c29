// Package sqlite opens the embedded store: one SQLite file through the
// pure-Go modernc.org/sqlite driver (no cgo), served by store/sqlstore with
// the SQLite dialect.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/muhr-pki/muhr/migrations"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/sqlstore"
)

// dsnParams apply to every pooled connection. WAL lets readers run beside
// the single writer; busy_timeout makes a writer wait for the lock instead of
// failing at once (the wait also ends with the call's context);
// _txlock=immediate makes every transaction take the write lock at BEGIN, so
// two transactions never both read and then deadlock trying to upgrade to
// writing (the audit chain relies on this: see sqlstore's AppendAudit).
// synchronous=FULL because a committed serial or audit record must survive a
// power cut.
const dsnParams = "?_busy_timeout=10000&_foreign_keys=1&_journal_mode=WAL&_synchronous=FULL&_txlock=immediate"

// maxConns bounds the pool: readers are concurrent under WAL, writers queue
// on the lock anyway.
const maxConns = 16

// LockSuffix names the sidecar file concurrent migrators wait on.
const LockSuffix = ".migrate-lock"

// dialect is SQLite's: times as INTEGER microseconds, the write lock taken
// at BEGIN, so the audit chain needs no lock of its own.
func dialect() *sqlstore.Dialect {
	return &sqlstore.Dialect{
		Name:             "sqlite",
		Migrations:       migrations.SQLite,
		MicrosecondTimes: true,
		JSONArg:          "?",
		Classify:         classify,
		UniqueTarget:     uniqueTarget,
	}
}

// uniqueTarget returns the columns SQLite names in a unique violation
// ("UNIQUE constraint failed: issuance_intents.spki_sha256").
func uniqueTarget(err error) string {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return ""
	}
	msg := se.Error()
	if i := strings.LastIndex(msg, "constraint failed: "); i >= 0 {
		return msg[i+len("constraint failed: "):]
	}
	return ""
}

func classify(err error) sqlstore.Violation {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return sqlstore.NoViolation
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return sqlstore.UniqueViolation
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqlstore.ForeignKeyViolation
	}
	return sqlstore.NoViolation
}

type options struct {
	fsys fs.FS
}

// Option configures Open.
type Option func(*options)

// WithMigrations replaces the embedded migrations, for tests that need a
// migration which fails.
func WithMigrations(fsys fs.FS) Option {
	return func(o *options) { o.fsys = fsys }
}

// Open opens (creating it with mode 0600 if absent) the SQLite database at
// path. It does not migrate; call Migrate.
func Open(ctx context.Context, path string, opts ...Option) (*sqlstore.Store, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if path == "" {
		return nil, fmt.Errorf("sqlite: %w: empty database path", store.ErrUnavailable)
	}
	target := "sqlite database " + path
	// The driver reads everything after '?' as parameters.
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("%s: path must not contain '?'", target)
	}
	db, err := openChecked(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", target, store.ErrUnavailable, err)
	}
	s, err := sqlstore.New(db, sqlstore.Config{Dialect: dialect(), Target: target, Migrations: o.fsys, MigrationLock: path + LockSuffix})
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// openChecked creates the file if need be and opens it in WAL mode, holding
// the migration lock so that processes opening one new file at once take
// turns at the switch to WAL (see migrations.LockFile).
func openChecked(ctx context.Context, path string) (*sql.DB, error) {
	lock, err := migrations.LockFile(ctx, path+LockSuffix)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := createFile(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", path+dsnParams)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(maxConns)
	if err := check(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
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
func check(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	var fk int
	if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return err
	}
	if fk != 1 {
		return errors.New("foreign_keys is off")
	}
	return nil
}
