package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/miekg/pkcs11"

	"github.com/muhr-pki/muhr/hsm"
)

// maxLabel is the size of CK_TOKEN_INFO.label.
const maxLabel = 32

// InitToken initialises the first free (uninitialised) slot of the module as
// a token labelled tokenLabel with the given security officer PIN, then sets
// the user PIN. It refuses a label that an existing token already has. It is
// meant for SoftHSM2 and tests; real HSMs are set up with the vendor's tools.
func InitToken(modulePath, tokenLabel string, soPIN, userPIN []byte) error {
	switch {
	case tokenLabel == "":
		return errors.New("pkcs11: empty token label")
	case len(tokenLabel) > maxLabel:
		return fmt.Errorf("pkcs11: token label %q is longer than %d bytes", tokenLabel, maxLabel)
	case len(soPIN) == 0 || len(userPIN) == 0:
		return errors.New("pkcs11: security officer and user PINs must not be empty")
	}
	// C_InitToken and C_InitPIN write token files, C_Initialize reads them:
	// all under the SoftHSM2 token lock.
	g := newGuard(modulePath, slog.New(slog.DiscardHandler))
	lock, err := g.lock(context.Background())
	if err != nil {
		return err
	}
	defer lock.Unlock()
	g.beforeLogin(tokenLabel)
	mod, err := openModule(modulePath)
	if err != nil {
		return err
	}
	defer mod.release()
	mod.initMu.Lock()
	defer mod.initMu.Unlock()
	mod.opMu.RLock()
	defer mod.opMu.RUnlock()
	p11 := mod.ctx

	if _, _, err := findToken(p11, modulePath, tokenLabel); err == nil {
		return fmt.Errorf("pkcs11: a token labelled %q already exists in %s; choose another label", tokenLabel, modulePath)
	} else if !errors.Is(err, hsm.ErrTokenNotFound) {
		return err
	}
	free, err := freeSlot(p11, modulePath)
	if err != nil {
		return err
	}
	if err := p11.InitToken(free, string(soPIN), tokenLabel); err != nil {
		return fmt.Errorf("pkcs11: C_InitToken on slot %d of %s: %w", free, modulePath, err)
	}
	// SoftHSM2 may move the new token to another slot number: find it again.
	slot, _, err := findToken(p11, modulePath, tokenLabel)
	if err != nil {
		return fmt.Errorf("pkcs11: token %q vanished after C_InitToken: %w", tokenLabel, err)
	}
	sh, err := p11.OpenSession(slot, sessionFlags)
	if err != nil {
		return fmt.Errorf("pkcs11: open session on new token %q: %w", tokenLabel, err)
	}
	defer func() { _ = p11.CloseSession(sh) }()
	if err := p11.Login(sh, pkcs11.CKU_SO, string(soPIN)); err != nil {
		return fmt.Errorf("pkcs11: security officer login on new token %q: %w", tokenLabel, err)
	}
	defer func() { _ = p11.Logout(sh) }()
	if err := p11.InitPIN(sh, string(userPIN)); err != nil {
		if isCKR(err, pkcs11.CKR_PIN_LEN_RANGE, pkcs11.CKR_PIN_INVALID) {
			return fmt.Errorf("pkcs11: token %q refused the user PIN as malformed (%v); the token is initialised but has no user PIN", tokenLabel, err)
		}
		return fmt.Errorf("pkcs11: C_InitPIN on token %q: %w", tokenLabel, err)
	}
	return nil
}

func freeSlot(p11 *pkcs11.Ctx, modulePath string) (uint, error) {
	slots, err := p11.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("pkcs11: list slots of %s: %w", modulePath, err)
	}
	for _, s := range slots {
		ti, err := p11.GetTokenInfo(s)
		if err == nil && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			return s, nil
		}
	}
	return 0, fmt.Errorf("pkcs11: %s has no free (uninitialised) slot", modulePath)
}
