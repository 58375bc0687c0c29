package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/muhr-pki/muhr/migrations"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/sqlstore"
)

// Backend is one database the contract runs on.
type Backend struct {
	// Fresh returns the location (file path or DSN) of a new, empty
	// database that lives until the test ends.
	Fresh func(t *testing.T) string
	// Open opens the store at location; fsys, when not nil, replaces the
	// embedded migrations.
	Open func(ctx context.Context, location string, fsys fs.FS) (*sqlstore.Store, error)
	// Raw opens the database at location behind the store's back.
	Raw func(t *testing.T, location string) *sql.DB
	// BlockWrites are statements that, run in order on one raw connection
	// of a migrated database, keep every other writer out until ROLLBACK.
	BlockWrites []string
}

// Run runs the whole contract on b.
func Run(t *testing.T, b Backend) {
	open := func(t *testing.T) *sqlstore.Store {
		t.Helper()
		s, err := b.Open(ctx(t), b.Fresh(t), nil)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	}
	t.Run("Contract", func(t *testing.T) {
		runContract(t, func(t *testing.T) store.Store { return open(t) })
	})
	t.Run("Raw", func(t *testing.T) {
		runRaw(t, func(t *testing.T) (store.Store, Exec) {
			loc := b.Fresh(t)
			s, err := b.Open(ctx(t), loc, nil)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			db := b.Raw(t, loc)
			return s, func(ctx context.Context, q string) error {
				_, err := db.ExecContext(ctx, q)
				return err
			}
		})
	})
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"MigrateReport", testMigrateReport},
		{"FailedMigrationLeavesNothing", testFailedMigration},
		{"SchemaBehindRefused", testSchemaBehind},
		{"ConcurrentMigrateProcesses", testConcurrentMigrateProcesses},
		{"StatusFeedProcesses", testStatusFeedProcesses},
		{"ProbeWrites", testProbeWrites},
		{"ProbeFailsWhenWritesBlocked", testProbeBlocked},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, b) })
	}
}

