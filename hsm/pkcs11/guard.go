package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/muhr-pki/muhr/hsm"
	"github.com/muhr-pki/muhr/hsm/softhsm"
)

// lockWait bounds the wait for another process's hold on the token
// directory when the caller's context has no deadline. Holders keep it for
// one login (milliseconds); only a hung process holds it longer.
const lockWait = 30 * time.Second

// guard protects a SoftHSM2 token directory from SoftHSM's in-place
// rewrite of token.object (see package softhsm): every PKCS#11 call that
// may read or write token.object runs under a cross-process lock, and
// before each login a verified copy of token.object is kept, from which a
// copy emptied by a crash is restored. A nil guard (another PKCS#11
// library) does nothing.
type guard struct {
	layout softhsm.Layout
	log    *slog.Logger
}

// newGuard returns the guard for module in this process, or nil when the
// module is not SoftHSM2. SoftHSM2 reads SOFTHSM2_CONF at C_Initialize, so
// the environment at this point is what it will use.
func newGuard(module string, log *slog.Logger) *guard {
	l, err := softhsm.Detect(module, os.Getenv("SOFTHSM2_CONF"))
	if err != nil {
		if !errors.Is(err, softhsm.ErrNotSoftHSM) {
			log.Warn("SoftHSM2 configuration unreadable; token files are not guarded", "err", err)
		}
		return nil
	}
	return &guard{layout: l, log: log}
}

// lock takes the cross-process token lock.
func (g *guard) lock(ctx context.Context) (*softhsm.Lock, error) {
	if g == nil {
		return nil, nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lockWait)
		defer cancel()
	}
	l, err := softhsm.Acquire(ctx, g.layout.TokenDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", hsm.ErrUnavailable, err)
	}
	return l, nil
}

// beforeLogin runs under the lock, before SoftHSM reads the token files
// (C_Initialize) or rewrites token.object (C_Login): it restores every
// token.object a crash left damaged from Muhr's copy and refreshes the copy
// of label's token. Failing to keep a copy is logged, not fatal: the token
// is still usable, only less protected.
func (g *guard) beforeLogin(label string) {
	if g == nil || !g.layout.Files {
		return
	}
	healed, err := softhsm.Heal(g.layout.TokenDir)
	for _, h := range healed {
		g.log.Warn("restored SoftHSM2 token.object from Muhr's verified copy: a process was killed while SoftHSM rewrote it",
			"token_dir", h.Dir, "restored_token", h.Label, "problem", h.Problem.Error())
	}
	if err != nil {
		g.log.Error("SoftHSM2 token.object could not be restored", "err", err)
	}
	entries, err := softhsm.Scan(g.layout.TokenDir)
	if err != nil {
		return // reported by the caller, which will not find the token
	}
	if e, ok := softhsm.Find(entries, label); ok && e.Problem == nil {
		if err := softhsm.Preserve(e.Dir); err != nil {
			g.log.Warn("could not keep a copy of SoftHSM2 token.object", "err", err)
		}
	}
}

// explain replaces "token not found" with the damage that causes it, if the
// token's files show any. Called under the lock.
func (g *guard) explain(label string, notFound error) error {
	if g == nil || !g.layout.Files {
		return notFound
	}
	d := softhsm.Diagnose(g.layout.TokenDir, label)
	if d == nil {
		return notFound
	}
	return fmt.Errorf("%w: %w; restore the token from its backup: muhr hsm restore --config muhrd.yaml --from <backup directory>", hsm.ErrTokenNotFound, d)
}
