package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
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
	guard *guard        // SoftHSM2 token files; nil for other libraries
	sem   chan struct{} // one permit per pooled session
	done  chan struct{} // closed by Close, so no caller waits on sem forever

	// recoverMu lets one goroutine at a time re-open and log in again; a
	// channel, so that waiting for it honours the caller's context.
	recoverMu chan struct{}
	// generating holds the labels being generated now, so two callers in
	// this process cannot both take one label.
	genMu      sync.Mutex
	generating map[string]bool
	// keygen makes this process's key generations one at a time: SoftHSM2
	// 2.6.1 intermittently answers CKR_TEMPLATE_INCONSISTENT to concurrent
	// C_GenerateKeyPair calls for token objects (seen with 5 at once), and
	// generating keys is rare enough that queuing costs nothing.
	keygen sync.Mutex

	health  check // Health's coalesced, briefly cached result
	probeMu sync.Mutex
	probes  map[string]*probe // ProbeKey's state per key label
	// probeSigns counts probe signatures (for tests of the rate limit).
	probeSigns atomic.Int64

	mu         sync.Mutex // guards the fields below
	slot       uint
	epoch      uint64 // module epoch slot and login belong to
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

// Open loads the module, finds the token by label and logs in. For
// SoftHSM2 it first repairs a token.object a crash left empty (see the
// guard) and holds the token directory's lock while SoftHSM reads it.
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
	log = log.With("module", cfg.Module, "token", cfg.TokenLabel)
	g := newGuard(cfg.Module, log)
	// C_Initialize reads every token.object: it runs under the lock too.
	lock, err := g.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	g.beforeLogin(cfg.TokenLabel)
	mod, fresh, err := openModuleFresh(cfg.Module)
	if err != nil {
		return nil, err
	}
	t := &Token{
		mod:        mod,
		p11:        mod.ctx,
		label:      cfg.TokenLabel,
		pin:        append([]byte(nil), cfg.PIN...),
		log:        log,
		guard:      g,
		sem:        make(chan struct{}, n),
		done:       make(chan struct{}),
		retryEvery: retryEvery,
		recoverMu:  make(chan struct{}, 1),
		generating: map[string]bool{},
		probes:     map[string]*probe{},
	}
	l, err := t.establishLocked(ctx)
	if !fresh && worthReinit(ctx, mod, err) {
		// The library was initialised earlier in this process and may not
		// see a token directory restored since (SoftHSM2 scans it only in
		// C_Initialize): look again with a fresh scan.
		t.log.Warn("re-initialising the PKCS#11 library to find the token", "err", err)
		if rerr := mod.reinit(); rerr == nil {
			l, err = t.establishLocked(ctx)
		}
	}
	if err != nil {
		t.wipe()
		mod.release()
		return nil, err
	}
	t.slot, t.epoch, t.login, t.hasLogin = l.slot, l.epoch, l.session, true
	return t, nil
}

// established is the outcome of a login.
type established struct {
	slot    uint
	epoch   uint64
	session pkcs11.SessionHandle
}

// establishLocked finds the token, opens the session that holds the login
// and logs in. The caller holds the guard's lock; establishLocked takes the
// module's shared lock. It touches no pool state, so recovery can call it.
func (t *Token) establishLocked(ctx context.Context) (established, error) {
	if err := ctx.Err(); err != nil {
		return established{}, err
	}
	t.mod.opMu.RLock()
	defer t.mod.opMu.RUnlock()
	epoch := t.mod.epoch.Load()
	slot, info, err := findToken(t.p11, t.mod.path, t.label)
	if errors.Is(err, hsm.ErrTokenNotFound) {
		err = t.guard.explain(t.label, err)
	}
	if err != nil {
		return established{}, err
	}
	if err := pinFlagsError(t.label, info.Flags); err != nil {
		return established{}, err
	}
	sh, err := t.p11.OpenSession(slot, sessionFlags)
	if err != nil {
		return established{}, fmt.Errorf("%w: open session on token %q: %w", hsm.ErrUnavailable, t.label, err)
	}
	err = t.p11.Login(sh, pkcs11.CKU_USER, string(t.pin))
	// Login state belongs to the application, not the session: another
	// Token in this process may already have logged in to this token.
	if err != nil && !isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		_ = t.p11.CloseSession(sh)
		return established{}, loginError(t.label, err)
	}
	return established{slot: slot, epoch: epoch, session: sh}, nil
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
	t.recoverMu <- struct{}{}
	defer func() { <-t.recoverMu }()
	t.mu.Lock()
	idle, login, hasLogin, epoch := t.idle, t.login, t.hasLogin, t.epoch
	t.idle, t.hasLogin = nil, false
	t.mu.Unlock()
	if hasLogin {
		idle = append(idle, session{h: login, epoch: epoch})
	}
	t.closeSessions(idle)
	t.wipe()
	t.mod.release()
	return nil
}