func openAt(t *testing.T, b Backend, loc string, fsys fs.FS) *sqlstore.Store {
	t.Helper()
	s, err := b.Open(ctx(t), loc, fsys)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testMigrateReport(t *testing.T, b Backend) {
	s := openAt(t, b, b.Fresh(t), nil)
	applied, err := s.MigrateReport(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 || applied[0].Version != 1 || applied[0].Name != "00001_init.sql" {
		t.Fatalf("first migration run applied %+v, want 00001_init.sql first", applied)
	}
	if again, err := s.MigrateReport(ctx(t)); err != nil || len(again) != 0 {
		t.Fatalf("second run applied %+v, %v; want nothing", again, err)
	}
}

// badMigrations' second migration creates a table and then fails.
var badMigrations = fstest.MapFS{
	"00001_good.sql": {Data: []byte("-- +goose Up\nCREATE TABLE good (x INTEGER);\n")},
	"00002_bad.sql": {Data: []byte("-- +goose Up\nCREATE TABLE half (x INTEGER);\n" +
		"INSERT INTO no_such_table VALUES (1);\n")},
}

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	// Both dialects: a query on a missing table fails.
	_, err := db.ExecContext(ctx(t), "SELECT 1 FROM "+name+" WHERE 1 = 0")
	return err == nil
}

func testFailedMigration(t *testing.T, b Backend) {
	loc := b.Fresh(t)
	s := openAt(t, b, loc, badMigrations)
	db := b.Raw(t, loc)
	for range 2 { // a retry fails the same way and changes nothing
		err := s.Migrate(ctx(t))
		if err == nil || !strings.Contains(err.Error(), "00002_bad.sql") {
			t.Fatalf("Migrate = %v, want an error naming 00002_bad.sql", err)
		}
		if tableExists(t, db, "half") {
			t.Error("the failed migration's table exists")
		}
		if !tableExists(t, db, "good") {
			t.Error("the good migration's table is missing")
		}
		var v int64
		if err := db.QueryRowContext(ctx(t), `SELECT max(version_id) FROM schema_migrations`).Scan(&v); err != nil || v != 1 {
			t.Errorf("recorded version %d, %v; want 1", v, err)
		}
	}
	wantKind(t, "CheckSchema after a failed migration", s.CheckSchema(ctx(t)), store.ErrSchemaBehind)
}

// An empty database and one a migration behind are refused by CheckSchema,
// which writes nothing; a migrated one passes.
func testSchemaBehind(t *testing.T, b Backend) {
	loc := b.Fresh(t)
	s := openAt(t, b, loc, nil)
	err := s.CheckSchema(ctx(t))
	wantKind(t, "CheckSchema of an empty database", err, store.ErrSchemaBehind)
	if tableExists(t, b.Raw(t, loc), migrations.Table) {
		t.Error("CheckSchema created the version table")
	}
	// Migrate with all but the newest migration, then check with all.
	full, err := migrations.FS(sqlstoreDialect(s))
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(full, "*.sql")
	if err != nil || len(names) < 2 {
		t.Fatalf("migrations: %v, %v", names, err)
	}
	older := fstest.MapFS{}
	for _, n := range names[:len(names)-1] {
		data, err := fs.ReadFile(full, n)
		if err != nil {
			t.Fatal(err)
		}
		older[n] = &fstest.MapFile{Data: data}
	}
	if err := openAt(t, b, loc, older).Migrate(ctx(t)); err != nil {
		t.Fatalf("Migrate to the previous version: %v", err)
	}
	err = s.CheckSchema(ctx(t))
	wantKind(t, "CheckSchema one migration behind", err, store.ErrSchemaBehind)
	t.Logf("behind: %v", err)
	if err := s.Migrate(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckSchema(ctx(t)); err != nil {
		t.Fatalf("CheckSchema after Migrate: %v", err)
	}
}

func sqlstoreDialect(s *sqlstore.Store) migrations.Dialect { return s.Dialect().Migrations }

// helperEnv tells a re-executed test binary to migrate one database and
// exit instead of running tests.
const helperEnv = "MUHR_STORETEST_MIGRATE"

// HelperMain, called first in a backend's TestMain, makes the test binary a
// migrator when ConcurrentMigrateProcesses re-executes it: it opens the
// database named in the environment, migrates it, and exits.
func HelperMain(b Backend) {
	if job := os.Getenv(statusWorkerEnv); job != "" {
		os.Exit(statusWorker(b, job))
	}
	loc := os.Getenv(helperEnv)
	if loc == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := b.Open(ctx, loc, nil)
	if err == nil {
		err = s.Migrate(ctx)
		s.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "migrate:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Several processes (muhrd instances, `muhr db migrate`) start on one new
// database at once: every one succeeds and each migration runs once.
func testConcurrentMigrateProcesses(t *testing.T, b Backend) {
	loc := b.Fresh(t)
	const n = 12
	var wg sync.WaitGroup
	outs := make([][]byte, n)
	errs := make([]error, n)
	for i := range n {
		cmd := exec.CommandContext(ctx(t), os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"="+loc)
		wg.Go(func() { outs[i], errs[i] = cmd.CombinedOutput() })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("migrator %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	s := openAt(t, b, loc, nil)
	if err := s.CheckSchema(ctx(t)); err != nil {
		t.Fatalf("after concurrent migrations: %v", err)
	}
	var once int
	if err := b.Raw(t, loc).QueryRowContext(ctx(t),
		`SELECT count(*) FROM schema_migrations WHERE version_id = 1`).Scan(&once); err != nil || once != 1 {
		t.Errorf("migration 1 recorded %d times, %v; want once", once, err)
	}
}

func testProbeWrites(t *testing.T, b Backend) {
	loc := b.Fresh(t)
	s := openAt(t, b, loc, nil)
	if err := s.Migrate(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for range 2 { // insert, then update
		if err := s.Probe(ctx(t)); err != nil {
			t.Fatalf("Probe on a healthy database: %v", err)
		}
	}
	var rows int
	if err := b.Raw(t, loc).QueryRowContext(ctx(t), "SELECT count(*) FROM health_probe").Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("health_probe holds %d rows, %v; want 1", rows, err)
	}
}

// A write lock held by another connection: Ping still answers, Probe fails
// by its deadline (well before the store's 10 s lock wait) and works again
// once the lock goes.
func testProbeBlocked(t *testing.T, b Backend) {
	loc := b.Fresh(t)
	s := openAt(t, b, loc, nil)
	if err := s.Migrate(ctx(t)); err != nil {
		t.Fatal(err)
	}
	conn, err := b.Raw(t, loc).Conn(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range b.BlockWrites {
		if _, err := conn.ExecContext(ctx(t), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping while writes are blocked: %v", err)
	}
	pctx, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Probe(pctx)
	took := time.Since(start)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Probe while writes are blocked = %v, want ErrUnavailable", err)
	}
	t.Logf("Probe failed after %v: %v", took, err)
	if took > 5*time.Second {
		t.Errorf("Probe took %v, ignoring its 300 ms deadline", took)
	}
	if _, err := conn.ExecContext(ctx(t), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := s.Probe(ctx(t)); err != nil {
		t.Fatalf("Probe after the lock was released: %v", err)
	}
}
