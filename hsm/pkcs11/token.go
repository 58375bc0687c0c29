package pkcs11

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/muhr-pki/muhr/hsm"
)

// Config names the token and how to reach it.
type Config struct {
	// Module is the path of the PKCS#11 library.
	Module string
	// TokenLabel selects the token (CKA_LABEL of the token, not of a key).
	TokenLabel string
	// PIN is the user PIN. Open copies it; the caller may wipe its slice.
	PIN []byte
	// Sessions is how many operations may run on the token at once
	// (default 4). One more session is kept open to hold the login.
	Sessions int
	// Logger receives session-loss and re-login events; nil discards them.
	Logger *slog.Logger
}

// DefaultSessions is the pool size when Config.Sessions is 0.
const DefaultSessions = 4

// retryEvery spaces automatic re-login attempts after one failed, so a
// wrong PIN is not tried again and again until the token locks.
const retryEvery = 5 * time.Second

const sessionFlags = pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION

// Token is a logged-in PKCS#11 token with a pool of sessions. It implements
// hsm.KeyStore and is safe for concurrent use.
type Token struct {
	mod   *module
	p11   *pkcs11.Ctx
	label string
	pin   []byte // only copy of the PIN; wiped by Close
	log   *slog.Logger
	sem   chan struct{} // one permit per pooled session
	done  chan struct{} // closed by Close, so no caller waits on sem forever

	// recoverMu lets one goroutine at a time re-open and log in again.
	recoverMu sync.Mutex
	// generating holds the labels being generated now, so two callers in
	// this process cannot both take one label.
	genMu      sync.Mutex
	generating map[string]bool

	mu         sync.Mutex // guards the fields below
	slot       uint
	gen        uint64 // completed re-logins; sessions and object handles carry it
	idle       []session
	login      pkcs11.SessionHandle // kept open: it holds the login state
	hasLogin   bool
	unhealthy  error // nil when healthy
	nextTry    time.Time
	retryEvery time.Duration
	closed     bool
}

var _ hsm.KeyStore = (*Token)(nil)

// Open loads the module, finds the token by label and logs in.
func Open(ctx context.Context, cfg Config) (*Token, error) {
	if cfg.TokenLabel == "" {
		return nil, fmt.Errorf("%w: no token label given", hsm.ErrTokenNotFound)
	}
	if len(cfg.PIN) == 0 {
		return nil, fmt.Errorf("%w: empty user PIN for token %q", hsm.ErrPINIncorrect, cfg.TokenLabel)
	}
	n := cfg.Sessions
	if n == 0 {
		n = DefaultSessions
	}
	if n < 1 || n > 1024 {
		return nil, fmt.Errorf("pkcs11: %d sessions is outside 1..1024", n)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mod, err := openModule(cfg.Module)
	if err != nil {
		return nil, err
	}
	t := &Token{
		mod:        mod,
		p11:        mod.ctx,
		label:      cfg.TokenLabel,
		pin:        append([]byte(nil), cfg.PIN...),
		log:        log.With("module", cfg.Module, "token", cfg.TokenLabel),
		sem:        make(chan struct{}, n),
		done:       make(chan struct{}),
		retryEvery: retryEvery,
		generating: map[string]bool{},
	}
	slot, login, err := t.establish(ctx)
	if err != nil {
		t.wipe()
		mod.release()
		return nil, err
	}
	t.slot, t.login, t.hasLogin = slot, login, true
	return t, nil
}

// establish finds the token, opens the session that holds the login and
// logs in. It touches no pool state, so recovery can call it unlocked.
func (t *Token) establish(ctx context.Context) (uint, pkcs11.SessionHandle, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	slot, info, err := findToken(t.p11, t.mod.path, t.label)
	if err != nil {
		return 0, 0, err
	}
	if err := pinFlagsError(t.label, info.Flags); err != nil {
		return 0, 0, err
	}
	sh, err := t.p11.OpenSession(slot, sessionFlags)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: open session on token %q: %w", hsm.ErrUnavailable, t.label, err)
	}
	err = t.p11.Login(sh, pkcs11.CKU_USER, string(t.pin))
	// Login state belongs to the application, not the session: another
	// Token in this process may already have logged in to this token.
	if err != nil && !isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		_ = t.p11.CloseSession(sh)
		return 0, 0, loginError(t.label, err)
	}
	return slot, sh, nil
}

