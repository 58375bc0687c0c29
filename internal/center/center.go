// Package center opens the parts named in muhrd.yaml (the store and the HSM
// token) the same way for the daemon and for every muhr command. It links
// neither ca nor zlint: a binary that does not issue (muhrd without the ca
// role) stays free of them; issuance settings are in center/issuing.
package center

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/pkcs11"
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
	pin, err := hsm.ReadPINFile(c.PINFile)
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

// OpenStore opens the configured database and applies pending migrations.
func OpenStore(ctx context.Context, c config.Database) (store.Store, error) {
	st, err := storeopen.Open(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	return st, nil
}

// Parts are the store and the HSM token of one center.
type Parts struct {
	Store store.Store
	Keys  *pkcs11.Token
}

// Open opens (and migrates) the database, then logs in to the token.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Parts, error) {
	st, err := OpenStore(ctx, cfg.Database)
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
