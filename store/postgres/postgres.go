// Package postgres is the production store: PostgreSQL through pgx/v5 and
// its connection pool.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/muhr-pki/muhr/migrations"
	"github.com/muhr-pki/muhr/store"
)

// connectTimeout bounds each connection attempt when the DSN sets none, so
// an unreachable server fails start-up promptly instead of hanging.
const connectTimeout = 10 * time.Second

// Store is an open PostgreSQL database. It implements store.Store.
type Store struct {
	reader
	pool   *pgxpool.Pool
	target string // host, port and database, for error messages
	fsys   fs.FS
}

var _ store.Store = (*Store)(nil)

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
// It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse error can quote the DSN; the DSN holds no password.
		return nil, fmt.Errorf("postgres: bad database.dsn: %w", err)
	}
	if o.hasPassword {
		cfg.ConnConfig.Password = o.password
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	target := describe(cfg.ConnConfig)
	if o.fsys == nil {
		if o.fsys, err = migrations.FS(migrations.Postgres); err != nil {
			return nil, err
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", target, store.ErrUnavailable, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: %w: %w", target, store.ErrUnavailable, err)
	}
	return &Store{reader: reader{q: pool}, pool: pool, target: target, fsys: o.fsys}, nil
}

// describe names the server and database without credentials.
func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("postgres database %q at host=%s port=%d", c.Database, c.Host, c.Port)
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("%s: %w: %w", s.target, store.ErrUnavailable, err)
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
	// goose speaks database/sql; this view shares the pool's connections.
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	return migrations.Up(ctx, db, migrations.Postgres, s.fsys)
}

// InTx runs fn in one READ COMMITTED transaction.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	t, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return fmt.Errorf("%s: begin: %w: %w", s.target, store.ErrUnavailable, err)
	}
	// Rolls back when fn fails or panics, even if ctx was cancelled; after
	// Commit it is a no-op.
	defer t.Rollback(context.WithoutCancel(ctx))
	if err := fn(ctx, &tx{reader: reader{q: t}, t: t}); err != nil {
		return err
	}
	if err := t.Commit(ctx); err != nil {
		if errors.Is(err, pgx.ErrTxCommitRollback) {
			return fmt.Errorf("postgres: commit: transaction was rolled back: %w", err)
		}
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}