// findToken returns the slot holding the initialised token labelled label.
func findToken(p11 *pkcs11.Ctx, module, label string) (uint, pkcs11.TokenInfo, error) {
	slots, err := p11.GetSlotList(true)
	if isCKR(err, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED) {
		// Something else in the process finalised the library; take it up again.
		if err = p11.Initialize(); err == nil || isCKR(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			slots, err = p11.GetSlotList(true)
		}
	}
	if err != nil {
		return 0, pkcs11.TokenInfo{}, fmt.Errorf("%w: list slots of %s: %w", hsm.ErrUnavailable, module, err)
	}
	var labels []string
	var found []uint
	var foundInfo pkcs11.TokenInfo
	for _, s := range slots {
		ti, err := p11.GetTokenInfo(s)
		if err != nil || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		labels = append(labels, fmt.Sprintf("%q", ti.Label))
		if ti.Label == label {
			found = append(found, s)
			foundInfo = ti
		}
	}
	switch len(found) {
	case 1:
		return found[0], foundInfo, nil
	case 0:
		have := "none"
		if len(labels) > 0 {
			have = strings.Join(labels, ", ")
		}
		return 0, pkcs11.TokenInfo{}, fmt.Errorf("%w: no token labelled %q in %s (tokens present: %s)", hsm.ErrTokenNotFound, label, module, have)
	default:
		return 0, pkcs11.TokenInfo{}, fmt.Errorf("%w: %d tokens labelled %q in %s (slots %v); token labels must be unique", hsm.ErrTokenNotFound, len(found), label, module, found)
	}
}

// Close closes this Token's sessions and lets go of the module. It does not
// log out: login state is shared with any other Token on the same token in
// this process, and ends by itself when the last session closes.
func (t *Token) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.done)
	t.mu.Unlock()

	// Wait for operations in flight to hand their sessions back (they see
	// closed and give up rather than recover), then for a recovery started
	// by Health, which holds no permit.
	for range cap(t.sem) {
		t.sem <- struct{}{}
	}
	t.recoverMu.Lock()
	defer t.recoverMu.Unlock()
	t.mu.Lock()
	idle, login, hasLogin := t.idle, t.login, t.hasLogin
	t.idle, t.hasLogin = nil, false
	t.mu.Unlock()
	for _, s := range idle {
		_ = t.p11.CloseSession(s.h)
	}
	if hasLogin {
		_ = t.p11.CloseSession(login)
	}
	t.wipe()
	t.mod.release()
	return nil
}

func (t *Token) wipe() {
	clear(t.pin)
	t.pin = nil
}

// Label is the token's label.
func (t *Token) Label() string { return t.label }

// Health checks, cheaply and for real, that the session holding the login is
// alive and logged in. If not, it tries to log in again (at most every few
// seconds) and returns an error wrapping hsm.ErrUnavailable until that works.
func (t *Token) Health(ctx context.Context) error {
	// Holding recoverMu keeps a recovery from closing the login session
	// while we ask about it; one in progress means we are not healthy yet.
	if !t.recoverMu.TryLock() {
		return errRecovering(t.label)
	}
	defer t.recoverMu.Unlock()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return fmt.Errorf("%w: token %q is closed", hsm.ErrUnavailable, t.label)
	}
	gen, login, hasLogin, bad := t.gen, t.login, t.hasLogin, t.unhealthy
	t.mu.Unlock()
	if bad != nil || !hasLogin {
		return t.recoverLocked(ctx, gen, bad)
	}
	info, err := t.p11.GetSessionInfo(login)
	if err == nil {
		if info.State == pkcs11.CKS_RO_USER_FUNCTIONS || info.State == pkcs11.CKS_RW_USER_FUNCTIONS {
			return nil
		}
		err = fmt.Errorf("session state %d is not logged in: %w", info.State, pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN))
	}
	return t.recoverLocked(ctx, gen, err)
}
