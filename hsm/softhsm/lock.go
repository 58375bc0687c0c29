package softhsm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// LockName is the lock file Muhr keeps in the token directory. SoftHSM2
// treats only subdirectories of directories.tokendir as tokens, so a plain
// file there is invisible to it.
const LockName = ".muhr-token.lock"

// Lock is an exclusive flock(2) on the token directory's lock file, held
// by this process until Unlock. flock locks belong to the open file, so
// two goroutines of one process exclude each other too, and the kernel
// drops the lock when the holder dies (kill -9 included).
type Lock struct{ f *os.File }

// Unlock releases the lock. It is safe on a nil or no-op Lock.
func (l *Lock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
}

// ErrLockTimeout is returned when ctx ends before the lock is free.
var ErrLockTimeout = errors.New("softhsm: token directory is locked by another process")

// Acquire takes the lock on tokenDir, waiting while another process holds
// it until ctx ends. A tokenDir that does not exist has nothing to protect:
// Acquire then returns a no-op Lock, so that the caller reaches SoftHSM and
// reports the missing token with its real cause.
func Acquire(ctx context.Context, tokenDir string) (*Lock, error) {
	path := filepath.Join(tokenDir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &Lock{}, nil
		}
		return nil, fmt.Errorf("softhsm: open lock %s: %w", path, err)
	}
	wait := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("softhsm: lock %s: %w", path, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("%w (%s): %w", ErrLockTimeout, path, ctx.Err())
		case <-t.C:
		}
		// Polling, not a blocking flock: a blocked flock cannot honour ctx.
		// Holders keep it for milliseconds (one login), so back off gently.
		wait = min(wait*2, 20*time.Millisecond)
	}
}
