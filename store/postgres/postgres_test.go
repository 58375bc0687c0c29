package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/postgres"
	"github.com/muhr-pki/muhr/store/sqlstore"
	"github.com/muhr-pki/muhr/store/storetest"
)

// rawDB connects to the same database without the store, as an intruder
// would.
func rawDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var _ = stdlib.GetDefaultDriver // registers "pgx"

var backend = storetest.Backend{
	Fresh: func(t *testing.T) string { return testpki.PostgresDSN(t) },
	Open: func(ctx context.Context, dsn string, fsys fs.FS) (*sqlstore.Store, error) {
		var opts []postgres.Option
		if fsys != nil {
			opts = append(opts, postgres.WithMigrations(fsys))
		}
		return postgres.Open(ctx, dsn, opts...)
	},
	Raw:         rawDB,
	BlockWrites: []string{"BEGIN", "LOCK TABLE health_probe IN ACCESS EXCLUSIVE MODE"},
}

func TestMain(m *testing.M) {
	storetest.HelperMain(backend)
	os.Exit(m.Run())
}

func TestContract(t *testing.T) { storetest.Run(t, backend) }

// A database whose sessions are read-only (a hot standby, or one an
// operator froze) answers Ping but fails Probe.
func TestProbeReadOnly(t *testing.T) {
	dsn := testpki.PostgresDSN(t)
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ro, err := postgres.Open(t.Context(), dsn+" options='-c default_transaction_read_only=on'")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := ro.Probe(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Probe on a read-only database = %v, want ErrUnavailable", err)
	}
}

// The DSN's pool settings still apply.
func TestPoolSettings(t *testing.T) {
	s, err := postgres.Open(t.Context(), testpki.PostgresDSN(t)+" pool_max_conns=3")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.DB().Stats().MaxOpenConnections; got != 3 {
		t.Fatalf("MaxOpenConnections = %d, want 3 from pool_max_conns", got)
	}
}

func TestOpenUnreachable(t *testing.T) {
	_, err := postgres.Open(t.Context(), "host=127.0.0.1 port=1 user=muhr dbname=muhr sslmode=disable connect_timeout=5")
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("Open = %v, want ErrUnavailable naming 127.0.0.1", err)
	}
}

func TestOpenBadDSN(t *testing.T) {
	if _, err := postgres.Open(t.Context(), "host=127.0.0.1 port=notaport"); err == nil {
		t.Fatal("Open accepted port=notaport")
	}
}