// closeSessions closes sessions of the current module epoch; older ones
// died with the re-initialisation and their numbers may be reused.
func (t *Token) closeSessions(ss []session) {
	t.mod.opMu.RLock()
	defer t.mod.opMu.RUnlock()
	now := t.mod.epoch.Load()
	for _, s := range ss {
		if s.epoch == now {
			_ = t.p11.CloseSession(s.h)
		}
	}
}

func (t *Token) wipe() {
	clear(t.pin)
	t.pin = nil
}

// Label is the token's label.
func (t *Token) Label() string { return t.label }

// healthTTL is how long a Health result is reused: probes from load
// balancers and scrapers, however many, cost the token one check a second.
const healthTTL = time.Second

// checkTimeout bounds one check run on behalf of all waiting callers.
const checkTimeout = 10 * time.Second

// Health reports nil when the token is logged in and present: the session
// holding the login is logged in and the token answers C_GetTokenInfo with
// its label (a SoftHSM2 whose token directory was removed fails here). If
// not, it re-opens and logs in again (at most every few seconds, re-
// initialising the library if the token cannot be found), and returns an
// error wrapping hsm.ErrUnavailable until that works. Concurrent callers
// share one check, and a result is reused for a second, so Health never
// fails because another caller is busy.
func (t *Token) Health(ctx context.Context) error {
	if err := t.closedErr(); err != nil {
		return err // not a cached "ok" from before Close
	}
	return t.health.run(ctx, healthTTL, t.checkHealth)
}

func (t *Token) closedErr() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("%w: token %q is closed", hsm.ErrUnavailable, t.label)
	}
	return nil
}

func (t *Token) checkHealth(ctx context.Context) error {
	// Holding recoverMu keeps a recovery from closing the login session
	// while we ask about it.
	if err := t.lockRecovery(ctx); err != nil {
		return err
	}
	defer func() { <-t.recoverMu }()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return fmt.Errorf("%w: token %q is closed", hsm.ErrUnavailable, t.label)
	}
	gen, login, hasLogin, bad, slot, epoch := t.gen, t.login, t.hasLogin, t.unhealthy, t.slot, t.epoch
	t.mu.Unlock()
	if bad != nil || !hasLogin {
		return t.recoverLocked(ctx, gen, bad)
	}
	err := t.present(ctx, slot, epoch, &login)
	if err == nil {
		return nil
	}
	return t.recoverLocked(ctx, gen, err)
}

// present checks that the token in slot is there and initialised, and if
// login is given that the session holding the login is logged in.
func (t *Token) present(ctx context.Context, slot uint, epoch uint64, login *pkcs11.SessionHandle) error {
	// C_GetTokenInfo makes SoftHSM2 re-read token.object: under the lock.
	lock, err := t.guard.lock(ctx)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	t.mod.opMu.RLock()
	defer t.mod.opMu.RUnlock()
	if t.mod.epoch.Load() != epoch {
		return errReinitialised
	}
	if login != nil {
		info, err := t.p11.GetSessionInfo(*login)
		if err != nil {
			return err
		}
		if info.State != pkcs11.CKS_RO_USER_FUNCTIONS && info.State != pkcs11.CKS_RW_USER_FUNCTIONS {
			return fmt.Errorf("session state %d is not logged in: %w", info.State, pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN))
		}
	}
	ti, err := t.p11.GetTokenInfo(slot)
	if err != nil {
		return fmt.Errorf("C_GetTokenInfo: %w: %w", errTokenGone, err)
	}
	if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 || ti.Label != t.label {
		return fmt.Errorf("slot %d holds %q (flags %#x), not the initialised token: %w", slot, ti.Label, ti.Flags, errTokenGone)
	}
	return nil
}
