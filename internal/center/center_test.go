package center_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/internal/center"
	"github.com/muhr-pki/muhr/internal/testpki"
	"github.com/muhr-pki/muhr/store"
)

// Only a migrating opener (muhrd) brings the schema up; every other command
// refuses a database that is behind, naming the command that migrates it,
// and leaves it as it was.
func TestOpenStoreMigratesOnlyWhenAsked(t *testing.T) {
	for driver, db := range map[string]func(t *testing.T) config.Database{
		"sqlite": func(t *testing.T) config.Database {
			return config.Database{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "muhr.db")}
		},
		"postgres": func(t *testing.T) config.Database {
			return config.Database{Driver: "postgres", DSN: testpki.PostgresDSN(t)}
		},
	} {
		t.Run(driver, func(t *testing.T) {
			c := db(t)
			for range 2 { // refusing changes nothing: the second open is refused too
				_, err := center.OpenStore(t.Context(), c, center.ConfigPath("/etc/muhr/muhrd.yaml"))
				if !errors.Is(err, store.ErrSchemaBehind) || !strings.Contains(err.Error(), "muhr db migrate --config /etc/muhr/muhrd.yaml") {
					t.Fatalf("OpenStore of an unmigrated database = %v; want ErrSchemaBehind naming `muhr db migrate --config /etc/muhr/muhrd.yaml`", err)
				}
			}
			st, err := center.OpenStore(t.Context(), c, center.Migrating())
			if err != nil {
				t.Fatalf("OpenStore(Migrating): %v", err)
			}
			st.Close()
			st, err = center.OpenStore(t.Context(), c)
			if err != nil {
				t.Fatalf("OpenStore of a migrated database: %v", err)
			}
			defer st.Close()
			if err := st.Probe(t.Context()); err != nil {
				t.Fatalf("Probe: %v", err)
			}
		})
	}
}
