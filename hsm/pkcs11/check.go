package pkcs11

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/muhr-pki/muhr/hsm"
)

// check runs one check on behalf of every concurrent caller and reuses its
// result for a short time, so that any number of probes costs the token
// one operation per interval and no caller fails because another is busy.
type check struct {
	mu      sync.Mutex
	at      time.Time // when err was found; zero before the first run
	err     error
	running chan struct{} // closed when the run in progress ends; nil if none
}

// run returns the result of fn, run at most once per ttl. A caller that
// arrives while fn runs waits for that run (or for its own ctx). fn gets a
// context that outlives any one caller, bounded by checkTimeout: one
// impatient caller must not turn every waiter's answer into "cancelled".
func (c *check) run(ctx context.Context, ttl time.Duration, fn func(context.Context) error) error {
	for {
		c.mu.Lock()
		if !c.at.IsZero() && time.Since(c.at) < ttl {
			err := c.err
			c.mu.Unlock()
			return err
		}
		if c.running == nil {
			done := make(chan struct{})
			c.running = done
			c.mu.Unlock()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkTimeout)
			err := fn(rctx)
			cancel()
			c.mu.Lock()
			c.err, c.at, c.running = err, time.Now(), nil
			c.mu.Unlock()
			close(done)
			return err
		}
		wait := c.running
		c.mu.Unlock()
		select {
		case <-wait:
			// Loop: the fresh result is in the cache (unless ttl is tiny).
			c.mu.Lock()
			err, at := c.err, c.at
			c.mu.Unlock()
			if !at.IsZero() {
				return err
			}
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for the token check: %w", hsm.ErrUnavailable, ctx.Err())
		}
	}
}
