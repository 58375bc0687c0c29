// Package storeopen opens the store named by muhrd.yaml's database section.
// It is the one place that knows both backends, so neither the daemon nor
// the CLI imports a driver directly.
package storeopen

import (
	"context"
	"fmt"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/internal/secret"
	"github.com/muhr-pki/muhr/store/postgres"
	"github.com/muhr-pki/muhr/store/sqlite"
	"github.com/muhr-pki/muhr/store/sqlstore"
)

// Open opens the configured database and checks that it answers. An
// unreachable database gives an error wrapping store.ErrUnavailable that
// names the file or the host.
func Open(ctx context.Context, db config.Database) (*sqlstore.Store, error) {
	switch db.Driver {
	case "sqlite", "":
		return sqlite.Open(ctx, db.Path)
	case "postgres":
		var opts []postgres.Option
		if db.PasswordFile != "" {
			pw, err := readPassword(db.PasswordFile)
			if err != nil {
				return nil, err
			}
			opts = append(opts, postgres.WithPassword(pw))
		}
		return postgres.Open(ctx, db.DSN, opts...)
	}
	return nil, fmt.Errorf("database.driver: %q is not sqlite or postgres", db.Driver)
}

// readPassword reads database.password_file with the one secret-file
// reader (regular file, mode 0600 or 0400, bounded, newline trimmed). The
// password itself never appears in an error.
func readPassword(path string) (string, error) {
	b, err := secret.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("database.password_file: %w", err)
	}
	defer clear(b)
	return string(b), nil
}
