package ca_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for raw SQL

	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/migrations"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/postgres"
	"github.com/muhr-pki/muhr/store/sqlite"
)

// upTo is the embedded migrations of d up to and including version max.
type upTo struct {
	fs.FS
	max int
}

func (u upTo) Open(name string) (fs.File, error) {
	var v int
	if _, err := fmt.Sscanf(filepath.Base(name), "%05d_", &v); err == nil && v > u.max {
		return nil, fs.ErrNotExist
	}
	return u.FS.Open(name)
}

func (u upTo) ReadDir(name string) ([]fs.DirEntry, error) {
	all, err := fs.ReadDir(u.FS, name)
	if err != nil {
		return nil, err
	}
	var out []fs.DirEntry
	for _, e := range all {
		var v int
		if _, err := fmt.Sscanf(e.Name(), "%05d_", &v); err == nil && v > u.max {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// A database from before migration 5 may hold two live intents for one key
// (the race this issue fixes). The migration keeps them, builds the unique
// index over the rest, and from then on the key is refused.
func TestLeaseMigrationKeepsLegacyDuplicateKeys(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			dialect, driver := migrations.SQLite, "sqlite"
			var loc string
			if backend == "sqlite" {
				loc = filepath.Join(t.TempDir(), "muhr.db")
			} else {
				dialect, driver, loc = migrations.Postgres, "pgx", testpki.PostgresDSN(t)
			}
			embedded, err := migrations.FS(dialect)
			if err != nil {
				t.Fatal(err)
			}
			open := func(opts ...any) store.Store {
				t.Helper()
				var st store.Store
				var err error
				if backend == "sqlite" {
					var o []sqlite.Option
					for _, x := range opts {
						o = append(o, x.(sqlite.Option))
					}
					st, err = sqlite.Open(ctx, loc, o...)
				} else {
					var o []postgres.Option
					for _, x := range opts {
						o = append(o, x.(postgres.Option))
					}
					st, err = postgres.Open(ctx, loc, o...)
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				return st
			}
			var old store.Store
			if backend == "sqlite" {
				old = open(sqlite.WithMigrations(upTo{embedded, 4}))
			} else {
				old = open(postgres.WithMigrations(upTo{embedded, 4}))
			}
			err = old.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				return tx.InsertCA(ctx, store.CA{ID: "ca-old", Kind: store.CAKindIssuing, KeyLabel: "k", CertDER: []byte{1},
					Status: store.CAStatusActive, CreatedAt: time.Now()})
			})
			if err != nil {
				t.Fatal(err)
			}
			old.Close()

			// Two issued intents for one key, written as the old code did.
			db, err := sql.Open(driver, loc)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			key := sha256.Sum256([]byte("legacy key"))
			blob := fmt.Sprintf("X'%x'", key)
			if backend == "postgres" {
				blob = fmt.Sprintf("decode('%x', 'hex')", key)
			}
			for k, serial := range []string{"a1", "a2"} {
				for _, q := range []string{
					`INSERT INTO serial_reservations (issuer_id, serial, purpose, reserved_at) SELECT 'ca-old', '` + serial + `', 'qes-person/v1', created_at FROM cas WHERE id = 'ca-old'`,
					`INSERT INTO issuance_intents (issuer_id, serial, request_id, profile, spki_sha256, state, created_at, updated_at) ` +
						`SELECT 'ca-old', '` + serial + `', 'legacy-` + fmt.Sprint(k) + `', 'qes-person/v1', ` + blob + `, 'issued', created_at, created_at FROM cas WHERE id = 'ca-old'`,
				} {
					if _, err := db.ExecContext(ctx, q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
			}

			st := open()
			defer st.Close()
			live, err := st.IntentsBySPKI(ctx, key[:])
			if err != nil || len(live) != 2 {
				t.Fatalf("legacy intents after the migration: %v, %v", live, err)
			}
			for _, in := range live {
				if in.HolderID != "" || in.RequestHash != nil {
					t.Fatalf("legacy intent got a holder or hash: %+v", in)
				}
			}
			var marked int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM issuance_intents WHERE "+
				map[string]string{"sqlite": "legacy_key_duplicate = 1", "postgres": "legacy_key_duplicate = 1"}[backend]).Scan(&marked); err != nil || marked != 1 {
				t.Fatalf("marked legacy duplicates = %d, %v; want 1", marked, err)
			}
			// The key stays taken for any new request.
			err = st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				serial := big.NewInt(0xa3)
				if err := tx.ReserveSerial(ctx, store.SerialReservation{IssuerID: "ca-old", Serial: serial, Purpose: "x", ReservedAt: time.Now()}); err != nil {
					return err
				}
				return tx.InsertIntent(ctx, store.IssuanceIntent{IssuerID: "ca-old", Serial: serial, RequestID: "new",
					Profile: "qes-person/v1", SPKIHash: key[:], State: store.IntentPending, CreatedAt: time.Now(), UpdatedAt: time.Now()})
			})
			if !errors.Is(err, store.ErrKeyInUse) {
				t.Fatalf("new intent for a legacy key: %v", err)
			}
			if !strings.Contains(err.Error(), "public key") {
				t.Fatalf("error does not say why: %v", err)
			}
		})
	}
}
