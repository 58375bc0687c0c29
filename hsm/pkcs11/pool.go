package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/muhr-pki/muhr/hsm"
)

// session is a pooled PKCS#11 session and the generation (count of
// completed re-logins) it was last known good in.
type session struct {
	h     pkcs11.SessionHandle
	gen   uint64
	epoch uint64 // module epoch it was opened in
}

// sessionGone reports errors after which the token has already discarded the
// session. Such a handle is dropped, never closed: a token may hand the same
// number to a session opened since, and closing it would close that one.
func sessionGone(err error) bool {
	if errors.Is(err, errReinitialised) {
		return true
	}
	return isCKR(err,
		pkcs11.CKR_SESSION_HANDLE_INVALID,
		pkcs11.CKR_SESSION_CLOSED,
		pkcs11.CKR_DEVICE_REMOVED,
		pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_TOKEN_NOT_RECOGNIZED,
		pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED,
	)
}

// maxAttempts bounds do: one run, and a retry after a re-login; a third for
// a session that had gone stale before another goroutine's re-login.
const maxAttempts = 3

// do runs fn on a pooled session. After an error that means the sessions or
// the login are gone, it re-opens and logs in again and runs fn once more.
// A key that cannot be found makes do check that the token is still
// there: a vanished token (SoftHSM2 without its directory) shows no keys
// rather than an error, and must be recovered, not reported as keyless.
func (t *Token) do(ctx context.Context, fn func(sh pkcs11.SessionHandle, gen uint64) error) error {
	for attempt := 1; ; attempt++ {
		s, err := t.get(ctx)
		if err != nil {
			return err // already says what is wrong; get recovered if it could
		}
		err = t.run(s, fn)
		t.put(s, err)
		if errors.Is(err, hsm.ErrKeyNotFound) && attempt < maxAttempts {
			if perr := t.stillPresent(ctx); perr != nil {
				err = perr
			}
		}
		if err == nil || !sessionLost(err) {
			return err
		}
		var nr noRetry
		if errors.As(err, &nr) || attempt == maxAttempts {
			// Heal the pool for the next caller, but report this failure.
			_ = t.recover(ctx, s.gen, err)
			return fmt.Errorf("%w: token %q: %w", hsm.ErrUnavailable, t.label, err)
		}
		if rerr := t.recover(ctx, s.gen, err); rerr != nil {
			return rerr
		}
	}
}

// run calls fn with the module's shared lock held, so that no
// re-initialisation closes the session under it.
func (t *Token) run(s session, fn func(sh pkcs11.SessionHandle, gen uint64) error) error {
	t.mod.opMu.RLock()
	defer t.mod.opMu.RUnlock()
	if s.epoch != t.mod.epoch.Load() {
		return errReinitialised
	}
	return fn(s.h, s.gen)
}

// stillPresent checks the token itself after a key was not found.
func (t *Token) stillPresent(ctx context.Context) error {
	t.mu.Lock()
	slot, epoch := t.slot, t.epoch
	t.mu.Unlock()
	return t.present(ctx, slot, epoch, nil)
}

// get takes a session from the pool, opening one if none is idle. It waits
// for a free permit (or ctx) when all sessions are busy.
func (t *Token) get(ctx context.Context) (session, error) {
	if err := ctx.Err(); err != nil {
		return session{}, err // select below would pick at random
	}
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return session{}, ctx.Err()
	case <-t.done:
		return session{}, fmt.Errorf("%w: token %q is closed", hsm.ErrUnavailable, t.label)
	}
	s, err := t.take(ctx)
	if err != nil {
		<-t.sem
	}
	return s, err
}

func (t *Token) take(ctx context.Context) (session, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return session{}, fmt.Errorf("%w: token %q is closed", hsm.ErrUnavailable, t.label)
	}
	bad := t.unhealthy
	if bad == nil && t.epoch != t.mod.epoch.Load() {
		bad = errReinitialised // another Token re-initialised the library
	}
	if bad != nil {
		gen := t.gen
		t.mu.Unlock()
		if err := t.recover(ctx, gen, bad); err != nil {
			return session{}, err
		}
		t.mu.Lock()
	}
	if n := len(t.idle); n > 0 {
		s := t.idle[n-1]
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		return s, nil
	}
	slot, gen, epoch := t.slot, t.gen, t.epoch
	t.mu.Unlock()
	for attempt := 0; ; attempt++ {
		h, err := t.openSession(ctx, slot, epoch)
		if err == nil {
			return session{h: h, gen: gen, epoch: epoch}, nil
		}
		if !sessionLost(err) || attempt > 0 {
			return session{}, fmt.Errorf("%w: open session on token %q: %w", hsm.ErrUnavailable, t.label, err)
		}
		// The slot may have changed (token re-inserted): recover re-finds it.
		if rerr := t.recover(ctx, gen, err); rerr != nil {
			return session{}, rerr
		}
		t.mu.Lock()
		slot, gen, epoch = t.slot, t.gen, t.epoch
		t.mu.Unlock()
	}
}

// openSession opens a session in slot if the library is still in epoch.
// SoftHSM2 reads token.object when a session opens: under the guard's lock.
func (t *Token) openSession(ctx context.Context, slot uint, epoch uint64) (pkcs11.SessionHandle, error) {
	lock, err := t.guard.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer lock.Unlock()
	t.mod.opMu.RLock()
	defer t.mod.opMu.RUnlock()
	if t.mod.epoch.Load() != epoch {
		return 0, errReinitialised
	}
	return t.p11.OpenSession(slot, sessionFlags)
}

