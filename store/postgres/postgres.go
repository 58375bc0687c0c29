// Package postgres opens the production store: PostgreSQL through pgx's
// database/sql driver, served by store/sqlstore with the PostgreSQL dialect.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/muhr-pki/muhr/migrations"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/sqlstore"
)

// connectTimeout bounds each connection attempt when the DSN sets none, so
// an unreachable server fails start-up promptly instead of hanging.
const connectTimeout = 10 * time.Second

// auditLockKey is the transaction-scoped advisory lock that serialises
// appends to the audit chain.
const auditLockKey int64 = 0x6d756872_61756474 // "muhraudt"

// dialect is PostgreSQL's: $n placeholders, timestamptz, and an advisory
// lock for the audit chain (READ COMMITTED transactions do not exclude each
// other).
func dialect() *sqlstore.Dialect {
	return &sqlstore.Dialect{
		Name:               "postgres",
		Migrations:         migrations.Postgres,
		DollarPlaceholders: true,
		JSONArg:            "CAST(CAST(? AS TEXT) AS JSON)",
		AuditLock:          "SELECT pg_advisory_xact_lock(?)",
		AuditLockKey:       auditLockKey,
		Classify:           classify,
		UniqueTarget:       uniqueTarget,
		ForUpdate:          " FOR UPDATE",
	}
}

// uniqueTarget returns the name of the constraint a unique violation hit.
func uniqueTarget(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == uniqueViolation {
		return pe.ConstraintName
	}
	return ""
}

// PostgreSQL SQLSTATEs for constraint violations.
const (
	foreignKeyViolation = "23503"
	uniqueViolation     = "23505"
)

func classify(err error) sqlstore.Violation {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return sqlstore.NoViolation
	}
	switch pe.Code {
	case uniqueViolation:
		return sqlstore.UniqueViolation
	case foreignKeyViolation:
		return sqlstore.ForeignKeyViolation
	}
	return sqlstore.NoViolation
}

type options struct {
	password    string
	hasPassword bool
	fsys        fs.FS
}

// Option configures Open.
type Option func(*options)

// WithPassword sets the password (read from database.password_file; the DSN
// never holds one).
func WithPassword(pw string) Option {
	return func(o *options) { o.password, o.hasPassword = pw, true }
}

// WithMigrations replaces the embedded migrations, for tests that need a
// migration which fails.
func WithMigrations(fsys fs.FS) Option {
	return func(o *options) { o.fsys = fsys }
}

// Open connects to the database named by dsn and checks that it answers.
// It does not migrate; call Migrate. The DSN may carry pgxpool's pool_*
// settings; the pool keeps pgxpool's defaults and limits.
func Open(ctx context.Context, dsn string, opts ...Option) (*sqlstore.Store, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse error can quote the DSN; the DSN holds no password.
		return nil, fmt.Errorf("postgres: bad database.dsn: %w", err)
	}
	cc := cfg.ConnConfig
	if o.hasPassword {
		cc.Password = o.password
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = connectTimeout
	}
	target := describe(cc)
	db := sql.OpenDB(stdlib.GetConnector(*cc))
	db.SetMaxOpenConns(int(cfg.MaxConns))
	db.SetMaxIdleConns(int(cfg.MaxConns))
	db.SetConnMaxLifetime(cfg.MaxConnLifetime)
	db.SetConnMaxIdleTime(cfg.MaxConnIdleTime)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w: %w", target, store.ErrUnavailable, err)
	}
	s, err := sqlstore.New(db, sqlstore.Config{Dialect: dialect(), Target: target, Migrations: o.fsys})
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// describe names the server and database without credentials.
func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("postgres database %q at host=%s port=%d", c.Database, c.Host, c.Port)
}
