package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/muhr-pki/muhr/store"
)

// Commands other than `db migrate` refuse a database whose schema is behind
// and say what to run; after `db migrate` they work.
func TestCommandsRefuseUnmigratedDatabase(t *testing.T) {
	_, cfg := testCenter(t)
	_, err := run(t, "audit", "verify", "--config", cfg)
	if !errors.Is(err, store.ErrSchemaBehind) || !strings.Contains(err.Error(), "muhr db migrate --config "+cfg) {
		t.Fatalf("audit verify on an unmigrated database: %v; want ErrSchemaBehind naming `muhr db migrate --config %s`", err, cfg)
	}
	if _, err := run(t, "tsa", "show", "--config", cfg, "1"); !errors.Is(err, store.ErrSchemaBehind) {
		t.Fatalf("tsa show on an unmigrated database: %v; want ErrSchemaBehind", err)
	}
	out, err := run(t, "db", "migrate", "--config", cfg)
	if err != nil || !strings.Contains(out, "applied 00001_init.sql") {
		t.Fatalf("db migrate: %v\n%s", err, out)
	}
	if out, err := run(t, "db", "migrate", "--config", cfg); err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("second db migrate: %v\n%s", err, out)
	}
	if out, err := run(t, "audit", "verify", "--config", cfg); err != nil {
		t.Fatalf("audit verify after db migrate: %v\n%s", err, out)
	}
}