// put hands a session back after an operation that ended with err.
func (t *Token) put(s session, err error) {
	defer func() { <-t.sem }()
	switch {
	case sessionGone(err):
		return // the token dropped it already; see sessionGone
	case isCKR(err, pkcs11.CKR_DEVICE_ERROR):
		t.closeSessions([]session{s})
		return
	}
	t.mu.Lock()
	if t.closed || s.epoch != t.epoch {
		t.mu.Unlock()
		t.closeSessions([]session{s})
		return
	}
	// The session is alive; if it fails later, that is news since the
	// current generation and must trigger a re-login.
	s.gen = t.gen
	t.idle = append(t.idle, s)
	t.mu.Unlock()
}

// recover re-opens the login session and logs in again after cause, unless
// another goroutine already did so since generation seen. Until it works,
// Health and every operation return an error wrapping hsm.ErrUnavailable.
func (t *Token) recover(ctx context.Context, seen uint64, cause error) error {
	if err := t.lockRecovery(ctx); err != nil {
		return err
	}
	defer func() { <-t.recoverMu }()
	return t.recoverLocked(ctx, seen, cause)
}

// lockRecovery takes recoverMu, or gives up when ctx ends.
func (t *Token) lockRecovery(ctx context.Context) error {
	select {
	case t.recoverMu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: token %q: waiting for a re-login: %w", hsm.ErrUnavailable, t.label, ctx.Err())
	}
}

// recoverLocked is recover with recoverMu held. The generation counts
// completed re-logins, so a caller that saw a failure before the last one
// completed just tries again. If logging in again fails for any reason but
// the PIN, the library is re-initialised once and the login tried again:
// that is what makes SoftHSM2 see a token directory put back.
func (t *Token) recoverLocked(ctx context.Context, seen uint64, cause error) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return fmt.Errorf("%w: token %q is closed", hsm.ErrUnavailable, t.label)
	}
	if t.gen != seen {
		err := t.unhealthy
		t.mu.Unlock()
		return err // nil: recovered by someone else since the caller looked
	}
	if t.unhealthy != nil && time.Now().Before(t.nextTry) {
		err := t.unhealthy
		t.mu.Unlock()
		return err
	}
	if cause == nil {
		cause = errors.New("no login session")
	}
	if t.unhealthy == nil {
		t.unhealthy = fmt.Errorf("%w: token %q: %w", hsm.ErrUnavailable, t.label, cause)
		t.log.Warn("PKCS#11 sessions or login lost; re-opening and logging in again", "cause", cause)
	}
	// Retire what we hold. Sessions the token says are gone are dropped, the
	// others closed (they hold nothing we need once we log in afresh).
	gone := sessionGone(cause)
	retired := t.idle
	if t.hasLogin {
		retired = append(retired, session{h: t.login, epoch: t.epoch})
	}
	t.idle, t.hasLogin = nil, false
	t.mu.Unlock()
	if !gone {
		t.closeSessions(retired)
	}

	l, err := t.relogin(ctx)

	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up; that says nothing about the token, so the
			// next caller may try at once.
			return fmt.Errorf("%w: token %q: re-login abandoned: %w", hsm.ErrUnavailable, t.label, err)
		}
		if !errors.Is(err, hsm.ErrUnavailable) {
			err = fmt.Errorf("%w: %w", hsm.ErrUnavailable, err)
		}
		t.unhealthy = err
		t.nextTry = time.Now().Add(t.retryEvery)
		t.log.Error("PKCS#11 re-login failed; token unavailable", "err", err, "retry_after", t.retryEvery)
		return err
	}
	if t.closed { // Close ran while we were logging in
		t.mu.Unlock()
		t.closeSessions([]session{{h: l.session, epoch: l.epoch}})
		t.mu.Lock()
		return fmt.Errorf("%w: token %q is closed", hsm.ErrUnavailable, t.label)
	}
	t.slot, t.epoch, t.login, t.hasLogin = l.slot, l.epoch, l.session, true
	t.unhealthy = nil
	t.gen++
	t.log.Info("PKCS#11 token available again after re-login")
	return nil
}

// relogin logs in again under the guard's lock, re-initialising the
// library if the first attempt fails for a reason other than the PIN.
func (t *Token) relogin(ctx context.Context) (established, error) {
	lock, err := t.guard.lock(ctx)
	if err != nil {
		return established{}, err
	}
	defer lock.Unlock()
	t.guard.beforeLogin(t.label)
	l, err := t.establishLocked(ctx)
	if !worthReinit(ctx, t.mod, err) {
		return l, err
	}
	t.log.Warn("re-initialising the PKCS#11 library to find the token again", "err", err)
	if rerr := t.mod.reinit(); rerr != nil {
		return established{}, fmt.Errorf("%w (and re-initialising failed: %w)", err, rerr)
	}
	return t.establishLocked(ctx)
}

// worthReinit reports whether a failed login might succeed after the
// library is re-initialised: not for a PIN problem, nor when the caller
// has given up, nor for a library someone else initialised.
func worthReinit(ctx context.Context, m *module, err error) bool {
	return err != nil && !errors.Is(err, hsm.ErrPINIncorrect) && ctx.Err() == nil && m.owned
}
