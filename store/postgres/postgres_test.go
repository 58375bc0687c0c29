package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/postgres"
	"github.com/muhr-pki/muhr/store/storetest"
)

func open(t *testing.T, dsn string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, testpki.PostgresDSN(t)) })
}

// rawConn connects to the same database without the store, as an intruder
// would.
func rawConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestContractRaw(t *testing.T) {
	storetest.RunRaw(t, func(t *testing.T) (store.Store, storetest.Exec) {
		dsn := testpki.PostgresDSN(t)
		c := rawConn(t, dsn)
		return open(t, dsn), func(ctx context.Context, q string) error {
			_, err := c.Exec(ctx, q)
			return err
		}
	})
}

func TestMigrateReport(t *testing.T) {
	s := open(t, testpki.PostgresDSN(t))
	defer s.Close()
	applied, err := s.MigrateReport(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 || applied[0].Version != 1 || applied[0].Name != "00001_init.sql" {
		t.Fatalf("first migration run applied %+v, want 00001_init.sql first", applied)
	}
	if again, err := s.MigrateReport(t.Context()); err != nil || len(again) != 0 {
		t.Fatalf("second run applied %+v, %v; want nothing", again, err)
	}
}

// Several processes (muhrd instances, `muhr db migrate`) may migrate at
// once; the advisory lock makes each migration run once.
func TestConcurrentMigrate(t *testing.T) {
	dsn := testpki.PostgresDSN(t)
	const n = 4
	errs := make(chan error, n)
	for range n {
		go func() {
			s, err := postgres.Open(t.Context(), dsn)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			errs <- s.Migrate(t.Context())
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
	var applied int
	if err := rawConn(t, dsn).QueryRow(t.Context(),
		`SELECT count(*) FROM schema_migrations WHERE version_id = 1`).Scan(&applied); err != nil || applied != 1 {
		t.Errorf("migration 1 recorded %d times, %v; want once", applied, err)
	}
}

// badMigrations' second migration creates a table and then fails.
var badMigrations = fstest.MapFS{
	"00001_good.sql": {Data: []byte("-- +goose Up\nCREATE TABLE good (x INTEGER);\n")},
	"00002_bad.sql": {Data: []byte("-- +goose Up\nCREATE TABLE half (x INTEGER);\n" +
		"INSERT INTO no_such_table VALUES (1);\n")},
}

func TestFailedMigrationLeavesNothing(t *testing.T) {
	dsn := testpki.PostgresDSN(t)
	s := open(t, dsn, postgres.WithMigrations(badMigrations))
	defer s.Close()
	c := rawConn(t, dsn)
	for range 2 { // a retry fails the same way and changes nothing
		err := s.Migrate(t.Context())
		if err == nil || !strings.Contains(err.Error(), "00002_bad.sql") {
			t.Fatalf("Migrate = %v, want an error naming 00002_bad.sql", err)
		}
		var half, good *string
		if err := c.QueryRow(t.Context(), `SELECT to_regclass('half')::text, to_regclass('good')::text`).Scan(&half, &good); err != nil {
			t.Fatal(err)
		}
		if half != nil || good == nil {
			t.Errorf("after the failed migration: table half %v (want absent), good %v (want present)", half, good)
		}
		var v int64
		if err := c.QueryRow(t.Context(), `SELECT max(version_id) FROM schema_migrations`).Scan(&v); err != nil || v != 1 {
			t.Errorf("recorded version %d, %v; want 1", v, err)
		}
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
