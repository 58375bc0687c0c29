package pkcs11

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/muhr-pki/muhr/hsm"
)

// ckr extracts the PKCS#11 return value from err, if it carries one.
func ckr(err error) (uint, bool) {
	var e pkcs11.Error
	if errors.As(err, &e) {
		return uint(e), true
	}
	return 0, false
}

func isCKR(err error, codes ...uint) bool {
	c, ok := ckr(err)
	if !ok {
		return false
	}
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// errTokenGone says the token no longer answers for its slot (a SoftHSM2
// whose token directory was removed), though the session calls may still
// succeed; errReinitialised that the library was re-initialised since the
// session was opened, so its handle is void.
var (
	errTokenGone     = errors.New("token not present")
	errReinitialised = errors.New("PKCS#11 library re-initialised since the session was opened")
)

// sessionLost reports errors after which our sessions or our login are gone
// and only re-opening and logging in again can help.
func sessionLost(err error) bool {
	if errors.Is(err, errTokenGone) || errors.Is(err, errReinitialised) {
		return true
	}
	return isCKR(err,
		pkcs11.CKR_SESSION_HANDLE_INVALID,
		pkcs11.CKR_SESSION_CLOSED,
		pkcs11.CKR_DEVICE_REMOVED,
		pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_USER_NOT_LOGGED_IN,
		pkcs11.CKR_DEVICE_ERROR,
		pkcs11.CKR_TOKEN_NOT_RECOGNIZED,
		pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED,
	)
}

// handleStale reports errors that mean a cached object handle no longer
// names the key (handles do not survive a lost login on every token).
func handleStale(err error) bool {
	return isCKR(err, pkcs11.CKR_KEY_HANDLE_INVALID, pkcs11.CKR_OBJECT_HANDLE_INVALID)
}

// loginError turns a C_Login failure into an error a security officer can
// act on. It never includes the PIN.
func loginError(tokenLabel string, err error) error {
	c, _ := ckr(err)
	switch c {
	case pkcs11.CKR_PIN_INCORRECT:
		return fmt.Errorf("%w: token %q refused the user PIN (CKR_PIN_INCORRECT); check the PIN file", hsm.ErrPINIncorrect, tokenLabel)
	case pkcs11.CKR_PIN_LOCKED:
		return fmt.Errorf("%w: the user PIN of token %q is locked after too many wrong PINs; the security officer must reset it (C_InitPIN)", hsm.ErrPINIncorrect, tokenLabel)
	case pkcs11.CKR_PIN_EXPIRED:
		return fmt.Errorf("%w: the user PIN of token %q has expired; set a new one with the token's tools", hsm.ErrPINIncorrect, tokenLabel)
	case pkcs11.CKR_PIN_LEN_RANGE, pkcs11.CKR_PIN_INVALID:
		return fmt.Errorf("%w: token %q refused the user PIN as malformed (%v); check the PIN file", hsm.ErrPINIncorrect, tokenLabel, err)
	case pkcs11.CKR_USER_PIN_NOT_INITIALIZED:
		return fmt.Errorf("%w: token %q has no user PIN yet; run muhr hsm init-token or the vendor's tool", hsm.ErrPINIncorrect, tokenLabel)
	}
	if sessionLost(err) {
		return fmt.Errorf("%w: log in to token %q: %w", hsm.ErrUnavailable, tokenLabel, err)
	}
	return fmt.Errorf("log in to token %q: %w", tokenLabel, err)
}

// pinFlagsError refuses to try a PIN when the token says a wrong one would
// lock it: an automatic re-login loop must never be what locks a CA token.
func pinFlagsError(tokenLabel string, flags uint) error {
	switch {
	case flags&pkcs11.CKF_USER_PIN_LOCKED != 0:
		return fmt.Errorf("%w: the user PIN of token %q is locked; the security officer must reset it (C_InitPIN)", hsm.ErrPINIncorrect, tokenLabel)
	case flags&pkcs11.CKF_USER_PIN_FINAL_TRY != 0:
		return fmt.Errorf("%w: token %q allows one more PIN attempt before it locks; not trying automatically, verify the PIN by hand (pkcs11-tool --login --test)", hsm.ErrPINIncorrect, tokenLabel)
	case flags&pkcs11.CKF_USER_PIN_INITIALIZED == 0:
		return fmt.Errorf("%w: token %q has no user PIN yet; run muhr hsm init-token or the vendor's tool", hsm.ErrPINIncorrect, tokenLabel)
	}
	return nil
}
