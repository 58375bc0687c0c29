// Package center opens the parts named in muhrd.yaml (the store and the HSM
// token) the same way for the daemon and for every muhr command. It links
// neither ca nor zlint: a binary that does not issue (muhrd without the ca
// role) stays free of them; issuance settings are in center/issuing.
package center

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
	"github.com/muhr-pki/muhr/internal/secret"
	"github.com/muhr-pki/muhr/store"
	"github.com/muhr-pki/muhr/store/storeopen"
)

// OpenHSM logs in to the configured token with the PIN from hsm.pin_file.
func OpenHSM(ctx context.Context, c config.HSM, log *slog.Logger) (*pkcs11.Token, error) {
	if c.SoftHSM2Conf != "" && os.Getenv("SOFTHSM2_CONF") == "" {
		// SoftHSM2 reads its configuration from the environment when the
		// module initialises; a process that opens one token sets it once.
		if err := os.Setenv("SOFTHSM2_CONF", c.SoftHSM2Conf); err != nil {
			return nil, fmt.Errorf("hsm.softhsm2_conf: %w", err)
		}
	}
	pin, err := secret.ReadFile(c.PINFile)
	if err != nil {
		return nil, fmt.Errorf("hsm.pin_file: %w", err)
	}
	defer clear(pin)
	tok, err := pkcs11.Open(ctx, pkcs11.Config{Module: c.Module, TokenLabel: c.TokenLabel, PIN: pin, Sessions: c.Sessions, Logger: log})
	if err != nil {
		return nil, err
	}
	return tok, nil
}

// OpenOption says how Open and OpenStore treat the database's schema.
type OpenOption func(*openOptions)

type openOptions struct {
	migrate bool
	cfgPath string
}

// Migrating makes OpenStore apply pending migrations. Only muhrd (and
// `muhr db migrate`, which calls the store directly) migrate.
func Migrating() OpenOption { return func(o *openOptions) { o.migrate = true } }

// ConfigPath is the muhrd.yaml the command was given, named in the refusal
// of a database whose schema is behind.
func ConfigPath(path string) OpenOption { return func(o *openOptions) { o.cfgPath = path } }

// OpenStore opens the configured database. With Migrating it applies pending
// migrations; without, it refuses a database whose schema is behind with an
// error wrapping store.ErrSchemaBehind that names the command to run.
func OpenStore(ctx context.Context, c config.Database, opts ...OpenOption) (store.Store, error) {
	o := openOptions{cfgPath: "<muhrd.yaml>"}
	for _, f := range opts {
		f(&o)
	}
	st, err := storeopen.Open(ctx, c)
	if err != nil {
		return nil, err
	}
	if o.migrate {
		err = st.Migrate(ctx)
		if err != nil {
			err = fmt.Errorf("migrate database: %w", err)
		}
	} else if err = st.CheckSchema(ctx); errors.Is(err, store.ErrSchemaBehind) {
		err = fmt.Errorf("%w; run `muhr db migrate --config %s` first (only muhrd and that command migrate)", err, o.cfgPath)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// Parts are the store and the HSM token of one center.
type Parts struct {
	Store store.Store
	Keys  *pkcs11.Token
}

// Open opens the database (see OpenStore for opts), then logs in to the
// token.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...OpenOption) (*Parts, error) {
	st, err := OpenStore(ctx, cfg.Database, opts...)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	tok, err := OpenHSM(ctx, cfg.HSM, log)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("open HSM: %w", err)
	}
	return &Parts{Store: st, Keys: tok}, nil
}

// Close logs out of the token and closes the database.
func (p *Parts) Close() {
	p.Keys.Close()
	p.Store.Close()
}
