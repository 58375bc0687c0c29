package testpki

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresDSN creates a fresh, empty database on the test cluster named by
// MUHR_TEST_PG_DSN (scripts/test.sh starts one) and returns a DSN for it.
// The database is dropped when the test ends. Without the variable, or with
// the server unreachable, the test stops through Missing.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("MUHR_TEST_PG_DSN")
	if admin == "" {
		Missing(t, "MUHR_TEST_PG_DSN is not set (scripts/test.sh starts a PostgreSQL cluster and sets it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		Missing(t, "PostgreSQL at MUHR_TEST_PG_DSN is unreachable: %v", err)
	}
	defer conn.Close(context.Background())

	b := make([]byte, 8)
	rand.Read(b)
	name := "muhr_test_" + hex.EncodeToString(b)
	// name is generated from hex digits only, so it needs no quoting.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		// FORCE ends sessions a failed test may have left open.
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(t, admin, name)
}

// withDatabase points a keyword/value or URL DSN at another database.
func withDatabase(t testing.TB, dsn, db string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("MUHR_TEST_PG_DSN: %v", err)
		}
		u.Path = "/" + db
		return u.String()
	}
	// In keyword/value form the last occurrence of a keyword wins.
	return dsn + " dbname=" + db
}
