package storeopen_test

import (
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/migrations"
	"github.com/muhr-pki/muhr/store/storeopen"
)

// column is what both dialects must agree on for each column.
type column struct {
	class   string // integer, text or blob: the SQLite storage class
	notNull bool
	pk      bool
}

type schema struct {
	columns map[string]column // "table.column"
	indexes map[string]bool   // name → unique
}

// pgClass maps PostgreSQL types to the SQLite class the same column has
// (times are INTEGER microseconds in SQLite, details JSON is TEXT).
var pgClass = map[string]string{
	"integer": "integer", "bigint": "integer", "timestamp with time zone": "integer",
	"text": "text", "json": "text", "bytea": "blob",
}

func migrated(t *testing.T, db config.Database) *sql.DB {
	t.Helper()
	s, err := storeopen.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s.DB()
}

func query(t *testing.T, db *sql.DB, q string, each func(scan func(...any)), args ...any) {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	for rows.Next() {
		each(func(dest ...any) {
			if err := rows.Scan(dest...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func sqliteSchema(t *testing.T, db *sql.DB) schema {
	s := schema{columns: map[string]column{}, indexes: map[string]bool{}}
	var tables []string
	query(t, db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> ?`,
		func(scan func(...any)) {
			var n string
			scan(&n)
			tables = append(tables, n)
		}, migrations.Table)
	for _, tb := range tables {
		query(t, db, `SELECT name, type, "notnull", pk FROM pragma_table_info(?)`, func(scan func(...any)) {
			var name, typ string
			var notNull, pk int
			scan(&name, &typ, &notNull, &pk)
			s.columns[tb+"."+name] = column{class: strings.ToLower(typ), notNull: notNull == 1 || pk > 0, pk: pk > 0}
		}, tb)
		query(t, db, `SELECT name, "unique" FROM pragma_index_list(?) WHERE origin = 'c'`, func(scan func(...any)) {
			var name string
			var unique int
			scan(&name, &unique)
			s.indexes[name] = unique == 1
		}, tb)
	}
	return s
}

func postgresSchema(t *testing.T, db *sql.DB) schema {
	s := schema{columns: map[string]column{}, indexes: map[string]bool{}}
	pk := map[string]bool{}
	query(t, db, `SELECT k.table_name, k.column_name FROM information_schema.table_constraints c
		JOIN information_schema.key_column_usage k ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema
		WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = current_schema()`, func(scan func(...any)) {
		var tb, col string
		scan(&tb, &col)
		pk[tb+"."+col] = true
	})
	query(t, db, `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name <> $1`, func(scan func(...any)) {
		var tb, col, typ, nullable string
		scan(&tb, &col, &typ, &nullable)
		class, ok := pgClass[typ]
		if !ok {
			class = "postgres type " + typ
		}
		k := tb + "." + col
		s.columns[k] = column{class: class, notNull: nullable == "NO", pk: pk[k]}
	}, migrations.Table)
	query(t, db, `SELECT i.relname, x.indisunique FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_class tb ON tb.oid = x.indrelid JOIN pg_namespace n ON n.oid = tb.relnamespace
		WHERE n.nspname = current_schema() AND NOT x.indisprimary AND tb.relname <> $1`, func(scan func(...any)) {
		var name string
		var unique bool
		scan(&name, &unique)
		s.indexes[name] = unique
	}, migrations.Table)
	return s
}

// The two dialects' migrations build the same schema: the same tables and
// columns, each with the same storage class, nullability and primary-key
// membership, and the same named indexes. A migration written for one
// dialect only, or a column that differs, fails here.
func TestSchemasAgree(t *testing.T) {
	lite := sqliteSchema(t, migrated(t, config.Database{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "muhr.db")}))
	pg := postgresSchema(t, migrated(t, config.Database{Driver: "postgres", DSN: testpki.PostgresDSN(t)}))
	if len(lite.columns) == 0 {
		t.Fatal("no columns found in the SQLite schema")
	}
	for _, k := range slices.Sorted(maps.Keys(lite.columns)) {
		l, ok := pg.columns[k]
		switch {
		case !ok:
			t.Errorf("%s: in SQLite, not in PostgreSQL", k)
		case l != lite.columns[k]:
			t.Errorf("%s: SQLite %+v, PostgreSQL %+v", k, lite.columns[k], l)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(pg.columns)) {
		if _, ok := lite.columns[k]; !ok {
			t.Errorf("%s: in PostgreSQL, not in SQLite", k)
		}
	}
	if fmt.Sprint(lite.indexes) != fmt.Sprint(pg.indexes) {
		t.Errorf("indexes differ:\nSQLite     %v\nPostgreSQL %v", lite.indexes, pg.indexes)
	}
	if !t.Failed() {
		t.Logf("%d columns and %d indexes agree", len(lite.columns), len(lite.indexes))
	}
}
